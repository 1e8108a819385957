/**
 * How the workflow takes the engine's own guards: an apply refused because it would
 * violate the saved update plan sends the request back for a fresh preview and approval;
 * a stack held by another update is retried later, not failed.
 */
import { describe, expect, it } from "vitest";
import { ConcurrentOperationError, PreviewChangedError } from "../../automation/engine/types";
import { pg, useHarness } from "./harness";

const h = useHarness();

/** Makes the engine's next apply fail with `error` (the engine's own guard firing), once. */
function failNextApply(error: Error): void {
  const engine = h.service.engine;
  const original = engine.apply.bind(engine);
  engine.apply = async () => {
    engine.apply = original;
    throw error;
  };
}

async function approvedProdRequest(name: string) {
  const res = await h.call("alice", "POST", "/requests", pg(name, "prod"));
  await h.drain();
  const waiting = (await h.call("alice", "GET", `/requests/${res.body.id}`)).body;
  expect(waiting.status).toBe("awaiting_approval");
  const ok = await h.call("bob", "POST", `/requests/${waiting.id}/approve`, { digest: waiting.preview.digest });
  expect(ok.body.status).toBe("approved");
  return waiting;
}

describe("the engine's guards", () => {
  it("an apply that violates the update plan goes back for a fresh preview and approval", async () => {
    const waiting = await approvedProdRequest("plan-db");
    failNextApply(new PreviewChangedError(waiting.preview.digest, "an update that violates the saved plan"));
    await h.drain();
    const back = (await h.call("alice", "GET", `/requests/${waiting.id}`)).body;
    expect(back.status).toBe("awaiting_approval");
    const audit = (await h.call("alice", "GET", `/audit?requestId=${waiting.id}`)).body.entries.map((e: any) => e.action);
    expect(audit.slice(-3)).toEqual(["engine.up", "request.preview-changed", "request.awaiting-approval"]);
    // bob's approval stays on record but counts no more: the fresh preview is approved afresh.
    expect(back.approvals.map((a: any) => a.by)).toEqual(["bob"]);
    h.clock.advance(1000);
    const again = await h.call("bob", "POST", `/requests/${waiting.id}/approve`, { digest: back.preview.digest });
    expect(again.status).toBe(200);
    expect(again.body.status).toBe("approved");
    await h.drain();
    expect((await h.call("alice", "GET", `/requests/${waiting.id}`)).body.status).toBe("succeeded");
  });

  it("a stack held by another update is retried later, not failed", async () => {
    const waiting = await approvedProdRequest("busy-db");
    failNextApply(new ConcurrentOperationError("payments-prod-busy-db"));
    await h.drain();
    const retrying = (await h.call("alice", "GET", `/requests/${waiting.id}`)).body;
    expect(retrying.status).toBe("applying");
    const events = await h.service.store.eventsAfter(waiting.id, 0);
    expect(events.map((e) => JSON.parse(e.data).line).filter(Boolean)).toContain("another operation is running on stack payments-prod-busy-db: retrying later");
    const job = (await h.service.store.jobs({ requestId: waiting.id })).find((j) => j.kind === "apply")!;
    expect(job).toMatchObject({ status: "queued", run_after: new Date(h.clock.now().getTime() + 5000).toISOString() });
    // Not before the retry time...
    expect(await h.drain()).toBe(0);
    h.clock.advance(5000);
    await h.drain();
    expect((await h.call("alice", "GET", `/requests/${waiting.id}`)).body.status).toBe("succeeded");
  });
});

describe("a replica that died", () => {
  it("mid-preview: the preview simply runs again on another replica", async () => {
    const res = await h.call("alice", "POST", "/requests", pg("orphan-db"));
    const store = h.service.store;
    const now = () => h.clock.now().toISOString();
    const job = (await store.claimJob("dead-replica", now(), new Date(h.clock.now().getTime() + 1000).toISOString()))!;
    expect(job.request_id).toBe(res.body.id);
    h.clock.advance(2000);
    await h.service.runner.sweep();
    expect((await store.jobs({ requestId: res.body.id })).map((j) => `${j.kind} ${j.status}`)).toEqual(["preview failed", "preview queued"]);
    await h.drain();
    const done = (await h.call("alice", "GET", `/requests/${res.body.id}`)).body;
    expect(done.status).toBe("succeeded");
    const audit = (await h.call("alice", "GET", `/audit?requestId=${res.body.id}`)).body.entries.map((e: any) => e.action);
    expect(audit).toEqual(["request.create", "request.preview-restarted", "request.auto-approved", "engine.up", "request.succeeded"]);
  });
});
