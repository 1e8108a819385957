/** The error every door maps to its answer: `{ error: { code, message, issues? } }` with `status`. */
export class WorkflowError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues?: { path: string; message: string }[],
  ) {
    super(message);
    this.name = "WorkflowError";
  }
}

