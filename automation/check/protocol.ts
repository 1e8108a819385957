/** What `paved check` sends its child process, and what the child answers. */
import type { Violation } from "../../policy-pack/evaluate";

export type CheckRequest =
  | { mode: "spec"; spec: unknown; fileName: string }
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

export type CheckAnswer =
  | {
      ok: true;
      project: string;
      stack: string;
      resources: CheckedResource[];
      violations: Violation[];
    }
  | { ok: false; error: string; at?: FailurePosition };
