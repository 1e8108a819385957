/**
 * Two replicas on one PostgreSQL database, each with its own workflow, store connections
 * and notification worker, ticking at the same time: every event reaches the receiver
 * once, retries included; each escalation rung fires once; a delivery whose replica died
 * mid-way is taken over when its lease runs out.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Service } from "../../automation/service/main";
import { freshDatabase, postgresUnavailable } from "../postgres";
import { Clock, pg } from "../service/harness";
import { call, notifiedService } from "./service";
import { Receiver } from "./receiver";

const skip = postgresUnavailable();
if (skip) console.log(`notification replicas skipped: ${skip}`);
const MIN = 60_000;

describe.skipIf(skip !== undefined)("notifications with two replicas on PostgreSQL", () => {
  const hook = new Receiver();
  const slack = new Receiver();
  const clock = new Clock();
  const lines: string[] = [];
  let a: Service;
  let b: Service;

  beforeAll(async () => {
    await hook.start();
    await slack.start();
    const databaseUrl = await freshDatabase();
    a = await notifiedService(hook, slack, clock, { databaseUrl }, lines);
    b = await notifiedService(hook, slack, clock, { databaseUrl }, lines);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([a?.close(1000), b?.close(1000)]);
    await hook.stop();
    await slack.stop();
  });

  /** Both workers at once, `n` times. */
  async function tickBoth(n = 3) {
    for (let i = 0; i < n; i++) await Promise.all([a.notifications.tick(), b.notifications.tick()]);
  }
  async function settle(id: string) {
    await a.runner.drain();
    await b.runner.drain();
    return (await call(a, "alice", "GET", `/requests/${id}`)).body;
  }
  /** Delivery ids the hook received more than once. */
  const duplicates = () => {
    const seen = new Map<string, number>();
    for (const r of hook.received) seen.set(r.json.id as string, (seen.get(r.json.id as string) ?? 0) + 1);
    return [...seen].filter(([, n]) => n > 1);
  };

  it("delivers every event once, retries included, whichever replica claims it", async () => {
    // Some receivers' hiccups: the first three answers fail.
    hook.answers.push({ status: 500 }, { status: 502 }, { status: 500 });
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const replica = i % 2 ? b : a;
      const res = await call(replica, "alice", "POST", "/requests", pg(`db-${i}`, "prod"));
      expect(res.status).toBe(202);
      ids.push(res.body.id);
    }
    for (const id of ids) expect((await settle(id)).status).toBe("awaiting_approval");
    for (let i = 0; i < 6; i++) {
      await tickBoth(2);
      clock.advance(10_000);
    }
    // The failed tries are the only repeats, and each of them was followed by exactly one success.
    const delivered = await a.store.deliveries({ status: "delivered" });
    expect(delivered.filter((d) => d.sink === "platform-hook" && ids.includes(d.subject_id))).toHaveLength(8);
    const successes = new Map<string, number>();
    for (const r of hook.received) successes.set(r.json.id, (successes.get(r.json.id) ?? 0) + 1);
    const total = [...successes.values()].reduce((x, y) => x + y, 0);
    expect(total).toBe(8 + 3);
    expect(new Set(hook.received.map((r) => r.json.request.id))).toEqual(new Set(ids));
    expect(slack.received).toHaveLength(8);
    expect(new Set(slack.received.map((r) => r.body)).size).toBe(8);
    for (const id of ids) await call(a, "alice", "POST", `/requests/${id}/cancel`);
  });

  it("fires each rung once across replicas; past the second a platform lead approves and it applies", async () => {
    hook.clear();
    const created = (await call(a, "alice", "POST", "/requests", pg("vault", "prod"))).body;
    const waitingCreate = await settle(created.id);
    await call(b, "bob", "POST", `/requests/${created.id}/approve`, { digest: waitingCreate.preview.digest });
    expect((await settle(created.id)).status).toBe("succeeded");
    const submitted = (await call(b, "alice", "POST", "/requests", { ...pg("vault", "prod"), action: "destroy", params: {} })).body;
    const destroy = await settle(submitted.id);
    expect(destroy.risk.level).toBe("critical");
    await tickBoth();
    clock.advance(31 * MIN);
    await tickBoth();
    clock.advance(90 * MIN);
    await tickBoth();
    await Promise.all([a.workflow.escalate(), b.workflow.escalate(), a.workflow.escalate(), b.workflow.escalate()]);
    await tickBoth();
    expect(hook.of("escalated", destroy.id).map((r) => r.json.escalation)).toEqual([{ rung: 1 }, { rung: 2, addedGroup: "platform-leads" }]);
    const audit = (await call(a, "bob", "GET", `/audit?requestId=${destroy.id}`)).body.entries.filter((e: any) => e.action === "request.escalated");
    expect(audit).toHaveLength(2);
    await call(a, "bob", "POST", `/requests/${destroy.id}/approve`, { digest: destroy.preview.digest });
    const dave = await call(b, "dave", "POST", `/requests/${destroy.id}/approve`, { digest: destroy.preview.digest });
    expect(dave.body.status).toBe("approved");
    expect((await settle(destroy.id)).status).toBe("succeeded");
    await tickBoth();
    expect(hook.received.filter((r) => r.json.request.id === destroy.id).map((r) => r.json.event)).toEqual([
      "approval_needed",
      "escalated",
      "escalated",
      "applied",
    ]);
    expect(duplicates()).toEqual([]);
  });

  it("takes over a delivery whose replica died mid-way once its lease ran out", async () => {
    hook.clear();
    const res = await call(a, "alice", "POST", "/requests", pg("ghost", "prod"));
    await settle(res.body.id);
    // A third replica claims the deliveries, then dies before sending them.
    const claimed = await a.store.claimDeliveries("dead-replica", clock.t.toISOString(), new Date(clock.t.getTime() + MIN).toISOString(), 10);
    expect(claimed.map((d) => d.sink).sort()).toEqual(["payments-chat", "platform-hook"]);
    await tickBoth();
    expect(hook.of("approval_needed", res.body.id)).toHaveLength(0);
    clock.advance(MIN + 1000);
    await tickBoth();
    expect(hook.of("approval_needed", res.body.id)).toHaveLength(1);
    const [d] = (await a.store.deliveries({ subjectId: res.body.id })).filter((x) => x.sink === "platform-hook");
    expect(d).toMatchObject({ status: "delivered", attempts: 2 });
    await call(a, "alice", "POST", `/requests/${res.body.id}/cancel`);
  });
});
