/**
 * Notifications and escalation end to end, with real HTTP receivers (node:http on
 * loopback): the outbox written with each change, signed webhook deliveries, Slack
 * messages, retries with backoff and Retry-After, dead deliveries, and the escalation
 * ladder adding approvers through the gate. On SQLite and PostgreSQL; time is a test clock.
 */
import { createHmac } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Service } from "../../automation/service/main";
import { freshDatabase, postgresUnavailable } from "../postgres";
import { Clock, pg, STORES, StoreKind, Who } from "../service/harness";
import { Receiver } from "./receiver";
import { call, HOOK_SECRET, notifiedService } from "./service";

const MIN = 60_000;

for (const store of STORES) {
  const skip = store === "postgres" ? postgresUnavailable() : undefined;
  if (skip) console.log(`notifications on postgres skipped: ${skip}`);
  describe.skipIf(skip !== undefined)(`notifications on ${store}`, () => suite(store));
}

function suite(store: StoreKind) {
  const hook = new Receiver();
  const slack = new Receiver();
  const clock = new Clock();
  const lines: string[] = [];
  let service: Service;

  beforeAll(async () => {
    await hook.start();
    await slack.start();
    const where = store === "postgres" ? { databaseUrl: await freshDatabase() } : { sqliteFile: ":memory:" };
    service = await notifiedService(hook, slack, clock, where, lines);
  }, 60_000);
  afterAll(async () => {
    await service?.close(1000);
    await hook.stop();
    await slack.stop();
  });

  const api = (who: Who, method: "GET" | "POST", url: string, body?: unknown) => call(service, who, method, url, body);
  async function settle(id: string) {
    await service.runner.drain();
    return (await api("alice", "GET", `/requests/${id}`)).body;
  }
  async function submit(body: Record<string, unknown>) {
    const res = await api("alice", "POST", "/requests", body);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return settle(res.body.id);
  }
  /** An active prod database, approved by bob. */
  async function prodDatabase(name: string) {
    const created = await submit(pg(name, "prod"));
    expect(created.status).toBe("awaiting_approval");
    expect((await api("bob", "POST", `/requests/${created.id}/approve`, { digest: created.preview.digest })).status).toBe(200);
    expect((await settle(created.id)).status).toBe("succeeded");
    return created;
  }
  /** A critical change waiting for approval: the destroy of a prod database. */
  async function criticalDestroy(name: string) {
    await prodDatabase(name);
    const destroy = await submit({ ...pg(name, "prod"), action: "destroy", params: {} });
    expect(destroy.status).toBe("awaiting_approval");
    expect(destroy.risk.level).toBe("critical");
    return destroy;
  }

  it("delivers approval_needed signed to the webhook, and as a Slack message", async () => {
    const waiting = await submit(pg("ledger", "prod"));
    expect(waiting.status).toBe("awaiting_approval");
    // Written with the change: the delivery is queued before any worker ran.
    const queued = await service.store.deliveries({ subjectId: waiting.id });
    expect(queued.map((d) => `${d.event} ${d.sink} ${d.status}`).sort()).toEqual([
      "approval_needed payments-chat queued",
      "approval_needed platform-hook queued",
    ]);
    expect(await service.notifications.tick()).toBe(2);

    const [got] = hook.of("approval_needed", waiting.id);
    expect(hook.of("approval_needed", waiting.id)).toHaveLength(1);
    expect(got.headers["x-paved-event"]).toBe("approval_needed");
    expect(got.headers["x-paved-delivery"]).toBe(got.json.id);
    expect(got.headers["x-paved-timestamp"]).toBe(String(Math.floor(clock.t.getTime() / 1000)));
    // The receiver's check: HMAC-SHA256 of "<timestamp>.<raw body>" with the shared secret.
    const expected = createHmac("sha256", HOOK_SECRET)
      .update(`${got.headers["x-paved-timestamp"] as string}.${got.body}`)
      .digest("hex");
    expect(got.headers["x-paved-signature"]).toBe(`sha256=${expected}`);
    expect(got.json).toEqual({
      id: expect.stringMatching(/^evt_[0-9a-f-]{36}$/),
      event: "approval_needed",
      at: clock.t.toISOString(),
      request: {
        id: waiting.id,
        team: "payments",
        environment: "prod",
        offering: "postgres",
        name: "ledger",
        action: "create",
        status: "awaiting_approval",
        requestedBy: "alice",
        risk: "medium",
        requiredApprovals: { level: "medium", auto: false, count: 1, description: "1 approval" },
        reasons: waiting.risk.reasons,
      },
      link: `https://paved.example/?request=${waiting.id}`,
    });

    const [message] = slack.received;
    expect(slack.received).toHaveLength(1);
    expect(message.json.text).toBe(
      `Approval needed: create postgres ledger (payments/prod) · medium risk · needs 1 approval · https://paved.example/?request=${waiting.id}`,
    );
    const blocks = JSON.stringify(message.json.blocks);
    expect(blocks).toContain("*Who must approve*\\n1 approval");
    expect(blocks).toContain("*Risk*\\nmedium");
    expect(blocks).toContain(`• ${waiting.risk.reasons[0]}`);
    expect(message.json.blocks.at(-1)).toEqual({
      type: "actions",
      elements: [{ type: "button", text: { type: "plain_text", text: "Open the request" }, url: `https://paved.example/?request=${waiting.id}` }],
    });

    // Approved and applied: `applied` follows; nothing is sent twice.
    await api("bob", "POST", `/requests/${waiting.id}/approve`, { digest: waiting.preview.digest });
    expect((await settle(waiting.id)).status).toBe("succeeded");
    await service.notifications.tick();
    expect(hook.received.filter((r) => r.json.request?.id === waiting.id).map((r) => r.json.event)).toEqual(["approval_needed", "applied"]);
    expect(slack.received).toHaveLength(1);
  });

  it("retries a receiver answering 500 twice, then delivers once after its acknowledgement", async () => {
    hook.clear();
    hook.answers.push({ status: 500 }, { status: 500 });
    const waiting = await submit(pg("orders", "prod"));
    await service.notifications.tick();
    expect(hook.of("approval_needed", waiting.id)).toHaveLength(1);
    // Not before the backoff: 1 s after the first failure, 2 s after the second.
    await service.notifications.tick();
    expect(hook.of("approval_needed", waiting.id)).toHaveLength(1);
    clock.advance(1000);
    await service.notifications.tick();
    expect(hook.of("approval_needed", waiting.id)).toHaveLength(2);
    clock.advance(1000);
    await service.notifications.tick();
    expect(hook.of("approval_needed", waiting.id)).toHaveLength(2);
    clock.advance(1000);
    await service.notifications.tick();
    const tries = hook.of("approval_needed", waiting.id);
    expect(tries).toHaveLength(3);
    // One delivery id across the tries; each try signed afresh.
    expect(new Set(tries.map((t) => t.headers["x-paved-delivery"])).size).toBe(1);
    for (let i = 0; i < 5; i++) {
      clock.advance(MIN);
      await service.notifications.tick();
    }
    expect(hook.of("approval_needed", waiting.id)).toHaveLength(3);
    const [d] = (await service.store.deliveries({ subjectId: waiting.id })).filter((x) => x.sink === "platform-hook");
    expect(d).toMatchObject({ status: "delivered", attempts: 3, last_error: null });
    await api("alice", "POST", `/requests/${waiting.id}/cancel`);
  });

  it("honours Retry-After, and gives up after the last try: dead, with the error, for approvers only", async () => {
    hook.clear();
    hook.answers.push({ status: 503, headers: { "retry-after": "120" } });
    const waiting = await submit(pg("audit-db", "prod"));
    await service.notifications.tick();
    clock.advance(119_000);
    await service.notifications.tick();
    expect(hook.of("approval_needed", waiting.id)).toHaveLength(1);
    clock.advance(1000);
    await service.notifications.tick();
    expect(hook.of("approval_needed", waiting.id)).toHaveLength(2);

    // Four tries, all refused: dead.
    hook.clear();
    hook.answers.push({ status: 500 }, { status: 500 }, { status: 500 }, { status: 500 });
    expect((await api("alice", "POST", `/requests/${waiting.id}/cancel`)).status).toBe(200);
    const again = await submit(pg("audit-db", "prod"));
    for (let i = 0; i < 6; i++) {
      await service.notifications.tick();
      clock.advance(10_000);
    }
    expect(hook.of("approval_needed", again.id)).toHaveLength(4);
    const dead = await api("bob", "GET", "/notifications/deliveries?status=dead");
    expect(dead.status).toBe(200);
    const mine = dead.body.deliveries.filter((d: any) => d.subjectId === again.id);
    expect(mine).toEqual([
      expect.objectContaining({ event: "approval_needed", sink: "platform-hook", status: "dead", attempts: 4, lastError: "answered 500 (after 4 tries)" }),
    ]);
    const refused = await api("alice", "GET", "/notifications/deliveries?status=dead");
    expect(refused.status).toBe(403);
    expect(refused.body.error).toEqual({ code: "not_an_approver", message: "only members of an approver group may see notification deliveries" });
    await api("alice", "POST", `/requests/${again.id}/cancel`);
  });

  it("escalates a critical request nobody answers; past the second rung a platform lead approves it and it applies", async () => {
    hook.clear();
    const destroy = await criticalDestroy("billing");
    await service.notifications.tick();
    clock.advance(29 * MIN);
    await service.notifications.tick();
    expect(hook.of("escalated", destroy.id)).toHaveLength(0);
    // A platform lead is not an approver yet.
    const early = await api("dave", "POST", `/requests/${destroy.id}/approve`, { digest: destroy.preview.digest });
    expect(early.status).toBe(403);
    expect(early.body.error.code).toBe("not_an_approver");

    clock.advance(2 * MIN);
    await service.notifications.tick();
    const [first] = hook.of("escalated", destroy.id);
    expect(hook.of("escalated", destroy.id)).toHaveLength(1);
    expect(first.json.escalation).toEqual({ rung: 1 });
    expect(first.json.request.status).toBe("awaiting_approval");
    let view = (await api("alice", "GET", `/requests/${destroy.id}`)).body;
    expect(view.escalations).toEqual([{ rung: 1, at: clock.t.toISOString() }]);

    clock.advance(90 * MIN);
    await service.notifications.tick();
    await service.notifications.tick();
    const escalated = hook.of("escalated", destroy.id);
    expect(escalated.map((e) => e.json.escalation)).toEqual([{ rung: 1 }, { rung: 2, addedGroup: "platform-leads" }]);
    view = (await api("alice", "GET", `/requests/${destroy.id}`)).body;
    expect(view.escalations).toEqual([
      { rung: 1, at: expect.any(String) },
      { rung: 2, at: clock.t.toISOString(), addedGroup: "platform-leads" },
    ]);
    const audit = (await api("bob", "GET", `/audit?requestId=${destroy.id}`)).body.entries.filter((e: any) => e.action === "request.escalated");
    expect(audit.map((e: any) => e.detail)).toEqual([
      { rung: 1, notified: ["platform-hook"] },
      { rung: 2, addedGroup: "platform-leads", notified: ["platform-hook"] },
    ]);

    // Two from platform, or platform-leads now: bob and dave.
    const bob = await api("bob", "POST", `/requests/${destroy.id}/approve`, { digest: destroy.preview.digest });
    expect(bob.body.status).toBe("awaiting_approval");
    const dave = await api("dave", "POST", `/requests/${destroy.id}/approve`, { digest: destroy.preview.digest });
    expect(dave.status, JSON.stringify(dave.body)).toBe(200);
    expect(dave.body.status).toBe("approved");
    expect((await settle(destroy.id)).status).toBe("succeeded");
    clock.advance(5 * 60 * MIN);
    await service.notifications.tick();
    expect(hook.received.filter((r) => r.json.request?.id === destroy.id).map((r) => r.json.event)).toEqual([
      "approval_needed",
      "escalated",
      "escalated",
      "applied",
    ]);
  });

  it("fires no rung for a request approved or cancelled in time", async () => {
    hook.clear();
    const approved = await criticalDestroy("payouts");
    const cancelled = await criticalDestroy("refunds");
    clock.advance(10 * MIN);
    await api("bob", "POST", `/requests/${approved.id}/approve`, { digest: approved.preview.digest });
    await api("carol", "POST", `/requests/${approved.id}/approve`, { digest: approved.preview.digest });
    await api("alice", "POST", `/requests/${cancelled.id}/cancel`);
    expect((await settle(approved.id)).status).toBe("succeeded");
    clock.advance(3 * 60 * MIN);
    await service.notifications.tick();
    for (const r of [approved, cancelled]) {
      expect(hook.of("escalated", r.id)).toEqual([]);
      expect((await api("alice", "GET", `/requests/${r.id}`)).body.escalations).toEqual([]);
    }
    expect(await service.workflow.escalate()).toBe(0);
  });

  it("tells an expired request", async () => {
    hook.clear();
    const waiting = await submit(pg("stale", "prod"));
    await service.notifications.tick();
    clock.advance(25 * 60 * MIN);
    // The sweep of the ladder expires what waited too long; the expiry is written with its event.
    await service.notifications.tick();
    await service.notifications.tick();
    expect(hook.received.filter((r) => r.json.request?.id === waiting.id).map((r) => r.json.event)).toEqual(["approval_needed", "expired"]);
    expect(hook.of("expired", waiting.id)[0].json.request).toMatchObject({ status: "expired", error: "no sufficient approval within the approval expiry" });
  });

  it("tells a runbook step waiting for an answer, then for an approval", async () => {
    const created = await submit(pg("scale-db"));
    expect(created.status).toBe("succeeded");
    await service.notifications.tick();
    expect(hook.of("applied", created.id)).toHaveLength(1);
    hook.clear();
    const started = await api("alice", "POST", "/runbooks/scale-instance/runs", {
      params: { team: "payments", environment: "dev", name: "scale-db", tier: "medium" },
    });
    expect(started.status).toBe(202);
    const run = await service.runbooks.settle(started.body.id);
    expect(run.status).toBe("awaiting_answer");
    await service.notifications.tick();
    expect(hook.received.map((r) => r.json.run)).toEqual([
      { id: run.id, runbook: "scale-instance", team: "payments", status: "awaiting_answer", step: 3, requestedBy: "alice", requiredApprovals: null },
    ]);
    expect(hook.received[0].json.link).toBe(`https://paved.example/?run=${run.id}`);
    await api("alice", "POST", `/runbook-runs/${run.id}/steps/3/answer`, { answer: "proceed" });
    expect((await service.runbooks.settle(run.id)).status).toBe("awaiting_approval");
    await service.notifications.tick();
    expect(hook.received.map((r) => `${r.json.event} ${r.json.run.step} ${r.json.run.requiredApprovals?.description}`)).toEqual([
      "answer_needed 3 undefined",
      "approval_needed 4 1 approval",
    ]);
    await api("alice", "POST", `/runbook-runs/${run.id}/cancel`);
  });

  it("never shows a secret in the logs, the audit or an API answer", async () => {
    const audit = JSON.stringify((await api("bob", "GET", "/audit")).body);
    const deliveries = JSON.stringify((await api("bob", "GET", "/notifications/deliveries")).body);
    for (const text of [audit, deliveries, lines.join("\n")]) {
      expect(text).not.toContain(HOOK_SECRET);
      expect(text).not.toContain(slack.url);
    }
    expect(lines.length).toBeGreaterThan(0);
  });
}
