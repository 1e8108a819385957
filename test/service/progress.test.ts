/** The engine's output lines: stored in batches or with the status that ends them, in the order given, before that status. */
import { afterEach, describe, expect, it } from "vitest";
import type { EngineOperation } from "../../automation/engine/types";
import { Harness, STORES, startHarness, testConfig } from "./harness";

describe.each(STORES)("progress lines on %s", (store) => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  /** Runs a dev create with the engine's lines captured, and every statement that stores events. */
  async function run(batchMs: number) {
    h = await startHarness(testConfig(), store);
    const service = h.service;
    service.workflow.progressBatchMs = batchMs;
    const given: string[] = [];
    const capture = (op: EngineOperation): EngineOperation => ({
      ...op,
      onProgress: (line) => {
        given.push(line);
        op.onProgress?.(line);
      },
    });
    const { preview, apply } = service.engine;
    service.engine.preview = (op) => preview.call(service.engine, capture(op));
    service.engine.apply = (op, options) => apply.call(service.engine, capture(op), options);
    // Each statement that stores events: the events' kinds, in order.
    const writes: string[][] = [];
    const kindOf = (e: { type: string; data: unknown }) => (e.type === "status" ? (e.data as { status: string }).status : "line");
    const append = service.store.appendEvents.bind(service.store);
    service.store.appendEvents = (requestId, events) => {
      writes.push(events.map(kindOf));
      return append(requestId, events);
    };
    const update = service.store.updateRequest.bind(service.store);
    service.store.updateRequest = async (id, patch, from, outbox, also = {}) => {
      const updated = await update(id, patch, from, outbox, also);
      if (updated && also.event) writes.push([...(also.before ?? []), also.event].map(kindOf));
      return updated;
    };

    const res = await h.call("alice", "POST", "/requests", { team: "payments", environment: "dev", offering: "queue", name: "lines", params: {} });
    expect(res.status).toBe(202);
    await h.drain();
    const events = await service.store.eventsAfter(res.body.id, 0);
    const stored = events.map((e) => JSON.parse(e.data) as { line?: string; status?: string });
    expect(stored.filter((d) => d.line !== undefined).map((d) => d.line)).toEqual(given);
    expect(given.length).toBeGreaterThan(4);
    // Statuses in their order, the preview's lines between "previewing" and "approved", the apply's before "succeeded".
    const kinds = stored.map((d) => d.status ?? "line");
    expect(kinds.filter((k) => k !== "line")).toEqual(["previewing", "approved", "applying", "succeeded"]);
    expect(kinds.lastIndexOf("line")).toBeLessThan(kinds.indexOf("succeeded"));
    expect(kinds.slice(kinds.indexOf("previewing") + 1, kinds.indexOf("approved")).every((k) => k === "line")).toBe(true);
    return { given, writes };
  }

  it("are stored with the status that ends a short operation, in the engine's order", async () => {
    // No operation here lasts a minute: every line waits for its status.
    const { given, writes } = await run(60_000);
    expect(writes.filter((w) => w.every((k) => k === "line"))).toEqual([]);
    const approved = writes.find((w) => w.at(-1) === "approved")!;
    const succeeded = writes.find((w) => w.at(-1) === "succeeded")!;
    // The preview's lines went with "approved", the apply's with "succeeded".
    expect(approved.length).toBeGreaterThan(1);
    expect(succeeded.length).toBeGreaterThan(1);
    expect(writes.flat().filter((k) => k === "line")).toHaveLength(given.length);
  });

  it("are stored on their own once they have waited, still before the status that follows", async () => {
    const { given, writes } = await run(0);
    const lineWrites = writes.filter((w) => w.every((k) => k === "line"));
    expect(lineWrites.length).toBeGreaterThan(0);
    expect(writes.flat().filter((k) => k === "line")).toHaveLength(given.length);
  });
});
