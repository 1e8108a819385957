/** How the CLI ends on a domain error: 2 for input it cannot use, 1 for everything else it refuses. */
import type { ErrorKind } from "../errors";

export function exitCodeOf(kind: ErrorKind): number {
  return kind === "invalid" || kind === "unprocessable" ? 2 : 1;
}
