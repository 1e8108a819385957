/**
 * Two service replicas on one PostgreSQL database, each with its own worker pool: every
 * job runs exactly once, and the operations of one stack never overlap.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createService, Service } from "../../automation/service/main";
import type { EngineOperation } from "../../automation/engine/types";
import { freshDatabase, postgresUnavailable } from "../postgres";
import { testConfig } from "./harness";

const skip = postgresUnavailable();
if (skip) console.log(`replicas skipped: ${skip}`);

interface Span {
  replica: string;
  stack: string;
  kind: "preview" | "apply";
  start: number;
  end: number;
}

describe.skipIf(skip !== undefined)("two replicas on one database", () => {
  const replicas: Service[] = [];
  const spans: Span[] = [];

  beforeAll(async () => {
    const databaseUrl = await freshDatabase();
    for (const name of ["a", "b"]) {
      const service = await createService({ config: testConfig(), databaseUrl, engine: "simulate", logger: false, workers: 2, simulateStepMs: 20 });
      // Record when each engine operation runs, and on which replica.
      const engine = service.engine;
      for (const kind of ["preview", "apply"] as const) {
        const original = engine[kind].bind(engine) as (op: EngineOperation, o?: never) => Promise<unknown>;
        (engine as any)[kind] = async (op: EngineOperation, o?: never) => {
          const span: Span = { replica: name, stack: op.stack, kind, start: performance.timeOrigin + performance.now(), end: 0 };
          try {
            return await original(op, o);
          } finally {
            span.end = performance.timeOrigin + performance.now();
            spans.push(span);
          }
        };
      }
      replicas.push(service);
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.close(5000)));
  });

  it("runs every job exactly once, never two operations of one stack at a time", async () => {
    const ids: string[] = [];
    // Twelve creates, sent alternately to both replicas; then an update of each of the
    // first four, approved, so that stacks see several jobs in a row.
    for (let i = 0; i < 12; i++) {
      const res = await replicas[i % 2].app.inject({
        method: "POST",
        url: "/requests",
        headers: { authorization: "Bearer alice-dev-token" },
        payload: { team: "payments", environment: "dev", offering: "queue", name: `q-${i}`, params: {} },
      });
      expect(res.statusCode).toBe(202);
      ids.push(res.json().id);
    }
    const store = replicas[0].store;
    const settle = async (wanted: string[]) => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const rows = await Promise.all(wanted.map((id) => store.getRequest(id)));
        if (rows.every((r) => ["succeeded", "failed", "awaiting_approval"].includes(r!.status))) return rows;
        if (Date.now() > deadline) throw new Error(`not settled: ${rows.map((r) => r!.status).join(",")}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    expect((await settle(ids)).map((r) => r!.status)).toEqual(Array(12).fill("succeeded"));

    const updates: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await replicas[1 - (i % 2)].app.inject({
        method: "POST",
        url: "/requests",
        headers: { authorization: "Bearer alice-dev-token" },
        payload: { team: "payments", environment: "dev", offering: "queue", name: `q-${i}`, action: "update", params: { visibilityTimeoutSeconds: 120 } },
      });
      expect(res.statusCode, res.body).toBe(202);
      updates.push(res.json().id);
    }
    const waiting = await settle(updates);
    for (const row of waiting) {
      expect(row!.status).toBe("awaiting_approval");
      const digest = JSON.parse(row!.preview!).digest;
      const ok = await replicas[0].app.inject({
        method: "POST",
        url: `/requests/${row!.id}/approve`,
        headers: { authorization: "Bearer bob-dev-token" },
        payload: { digest },
      });
      expect(ok.statusCode).toBe(200);
    }
    const deadline = Date.now() + 60_000;
    while ((await Promise.all(updates.map((id) => store.getRequest(id)))).some((r) => r!.status !== "succeeded")) {
      if (Date.now() > deadline) throw new Error("updates did not finish");
      await new Promise((r) => setTimeout(r, 50));
    }

    // A request is succeeded a moment before its job row is marked done: wait for the rows.
    const all = [...ids, ...updates];
    while ((await store.jobs()).some((j) => all.includes(j.request_id) && j.status === "running")) {
      if (Date.now() > deadline) throw new Error("jobs did not finish");
      await new Promise((r) => setTimeout(r, 50));
    }
    // Exactly once: every job done, claimed once; one preview and one apply per request.
    const jobs = await store.jobs();
    expect(jobs.filter((j) => all.includes(j.request_id))).toHaveLength(all.length * 2);
    expect(jobs.filter((j) => !(j.status === "done" && j.attempts === 1))).toEqual([]);
    const applies = spans.filter((s) => s.kind === "apply");
    expect(applies).toHaveLength(all.length);
    // Each request's apply job also previews again: 2 previews per request.
    expect(spans.filter((s) => s.kind === "preview")).toHaveLength(all.length * 2);

    // Never two operations of one stack at once, whichever replica ran them.
    const byStack = new Map<string, Span[]>();
    for (const s of spans) byStack.set(s.stack, [...(byStack.get(s.stack) ?? []), s]);
    for (const [stack, list] of byStack) {
      list.sort((a, b) => a.start - b.start);
      for (let i = 1; i < list.length; i++) {
        expect(list[i].start, `${stack}: ${list[i - 1].replica}/${list[i - 1].kind} and ${list[i].replica}/${list[i].kind} overlap`).toBeGreaterThanOrEqual(
          list[i - 1].end,
        );
      }
    }
    const perReplica = { a: spans.filter((s) => s.replica === "a").length, b: spans.filter((s) => s.replica === "b").length };
    console.log(`operations per replica: a=${perReplica.a} b=${perReplica.b}`);
    expect(perReplica.a + perReplica.b).toBe(spans.length);
  }, 120_000);
});
