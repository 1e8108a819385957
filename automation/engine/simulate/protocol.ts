/** What the simulate engine sends its worker process, and what the worker answers (one JSON line each). */
import type { Violation } from "../../../policy-pack/evaluate";
import type { SimResource } from "./diff";

export interface SimulateRequest {
  id: number;
  /** Load the program's modules and Pulumi's runtime, run nothing (the service warms its worker before it is ready). */
  warm?: true;
  project: string;
  stack: string;
  spec: unknown;
  /** The policy pack's config. */
  policyConfig?: Record<string, unknown>;
  /**
   * URNs the preview creates or replaces: the policies see their ids and computed outputs
   * as unknown, as the engine hands them over during a preview. Default: none.
   */
  unknownUrns?: string[];
}

export type SimulateAnswer =
  { id: number; ok: true; resources: SimResource[]; outputs: Record<string, unknown>; violations: Violation[] } | { id: number; ok: false; error: string };
