/**
 * The one interface behind which the service runs Pulumi: `simulate` (the program under
 * mocks, nothing provisioned) and `pulumi` (the Automation API). Both answer with the same
 * step shape and the same digest, so risk, approvals and the audit never depend on which
 * engine ran.
 */
import type { Violation } from "../../policy-pack/evaluate";
import type { EnvironmentSpec } from "../../stacks/spec";
import type { PlannedStep } from "../steps";

export type EngineName = "simulate" | "pulumi";

/** One operation on one stack (`<team>-<environment>-<name>`). */
export interface EngineOperation {
  stack: string;
  /** The program's input: the instance as it should be (for a destroy: as it is). */
  spec: EnvironmentSpec;
  action: "create" | "update" | "destroy";
  /** Receives progress lines as the engine works. */
  onProgress?: (line: string) => void;
  /** Aborts the operation (the engine cancels it cleanly where it can). */
  signal?: AbortSignal;
}

export interface EnginePreview {
  steps: PlannedStep[];
  violations: Violation[];
  /** Steps counted by op (same included). */
  changeSummary: Record<string, number>;
  /** The digest approvals bind to (see `previewDigest`). */
  digest: string;
}

export interface EngineApplyResult {
  /** The instance's outputs; secret values are `"[secret]"`. Empty after a destroy. */
  outputs: Record<string, unknown>;
  changeSummary: Record<string, number>;
}

export interface ApplyOptions {
  /** The digest of the preview that was approved: the engine refuses to apply anything else. */
  digest: string;
  /**
   * Unprotect the stack's resources before a destroy (a destroy approved through the
   * service). Without it a protected resource stops the destroy, as Pulumi does.
   */
  unprotect?: boolean;
}

/** What a stack holds, for diagnosis (the recover-stuck-stack runbook). */
export interface StackInspection {
  /** Resources in the stack's state (the root stack excluded). */
  resources: number;
  /** URNs of operations an interrupted update left pending. */
  pendingOperations: string[];
}

/** Where an engine that keeps its stacks' state in the service's store reads and writes it. */
export interface StackStateStore {
  getStackState(stack: string): Promise<string | undefined>;
  putStackState(stack: string, state: string, at: string): Promise<void>;
}

export interface Engine {
  readonly name: EngineName;
  /** Loads what the first operation would otherwise wait for (the service awaits it before it listens). */
  warm?(): Promise<void>;
  /**
   * The same engine with its stacks' state in `state` (a rehearsal's store, rolled back
   * after), for the start-up rehearsal. Absent when the engine's state is elsewhere (the
   * `pulumi` engine's is its backend): nothing is rehearsed then.
   */
  rehearsal?(state: StackStateStore): Engine;
  preview(op: EngineOperation): Promise<EnginePreview>;
  apply(op: EngineOperation, options: ApplyOptions): Promise<EngineApplyResult>;
  /** The stack's state, read only. */
  inspect(stack: string): Promise<StackInspection>;
  /** Reads the resources back into the state and clears pending operations (`pulumi refresh`). */
  refresh(op: EngineOperation): Promise<{ pendingCleared: number }>;
  /** Cancels an update in progress on the stack, releasing its lock (`pulumi cancel`). */
  cancel(stack: string): Promise<{ cancelled: boolean }>;
  close(): Promise<void>;
}

/** The changes since the approved preview: the request goes back for approval. */
export class PreviewChangedError extends Error {
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`the preview changed since it was approved (approved ${expected.slice(0, 12)}, now ${actual.slice(0, 12)})`);
    this.name = "PreviewChangedError";
  }
}

/** Another update holds the stack: try again later, this is not a failure. */
export class ConcurrentOperationError extends Error {
  constructor(stack: string) {
    super(`another operation is running on stack ${stack}`);
    this.name = "ConcurrentOperationError";
  }
}

/**
 * The reason a job's signal is aborted when the shutdown grace runs out: the job is not
 * failed by the workflow but recorded as interrupted, exactly as if the replica had died.
 */
export class JobInterrupted extends Error {
  constructor() {
    super("interrupted: the service stopped before the job finished");
    this.name = "JobInterrupted";
  }
}
