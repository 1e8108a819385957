/** What `paved check` sends its child process, and what the child answers. */
import type { Violation } from "../../policy-pack/evaluate";

export type CheckRequest =
  | { mode: "spec"; spec: unknown; fileName: string }
  | { mode: "program"; dir: string; stack: string; config: Record<string, string> };

export interface CheckedResource {
  type: string;
  name: string;
  urn: string;
  parent?: string;
  custom: boolean;
}

export type CheckAnswer =
  | { ok: true; project: string; stack: string; resources: CheckedResource[]; violations: Violation[] }
  | { ok: false; error: string };
