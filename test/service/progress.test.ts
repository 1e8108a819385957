/** The engine's output lines: stored in batches, in the order given, before the status that follows them. */
import { afterEach, describe, expect, it } from "vitest";
import type { EngineOperation } from "../../automation/engine/types";
import { Harness, STORES, startHarness, testConfig } from "./harness";

describe.each(STORES)("progress lines on %s", (store) => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it("are written a burst per insert, in the engine's order, each burst before the next status", async () => {
    h = await startHarness(testConfig(), store);
    const service = h.service;
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
    const inserts: string[][] = [];
    const append = service.store.appendEvents.bind(service.store);
    service.store.appendEvents = (requestId, events) => {
      inserts.push(events.map((e) => e.type));
      return append(requestId, events);
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
    // Fewer inserts than lines: each burst of output went in one.
    const progressInserts = inserts.filter((types) => types.every((t) => t === "progress"));
    expect(progressInserts.flat()).toHaveLength(given.length);
    expect(progressInserts.length).toBeLessThan(given.length);
  });
});
