/**
 * The whole request lifecycle through `app.inject`, on the simulate engine: auto-applied
 * dev creates, prod approvals, separation of duties, digests, destroys, expiry, cancel,
 * reject, and re-approval when the change moved after approval.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresUnavailable } from "../postgres";
import { Harness, pg, startHarness, STORES, StoreKind, testConfig } from "./harness";

for (const store of STORES) {
  const skip = store === "postgres" ? postgresUnavailable() : undefined;
  if (skip) console.log(`lifecycle on postgres skipped: ${skip}`);
  describe.skipIf(skip !== undefined)(`on ${store}`, () => suite(store));
}

function suite(store: StoreKind) {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(testConfig(), store);
  }, 60_000);
  afterAll(async () => {
    await h.close();
  });

  async function submit(body: Record<string, unknown>, who: "alice" | "erin" = "alice") {
    const res = await h.call(who, "POST", "/requests", body);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return res.body;
  }

  async function settle(id: string) {
    await h.drain();
    const res = await h.call("alice", "GET", `/requests/${id}`);
    expect(res.status).toBe(200);
    return res.body;
  }

  /** Creates a prod database and has bob approve it: an active prod instance. */
  async function prodDatabase(name: string) {
    const created = await settle((await submit(pg(name, "prod"))).id);
    expect(created.status).toBe("awaiting_approval");
    const ok = await h.call("bob", "POST", `/requests/${created.id}/approve`, { digest: created.preview.digest });
    expect(ok.status).toBe(200);
    const done = await settle(created.id);
    expect(done.status).toBe("succeeded");
    return done;
  }

  describe("a dev create within the team's autonomy", () => {
    it("is previewed, auto-approved and applied with no human, and says it was simulated", async () => {
      const accepted = await submit(pg("orders-db"));
      expect(accepted).toMatchObject({
        action: "create",
        status: "previewing",
        engine: "simulate",
        requestedBy: "alice",
        stack: "payments.dev.orders-db",
        params: { tier: "small" },
      });
      const done = await settle(accepted.id);
      expect(done.status).toBe("succeeded");
      expect(done.risk).toEqual({
        level: "low",
        blocked: false,
        reasons: [
          "creates paved:aws:PostgresDatabase orders-db",
          "creates aws:rds/subnetGroup:SubnetGroup orders-db-subnets",
          "creates aws:rds/parameterGroup:ParameterGroup orders-db-params",
          "creates aws:ec2/securityGroup:SecurityGroup orders-db-sg",
          "creates aws:rds/instance:Instance orders-db-db",
        ],
        requiredApprovals: { level: "low", auto: true, count: 0, description: "applied without approval (within the team's autonomy)" },
      });
      expect(done.preview.changeSummary).toEqual({ create: 5 });
      expect(done.preview.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(done.preview.steps.map((s: any) => `${s.op} ${s.type}`)).toContain("create aws:rds/instance:Instance");
      expect(done.approvals).toEqual([]);
      expect(done.violations).toEqual([]);
      expect(Object.keys(done.outputs).sort()).toEqual(["endpoint", "port", "secretArn", "securityGroupId"]);
      expect(done.outputs.port).toBe(5432);
      expect(done.outputs.secretArn).toMatch(/^arn:aws:secretsmanager:/);

      const instances = await h.call("alice", "GET", "/instances?team=payments");
      expect(instances.body.engine).toBe("simulate");
      expect(instances.body.instances.find((i: any) => i.stack === "payments.dev.orders-db")).toMatchObject({
        offering: "postgres",
        outputs: done.outputs,
        needsRefresh: false,
      });

      const audit = await h.call("alice", "GET", `/audit?requestId=${done.id}`);
      expect(audit.body.entries.map((e: any) => `${e.actor} ${e.action}`)).toEqual([
        "alice request.create",
        "paved request.auto-approved",
        "paved engine.up",
        "paved request.succeeded",
      ]);
      expect(audit.body.entries[2].digest).toBe(done.preview.digest);
    });

    it("streams its events over SSE, ending at the terminal status", async () => {
      const done = await settle((await submit(pg("events-db"))).id);
      const res = await h.call("alice", "GET", `/requests/${done.id}/events`);
      expect(res.status).toBe(200);
      expect(res.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
      const events = String(res.body)
        .trim()
        .split("\n\n")
        .map((block) => {
          const lines = Object.fromEntries(block.split("\n").map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 2)]));
          return { event: lines.event, data: JSON.parse(lines.data) };
        });
      expect(events.filter((e) => e.event === "status").map((e) => e.data.status)).toEqual(["previewing", "approved", "applying", "succeeded"]);
      expect(events.filter((e) => e.event === "progress").map((e) => e.data.line)).toContain("simulate: create aws:rds/instance:Instance events-db-db");
    });
  });

  describe("a prod create", () => {
    it("waits for one approval, which the requester cannot give, then applies", async () => {
      const waiting = await settle((await submit(pg("ledger-db", "prod"))).id);
      expect(waiting.status).toBe("awaiting_approval");
      expect(waiting.risk.level).toBe("medium");
      expect(waiting.risk.requiredApprovals).toEqual({ level: "medium", auto: false, count: 1, description: "1 approval" });

      const self = await h.call("alice", "POST", `/requests/${waiting.id}/approve`, { digest: waiting.preview.digest });
      expect(self.status).toBe(403);
      expect(self.body).toEqual({ error: { code: "self_approval", message: "the requester cannot approve their own request" } });

      const stale = await h.call("bob", "POST", `/requests/${waiting.id}/approve`, { digest: `sha256:${"0".repeat(64)}` });
      expect(stale.status).toBe(409);
      expect(stale.body.error.code).toBe("stale_digest");
      expect(stale.body.error.message).toBe(`the preview changed: approve digest ${waiting.preview.digest} after reviewing it`);

      const ok = await h.call("bob", "POST", `/requests/${waiting.id}/approve`, { digest: waiting.preview.digest, comment: "LGTM" });
      expect(ok.status).toBe(200);
      expect(ok.body.status).toBe("approved");
      expect(ok.body.approvals).toEqual([{ by: "bob", at: "2026-11-25T10:00:00.000Z", digest: waiting.preview.digest, comment: "LGTM" }]);

      const done = await settle(waiting.id);
      expect(done.status).toBe("succeeded");
      const again = await h.call("carol", "POST", `/requests/${waiting.id}/approve`, { digest: waiting.preview.digest });
      expect(again.status).toBe(409);
      expect(again.body.error).toEqual({ code: "invalid_state", message: `request ${waiting.id} is succeeded, not awaiting_approval` });
    });

    it("a team member who is not the requester may approve a medium-risk change", async () => {
      const waiting = await settle((await submit(pg("erin-db", "prod"))).id);
      const ok = await h.call("erin", "POST", `/requests/${waiting.id}/approve`, { digest: waiting.preview.digest });
      expect(ok.status).toBe(200);
      expect(ok.body.status).toBe("approved");
    });

    it("someone outside the team and the approver groups cannot approve it, nor see it", async () => {
      const waiting = await settle((await submit(pg("dave-db", "prod"))).id);
      const res = await h.call("dave", "POST", `/requests/${waiting.id}/approve`, { digest: waiting.preview.digest });
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe("request_not_found");
      const list = await h.call("dave", "GET", "/requests");
      expect(list.body.requests).toEqual([]);
      await h.call("alice", "POST", `/requests/${waiting.id}/cancel`);
    });
  });

  describe("a prod destroy of a database", () => {
    it("needs two distinct platform approvers, then completes despite the protection", async () => {
      await prodDatabase("billing-db");
      const destroy = await settle((await submit({ ...pg("billing-db", "prod"), action: "destroy", params: {} })).id);
      expect(destroy.status).toBe("awaiting_approval");
      expect(destroy.risk.level).toBe("critical");
      expect(destroy.risk.requiredApprovals).toEqual({ level: "critical", auto: false, count: 2, group: "platform", description: "2 approvals from platform" });
      expect(destroy.preview.changeSummary).toEqual({ delete: 5 });
      expect(destroy.risk.reasons).toContain("deletes aws:rds/instance:Instance billing-db-db: its data is lost");
      const rds = destroy.preview.steps.find((s: any) => s.type === "aws:rds/instance:Instance");
      expect(rds.reasons).toEqual([
        "deletes aws:rds/instance:Instance billing-db-db: its data is lost",
        "aws:rds/instance:Instance billing-db-db is protected: Pulumi refuses to delete it until it is unprotected",
        "in prod: one level higher",
      ]);

      const erin = await h.call("erin", "POST", `/requests/${destroy.id}/approve`, { digest: destroy.preview.digest });
      expect(erin.status).toBe(403);
      expect(erin.body.error).toEqual({ code: "not_an_approver", message: "a critical-risk request needs approval from platform, and erin is not in it" });

      const bob = await h.call("bob", "POST", `/requests/${destroy.id}/approve`, { digest: destroy.preview.digest });
      expect(bob.body.status).toBe("awaiting_approval");
      const twice = await h.call("bob", "POST", `/requests/${destroy.id}/approve`, { digest: destroy.preview.digest });
      expect(twice.status).toBe(409);
      expect(twice.body.error).toEqual({ code: "already_approved", message: "bob already approved this preview" });
      const carol = await h.call("carol", "POST", `/requests/${destroy.id}/approve`, { digest: destroy.preview.digest });
      expect(carol.body.status).toBe("approved");

      const done = await settle(destroy.id);
      expect(done.status).toBe("succeeded");
      expect(done.outputs).toEqual({});
      const instances = await h.call("alice", "GET", "/instances");
      expect(instances.body.instances.map((i: any) => i.stack)).not.toContain("payments.prod.billing-db");
      const events = await h.service.store.eventsAfter(destroy.id, 0);
      expect(events.map((e) => JSON.parse(e.data).line).filter(Boolean)).toContain("simulate: unprotecting 1 resource(s) for the approved destroy");
      const audit = (await h.call("bob", "GET", `/audit?requestId=${destroy.id}`)).body.entries;
      expect(audit.map((e: any) => `${e.actor} ${e.action}`)).toEqual([
        "alice request.destroy",
        "paved request.awaiting-approval",
        "bob request.approve",
        "carol request.approve",
        "paved request.approved",
        "paved engine.destroy",
        "paved request.succeeded",
      ]);
      expect(audit[4].detail).toEqual({ approvers: ["bob", "carol"] });
    });

    it("a new create of the destroyed name is allowed again", async () => {
      const res = await h.call("alice", "POST", "/requests", pg("billing-db", "prod"));
      expect(res.status).toBe(202);
      await h.call("alice", "POST", `/requests/${res.body.id}/cancel`);
    });
  });

  describe("a change made after approval", () => {
    it("sends the request back for approval with the new preview; earlier approvals no longer count", async () => {
      await prodDatabase("audit-db");
      const update = await settle((await submit({ ...pg("audit-db", "prod"), action: "update", params: { tier: "medium" } })).id);
      expect(update.status).toBe("awaiting_approval");
      expect(update.risk.level).toBe("high");
      const rds = update.preview.steps.find((s: any) => s.type === "aws:rds/instance:Instance");
      expect(rds).toMatchObject({ op: "update", changedKeys: ["allocatedStorage", "instanceClass", "maxAllocatedStorage"], risk: "high" });
      const approved = await h.call("bob", "POST", `/requests/${update.id}/approve`, { digest: update.preview.digest });
      expect(approved.body.status).toBe("approved");

      // Before the apply runs, the stack moves: someone changed the database outside the service.
      const state = JSON.parse((await h.service.store.getStackState("payments.prod.audit-db"))!);
      const db = state.resources.find((r: any) => r.type === "aws:rds/instance:Instance");
      db.inputs.backupRetentionPeriod = 1;
      await h.service.store.putStackState("payments.prod.audit-db", JSON.stringify(state), "2026-11-25T10:00:00.000Z");

      const back = await settle(update.id);
      expect(back.status).toBe("awaiting_approval");
      expect(back.preview.digest).not.toBe(update.preview.digest);
      expect(back.preview.steps.find((s: any) => s.type === "aws:rds/instance:Instance").changedKeys).toEqual([
        "allocatedStorage",
        "backupRetentionPeriod",
        "instanceClass",
        "maxAllocatedStorage",
      ]);
      const audit = (await h.call("bob", "GET", `/audit?requestId=${update.id}`)).body.entries.map((e: any) => e.action);
      expect(audit).toContain("request.preview-changed");

      const old = await h.call("carol", "POST", `/requests/${update.id}/approve`, { digest: update.preview.digest });
      expect(old.status).toBe(409);
      expect(old.body.error.code).toBe("stale_digest");
      const fresh = await h.call("carol", "POST", `/requests/${update.id}/approve`, { digest: back.preview.digest });
      expect(fresh.body.status).toBe("approved");
      expect(fresh.body.approvals.map((a: any) => a.by)).toEqual(["bob", "carol"]);
      const done = await settle(update.id);
      expect(done.status).toBe("succeeded");
      expect(done.params).toEqual({ tier: "medium" });
    });
  });

  describe("expiry, cancel and reject", () => {
    it("a request nobody approves within the expiry becomes expired", async () => {
      const waiting = await settle((await submit(pg("expiring-db", "prod"))).id);
      h.clock.advance(23 * 3600_000);
      expect(await h.service.workflow.expireStale()).toBe(0);
      h.clock.advance(2 * 3600_000);
      expect(await h.service.workflow.expireStale()).toBe(1);
      const res = await h.call("alice", "GET", `/requests/${waiting.id}`);
      expect(res.body.status).toBe("expired");
      expect(res.body.error).toBe("no sufficient approval within the approval expiry");
      const late = await h.call("bob", "POST", `/requests/${waiting.id}/approve`, { digest: waiting.preview.digest });
      expect(late.status).toBe(409);
      expect(late.body.error.code).toBe("invalid_state");
    });

    it("an approval older than the expiry no longer counts", async () => {
      await prodDatabase("stale-db");
      const destroy = await settle((await submit({ ...pg("stale-db", "prod"), action: "destroy" })).id);
      await h.call("bob", "POST", `/requests/${destroy.id}/approve`, { digest: destroy.preview.digest });
      h.clock.advance(25 * 3600_000);
      const carol = await h.call("carol", "POST", `/requests/${destroy.id}/approve`, { digest: destroy.preview.digest });
      // The request itself waited longer than the expiry: it is expired, not approved by carol alone.
      expect(carol.status).toBe(409);
      expect((await h.call("alice", "GET", `/requests/${destroy.id}`)).body.status).toBe("expired");
    });

    it("only the requester cancels, and only before the apply", async () => {
      const waiting = await settle((await submit(pg("cancel-db", "prod"))).id);
      const bob = await h.call("bob", "POST", `/requests/${waiting.id}/cancel`);
      expect(bob.status).toBe(403);
      expect(bob.body.error).toEqual({ code: "not_requester", message: "only the requester can cancel a request" });
      const ok = await h.call("alice", "POST", `/requests/${waiting.id}/cancel`);
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ status: "cancelled", error: "cancelled by alice" });
      const twice = await h.call("alice", "POST", `/requests/${waiting.id}/cancel`);
      expect(twice.status).toBe(409);
      expect(twice.body.error).toEqual({ code: "invalid_state", message: `request ${waiting.id} is cancelled: it can no longer be cancelled` });
    });

    it("a request cancelled while previewing is never applied", async () => {
      const accepted = await submit(pg("quick-db"));
      await h.call("alice", "POST", `/requests/${accepted.id}/cancel`);
      const done = await settle(accepted.id);
      expect(done.status).toBe("cancelled");
      expect(done.preview).toBeNull();
      expect(await h.service.store.getInstance("payments.dev.quick-db")).toBeUndefined();
    });

    it("a rejection ends the request", async () => {
      const waiting = await settle((await submit(pg("rejected-db", "prod"))).id);
      const res = await h.call("carol", "POST", `/requests/${waiting.id}/reject`, { reason: "use the shared ledger database" });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: "rejected", error: "rejected by carol: use the shared ledger database" });
      const after = await h.call("bob", "POST", `/requests/${waiting.id}/approve`, { digest: waiting.preview.digest });
      expect(after.status).toBe(409);
      const audit = (await h.call("alice", "GET", `/audit?requestId=${waiting.id}`)).body.entries;
      expect(audit.at(-1)).toMatchObject({ actor: "carol", action: "request.reject", detail: { reason: "use the shared ledger database" } });
    });
  });

  describe("policies", () => {
    it("a mandatory violation blocks the request whatever its risk", async () => {
      const strict = await startHarness(testConfig({ policies: { "rds-instance-class": { allowedInstanceClasses: ["db.r6g.xlarge"] } } }), store);
      try {
        const res = await strict.call("alice", "POST", "/requests", pg("blocked-db"));
        await strict.drain();
        const done = (await strict.call("alice", "GET", `/requests/${res.body.id}`)).body;
        expect(done.status).toBe("blocked");
        expect(done.risk.blocked).toBe(true);
        expect(done.violations).toHaveLength(1);
        expect(done.violations[0]).toMatchObject({ policyName: "rds-instance-class", enforcementLevel: "mandatory", resourceName: "blocked-db-db" });
        expect(done.violations[0].message).toMatch(/^instanceClass "db\.t4g\.\w+" is not one of db\.r6g\.xlarge$/);
        expect(done.risk.reasons.at(-1)).toBe(`policy rds-instance-class (mandatory) on blocked-db-db: ${done.violations[0].message}`);
        expect(await strict.service.store.getInstance("payments.dev.blocked-db")).toBeUndefined();
      } finally {
        await strict.close();
      }
    }, 60_000);
  });
}
