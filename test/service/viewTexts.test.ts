/** Request views answered as text: ended requests' texts kept, requests in flight built on every read. */
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { requestSchema } from "../../automation/service/schemas";
import { BUFFER_ABOVE, largeAsBuffer } from "../../automation/service/serializer";
import { viewTextsOf } from "../../automation/service/routes/requests";
import { pageText, ViewTexts, viewText } from "../../automation/service/viewTexts";
import type { RequestRow } from "../../automation/store/store";
import { pg, useHarness } from "./harness";

const h = useHarness();

/** What the list answered before views were kept: the schema's encoding of each view. */
async function encodedView(row: RequestRow) {
  return JSON.parse(JSON.stringify(z.encode(requestSchema, await h.service.workflow.view(row))));
}

async function ended(name: string): Promise<RequestRow> {
  const res = await h.call("alice", "POST", "/requests", { team: "payments", environment: "dev", offering: "queue", name, params: {} });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  await h.drain();
  const row = (await h.service.store.getRequest(res.body.id))!;
  expect(row.status).toBe("succeeded");
  return row;
}

async function waiting(name: string): Promise<RequestRow> {
  const res = await h.call("alice", "POST", "/requests", pg(name, "prod"));
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  await h.drain();
  const row = (await h.service.store.getRequest(res.body.id))!;
  expect(row.status).toBe("awaiting_approval");
  return row;
}

describe("ViewTexts", () => {
  it("keeps an ended request's text and answers it again unchanged, equal to the view the schema encodes", async () => {
    const row = await ended("vt-kept");
    const texts = viewTextsOf(h.service.workflow);
    const [first] = await texts.of([row]);
    expect(texts.counts).toEqual({ kept: 0, built: 1 });
    const [second] = await texts.of([row]);
    expect(texts.counts).toEqual({ kept: 1, built: 1 });
    expect(second).toBe(first);
    expect(JSON.parse(first!.toString())).toEqual(await encodedView(row));
    expect(texts.size).toBe(1);
  });

  it("builds a request in flight on every read, so an approval shows at once", async () => {
    const row = await waiting("vt-waiting");
    const texts = viewTextsOf(h.service.workflow);
    const [before] = await texts.of([row]);
    expect(JSON.parse(before!.toString()).approvals).toEqual([]);
    expect(JSON.parse(before!.toString()).approvalsNeeded).toMatchObject({ approvers: ["erin", "bob", "carol"] });
    const digest = JSON.parse(before!.toString()).preview.digest as string;
    expect((await h.call("bob", "POST", `/requests/${row.id}/approve`, { digest })).status).toBe(200);
    const [after] = await texts.of([(await h.service.store.getRequest(row.id))!]);
    expect(JSON.parse(after!.toString()).approvals.map((a: { by: string }) => a.by)).toEqual(["bob"]);
    expect(texts.counts).toEqual({ kept: 0, built: 2 });
    expect(texts.size).toBe(0);
  });

  it("builds again a row whose status or updated_at differs from the one kept", async () => {
    const row = await ended("vt-changed");
    const texts = viewTextsOf(h.service.workflow);
    await texts.of([row]);
    await texts.of([{ ...row, updated_at: "2099-01-01T00:00:00.000Z" }]);
    await texts.of([{ ...row, status: "failed" }]);
    expect(texts.counts).toEqual({ kept: 0, built: 3 });
  });

  it("keeps at most `max` texts, dropping the least recently read", async () => {
    const [a, b, c] = [await ended("vt-a"), await ended("vt-b"), await ended("vt-c")];
    const texts = new ViewTexts({ rows: (ids) => h.service.store.getRequests(ids), views: (rows) => h.service.workflow.views(rows) }, { max: 2 });
    await texts.of([a, b]);
    await texts.of([a]); // a read again: b is now the least recently read
    await texts.of([c]); // b dropped
    expect(texts.size).toBe(2);
    texts.counts.kept = texts.counts.built = 0;
    await texts.of([a, c]);
    expect(texts.counts).toEqual({ kept: 2, built: 0 });
    await texts.of([b]);
    expect(texts.counts).toEqual({ kept: 2, built: 1 });
  });

  it("keeps the order of the rows, kept and built mixed", async () => {
    const [a, w, b] = [await ended("vt-o1"), await waiting("vt-o2"), await ended("vt-o3")];
    const texts = viewTextsOf(h.service.workflow);
    await texts.of([b]);
    const out = await texts.of([a, w, b]);
    expect(out.map((t) => JSON.parse(t.toString()).id)).toEqual([a.id, w.id, b.id]);
    expect(texts.counts).toEqual({ kept: 1, built: 3 });
  });

  it("refuses a view its schema does not accept, naming the request", () => {
    expect(() => viewText({ id: "req_x", status: "nonsense" } as never)).toThrow(/^the view of req_x does not match its schema: /);
  });
});

describe("GET /requests and GET /requests/:id as text", () => {
  it("answer JSON equal to the encoded views, with the cursor, the JSON type and no-store", async () => {
    await ended("vt-http-1");
    await ended("vt-http-2");
    const res = await h.service.app.inject({ method: "GET", url: "/requests?limit=1", headers: { authorization: "Bearer alice-dev-token" } });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(res.headers["cache-control"]).toBe("no-store");
    const body = res.json();
    expect(Object.keys(body)).toEqual(["requests", "next"]);
    expect(body.requests).toHaveLength(1);
    expect(body.requests[0]).toEqual(await encodedView((await h.service.store.getRequest(body.requests[0].id))!));
    const one = await h.call("alice", "GET", `/requests/${body.requests[0].id}`);
    expect(one.status).toBe(200);
    expect(one.body).toEqual(body.requests[0]);
    expect(one.headers["content-type"]).toBe("application/json; charset=utf-8");
  });

  it("pageText leaves out the cursor on the last page", () => {
    expect(pageText([Buffer.from('{"id":"a"}'), Buffer.from('{"id":"é"}')], undefined).toString()).toBe('{"requests":[{"id":"a"},{"id":"é"}]}');
    expect(pageText([], 'a"b').toString()).toBe('{"requests":[],"next":"a\\"b"}');
  });
});

describe("largeAsBuffer", () => {
  it("turns a string longer than BUFFER_ABOVE into a Buffer of the same bytes, and leaves the rest as they are", () => {
    const large = `"${"é".repeat(BUFFER_ABOVE)}"`;
    const out = largeAsBuffer(large);
    expect(Buffer.isBuffer(out)).toBe(true);
    expect((out as Buffer).toString("utf8")).toBe(large);
    expect(largeAsBuffer("x".repeat(BUFFER_ABOVE))).toBe("x".repeat(BUFFER_ABOVE));
    const buffer = Buffer.from("{}");
    expect(largeAsBuffer(buffer)).toBe(buffer);
    expect(largeAsBuffer(undefined)).toBeUndefined();
  });
});
