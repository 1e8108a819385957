/**
 * How the MCP tools reach Paved: through its HTTP API, with the agent's bearer token. The
 * MCP server is a client of the API, never of the core: the service's routes, its auth and
 * its one gate decide everything, whichever way the tools are served (stdio: over the
 * network to `PAVED_URL`; `/mcp` on the service: through the same routes, in process).
 */

/** One API call: its status and parsed JSON body. */
export type ApiCall = (method: "GET" | "POST", path: string, body?: unknown) => Promise<{ status: number; body: unknown }>;

/** An API answer that is an error: the API's own code and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues?: { path: string; message: string }[],
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** The body of a 2xx answer; throws ApiError with the API's code otherwise. */
export async function call<T>(api: ApiCall, method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
  const res = await api(method, path, body);
  if (res.status >= 200 && res.status < 300) return res.body as T;
  const error = (res.body as { error?: { code?: string; message?: string; issues?: { path: string; message: string }[] } } | undefined)?.error;
  throw new ApiError(res.status, error?.code ?? `http_${res.status}`, error?.message ?? `the service answered ${res.status}`, error?.issues);
}

/** The API at `baseUrl` over HTTP, as `token`. */
export function fetchApi(baseUrl: string, token: string): ApiCall {
  const base = baseUrl.replace(/\/+$/, "");
  return async (method, path, body) => {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new ApiError(
        0,
        "service_unreachable",
        `the Paved service at ${base} cannot be reached: ${(err as Error).cause ? String((err as Error & { cause: unknown }).cause) : (err as Error).message}`,
      );
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: kept as text
    }
    return { status: res.status, body: parsed };
  };
}
