/**
 * The one error model. A domain error says what kind of failure it is and carries a stable
 * `code` and a message; it knows nothing of HTTP or exit codes. Only the doors map kinds:
 * the service to HTTP statuses (`service/errors.ts`), the CLI to exit codes
 * (`commands/exitCodes.ts`).
 */
export const ERROR_KINDS = ["invalid", "unauthenticated", "forbidden", "not_found", "conflict", "unprocessable", "too_many", "unavailable"] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

/** An error the caller can act on: `{ error: { code, message, issues? } }` at every door. */
export class DomainError extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly code: string,
    message: string,
    readonly issues?: { path: string; message: string }[],
  ) {
    super(message);
    this.name = "DomainError";
  }
}
