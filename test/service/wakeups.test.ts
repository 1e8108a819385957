/**
 * When the workflow wakes an idle worker: for a job queued from outside any job (a new
 * request, a human's approval), not for the follow-up a running job queues on its own stack
 * (the worker running it claims that next; a woken one only raced it).
 */
import { afterEach, describe, expect, it } from "vitest";
import { Harness, startHarness, testConfig } from "./harness";

describe("waking workers", () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it("wakes one for a new request, none for the apply its preview queues, one for a human's approval", async () => {
    h = await startHarness(testConfig());
    let wakes = 0;
    h.service.workflow.bus.on("job", () => wakes++);

    // Dev: previewed, auto-approved and applied; the apply was queued inside the preview job.
    const dev = await h.call("alice", "POST", "/requests", { team: "payments", environment: "dev", offering: "queue", name: "wake-q", params: {} });
    expect(dev.status, JSON.stringify(dev.body)).toBe(202);
    expect(wakes).toBe(1);
    expect(await h.drain()).toBe(2);
    expect((await h.call("alice", "GET", `/requests/${dev.body.id}`)).body.status).toBe("succeeded");
    expect(wakes).toBe(1);

    // Prod: waits for bob; his approval queues the apply from outside any job.
    const prod = await h.call("alice", "POST", "/requests", { team: "payments", environment: "prod", offering: "queue", name: "wake-q", params: {} });
    expect(wakes).toBe(2);
    await h.drain();
    const waiting = (await h.call("alice", "GET", `/requests/${prod.body.id}`)).body;
    expect(waiting.status).toBe("awaiting_approval");
    expect((await h.call("bob", "POST", `/requests/${prod.body.id}/approve`, { digest: waiting.preview.digest })).status).toBe(200);
    expect(wakes).toBe(3);
    await h.drain();
    expect((await h.call("alice", "GET", `/requests/${prod.body.id}`)).body.status).toBe("succeeded");
  });
});
