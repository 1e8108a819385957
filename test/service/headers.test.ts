/** Security and caching headers on every answer: the API, its errors, /docs, the page and event streams. */
import { describe, expect, it } from "vitest";
import { TOKENS, useHarness } from "./harness";

const h = useHarness();
const auth = { authorization: `Bearer ${TOKENS.alice}` };

describe("headers", () => {
  it("API answers and errors: nosniff, no framing, a CSP that allows nothing, and cache-control: no-store", async () => {
    for (const [url, headers, status] of [
      ["/healthz", {}, 200],
      ["/requests", auth, 200],
      ["/requests", {}, 401],
      ["/nowhere", auth, 404],
      ["/requests/req_x", auth, 400],
    ] as const) {
      const res = await h.service.app.inject({ method: "GET", url, headers });
      expect(res.statusCode, url).toBe(status);
      expect(res.headers["x-content-type-options"], url).toBe("nosniff");
      expect(res.headers["cache-control"], url).toBe("no-store");
      expect(res.headers["content-security-policy"], url).toBe("default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'");
      expect(res.headers["x-frame-options"], url).toBe("SAMEORIGIN");
    }
  });

  it("/docs: its own CSP, never framed, nosniff", async () => {
    const res = await h.service.app.inject({ method: "GET", url: "/docs/" });
    expect(res.statusCode).toBe(200);
    const csp = String(res.headers["content-security-policy"]);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("object-src 'none'");
    expect(csp).toMatch(/script-src 'self'/);
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
    const json = await h.service.app.inject({ method: "GET", url: "/docs/json" });
    expect(json.headers["x-content-type-options"]).toBe("nosniff");
    expect(json.headers["content-security-policy"]).toContain("frame-ancestors 'none'");
  });

  it("the page keeps its own strict CSP, and is not marked no-store", async () => {
    const res = await h.service.app.inject({ method: "GET", url: "/" });
    expect(res.headers["content-security-policy"]).toBe("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'");
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
    expect(res.headers["cache-control"]).toBeUndefined();
  });
});
