/** What `paved check` sends its child process, and what the child answers. */
import type { EvaluateResource, Violation } from "../../policy-pack/evaluate";

/**
 * A large spec is checked in two processes (two cores), each running part of its entries
 * under mocks: the `rest` part answers what it registered and evaluates nothing; the
 * `first` part then receives those resources on stdin (a `PartResources` line) and
 * evaluates every resource, as one process would. See `runSpec` in run.ts.
 */
export type SpecPart = "first" | "rest";

export type CheckRequest =
  | { mode: "spec"; spec: unknown; fileName: string; part?: SpecPart }
  /** `sourceMaps`: positions in the program's TypeScript, at a cost (a failed run is repeated with them). */
  | { mode: "program"; dir: string; stack: string; config: Record<string, string>; sourceMaps?: boolean };

/** Where a program failed: the position in its own files, and the component it was constructing. */
export interface FailurePosition {
  file: string;
  line: number;
  column: number;
  /** The component class (`PostgresDatabase`) whose constructor threw, and the resource name when written as a literal. */
  component?: string;
  name?: string;
}

export interface CheckedResource {
  type: string;
  name: string;
  urn: string;
  parent?: string;
  custom: boolean;
}

/** A resource the `rest` part registered, with what the policies read. */
export type PartResource = CheckedResource & Required<Pick<EvaluateResource, "props" | "protect" | "dependencies">>;

/** The second line the `first` part reads: the other part's resources, or null when it failed. */
export interface PartResources {
  resources: PartResource[] | null;
}

export type CheckAnswer =
  | {
      ok: true;
      project: string;
      stack: string;
      resources: CheckedResource[];
      violations: Violation[];
      /** The `rest` part's registrations, for the `first` part to evaluate. */
      registered?: PartResource[];
    }
  | { ok: false; error: string; at?: FailurePosition };
