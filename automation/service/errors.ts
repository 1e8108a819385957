/** The HTTP status of each kind of domain error: the service's mapping, and the only one. */
import type { ErrorKind } from "../errors";

export const HTTP_STATUS: Readonly<Record<ErrorKind, number>> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unprocessable: 422,
  too_many: 429,
  unavailable: 503,
};
