/**
 * Error answers: at most a short prefix of the offending input quoted back, the value a
 * bad query parameter had, the `{ error: { code, message } }` shape for every status
 * (431 from the HTTP parser included), an empty JSON body accepted where none is needed,
 * and approval expiry applied when a request is read.
 */
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresUnavailable } from "../postgres";
import { Harness, pg, startHarness, STORES, TOKENS } from "./harness";

describe("error answers", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  }, 60_000);
  afterAll(async () => {
    await h.close();
  });

  it("quote at most a short prefix of a long input", async () => {
    const long = await h.call("alice", "GET", `/audit?requestId=${"x".repeat(5000)}`);
    expect(long.status).toBe(400);
    expect(long.body.error.issues).toEqual([{ path: "query.requestId", message: `"${"x".repeat(60)}…" (5000 characters) is not a request or runbook run id` }]);
    const id = await h.call("alice", "GET", `/requests/${"x".repeat(90)}`);
    expect(id.body.error.issues).toEqual([{ path: "params.id", message: `"${"x".repeat(60)}…" (90 characters) is not a request id` }]);
    const tooLong = await h.call("alice", "GET", `/requests/${"x".repeat(5000)}`);
    expect(tooLong.status).toBe(414);
    expect(tooLong.body).toEqual({
      error: { code: "uri_too_long", message: `a part of the path "/requests/${"x".repeat(50)}…" (5010 characters) is longer than 100 characters` },
    });
    const missing = await h.call("alice", "GET", `/${"y".repeat(5000)}`);
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ error: { code: "not_found", message: `no route GET "/${"y".repeat(59)}…" (5001 characters)` } });
  });

  it("say what a bad limit was", async () => {
    const res = await h.call("alice", "GET", "/requests?limit=abc");
    expect(res.status).toBe(400);
    expect(res.body.error.issues).toEqual([{ path: "query.limit", message: '"abc" is not a whole number from 1 to 200' }]);
    const big = await h.call("alice", "GET", "/requests?limit=500");
    expect(big.body.error.issues).toEqual([{ path: "query.limit", message: "500 is more than the maximum 200" }]);
    expect((await h.call("alice", "GET", "/requests?limit=2")).status).toBe(200);
  });

  it("431 from the HTTP parser uses the error shape", async () => {
    const address = await h.service.app.listen({ port: 0, host: "127.0.0.1" });
    const { port } = new URL(address);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), "127.0.0.1", () => {
        socket.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`);
      });
      let text = "";
      socket.on("data", (d) => (text += d.toString()));
      socket.on("close", () => resolve(text));
      socket.on("error", reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(answer).toContain("content-type: application/json; charset=utf-8".replace(/^./, "C").replace("type", "Type"));
    expect(JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4))).toEqual({
      error: { code: "headers_too_large", message: "the request's headers are larger than the server accepts (16 KiB)" },
    });
  });

  it("POST /cancel with a JSON content type and no body is accepted; a broken body is still invalid_json", async () => {
    const created = await h.call("alice", "POST", "/requests", pg("to-cancel", "prod"));
    expect(created.status).toBe(202);
    const res = await h.service.app.inject({
      method: "POST",
      url: `/requests/${created.body.id}/cancel`,
      headers: { authorization: `Bearer ${TOKENS.alice}`, "content-type": "application/json" },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().status).toBe("cancelled");
    const broken = await h.service.app.inject({
      method: "POST",
      url: "/requests",
      headers: { authorization: `Bearer ${TOKENS.alice}`, "content-type": "application/json" },
      payload: "{not json",
    });
    expect(broken.statusCode).toBe(400);
    expect(broken.json().error.code).toBe("invalid_json");
    const empty = await h.service.app.inject({
      method: "POST",
      url: "/requests",
      headers: { authorization: `Bearer ${TOKENS.alice}`, "content-type": "application/json" },
    });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error.code).toBe("invalid_request");
  });
});

for (const store of STORES) {
  const skip = store === "postgres" ? postgresUnavailable() : undefined;
  describe.skipIf(skip !== undefined)(`approval expiry on ${store}`, () => {
    let h: Harness;
    beforeAll(async () => {
      h = await startHarness(undefined, store);
    }, 60_000);
    afterAll(async () => {
      await h.close();
    });

    it("is applied when the request is read or listed, not only by the sweeper", async () => {
      const created = await h.call("alice", "POST", "/requests", pg(`exp-${store}`, "prod"));
      await h.drain();
      expect((await h.call("alice", "GET", `/requests/${created.body.id}`)).body.status).toBe("awaiting_approval");
      h.clock.advance(24 * 3600_000 + 1000);
      const listed = await h.call("alice", "GET", "/requests?status=awaiting_approval");
      expect(listed.body.requests.find((r: any) => r.id === created.body.id)?.status).toBe("expired");
      const read = await h.call("bob", "GET", `/requests/${created.body.id}`);
      expect(read.body).toMatchObject({ status: "expired", error: "no sufficient approval within the approval expiry" });
    });
  });
}
