/**
 * One gate for every door, on both stores: a runbook's change needs the approvers the same
 * request would need; the approved digest is what the engine applies; look-alike stack
 * names never cross teams; a restore from a snapshot the team does not own is rated high;
 * an expired runbook approval is planned again.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml, stringify } from "yaml";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../automation/config";
import { Gate } from "../../automation/gate";
import { finalSnapshotIdentifier } from "../../components/aws/naming";
import { PreviewChangedError } from "../../automation/engine/types";
import { postgresUnavailable } from "../postgres";
import { Harness, pg, ROOT, startHarness, STORES, StoreKind, TOKENS } from "../service/harness";

/** The demo config with erin in payments, dave in search, and frank in team `payments-dev`. */
function config() {
  const raw = parseYaml(readFileSync(join(ROOT, "paved.yaml"), "utf8")) as any;
  raw.people.dave = { token: TOKENS.dave };
  raw.people.erin = { token: TOKENS.erin };
  raw.people.frank = { token: "frank-dev-token" };
  raw.teams.payments.members.push("erin");
  raw.teams.search = {
    members: ["dave"],
    autonomy: "low",
    environments: { dev: { network: { vpcId: "vpc-s", subnetIds: ["s-a", "s-b"] } }, prod: { network: { vpcId: "vpc-sp", subnetIds: ["sp-a", "sp-b"] } } },
  };
  raw.teams["payments-dev"] = { members: ["frank"], autonomy: "low", environments: { prod: { network: { vpcId: "vpc-pd", subnetIds: ["pd-a", "pd-b"] } } } };
  return parseConfig(stringify(raw), "paved.yaml");
}

for (const store of STORES) {
  const skip = store === "postgres" ? postgresUnavailable() : undefined;
  if (skip) console.log(`gate on postgres skipped: ${skip}`);
  describe.skipIf(skip !== undefined)(`on ${store}`, () => suite(store));
}

function suite(store: StoreKind) {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(config(), store);
  }, 60_000);
  afterAll(async () => {
    await h.close();
  });

  const as = async (token: string, method: "GET" | "POST", url: string, body?: unknown) => {
    const res = await h.service.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(body === undefined ? {} : { payload: body as object }),
    });
    return { status: res.statusCode, body: JSON.parse(res.body) };
  };

  async function request(who: "alice" | "dave", body: Record<string, unknown>) {
    const res = await h.call(who, "POST", "/requests", body);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    await h.drain();
    return (await h.call(who, "GET", `/requests/${res.body.id}`)).body;
  }

  /** A request, approved by bob (and carol) until it succeeds. */
  async function created(who: "alice" | "dave", body: Record<string, unknown>) {
    let row = await request(who, body);
    for (const approver of ["bob", "carol"] as const) {
      if (row.status !== "awaiting_approval") break;
      await h.call(approver, "POST", `/requests/${row.id}/approve`, { digest: row.preview.digest });
      await h.drain();
      row = (await h.call(who, "GET", `/requests/${row.id}`)).body;
    }
    expect(row.status, JSON.stringify(row)).toBe("succeeded");
    return row;
  }

  const runbooks = () => h.service.runbooks;
  const start = async (who: "alice" | "dave", id: string, params: Record<string, unknown>) => {
    const res = await h.call(who, "POST", `/runbooks/${id}/runs`, { params });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return runbooks().settle(res.body.id);
  };

  describe("a runbook's change is gated like the same request", () => {
    it("scale-instance in prod: the approvers a request needs, never the requester alone", async () => {
      await created("alice", pg("gate-db", "prod"));
      // The same change as a request: rated, then cancelled.
      const req = await request("alice", { ...pg("gate-db", "prod"), action: "update", params: { tier: "large" } });
      expect(req.status).toBe("awaiting_approval");
      await h.call("alice", "POST", `/requests/${req.id}/cancel`);

      let run = await start("alice", "scale-instance", { team: "payments", environment: "prod", name: "gate-db", tier: "large" });
      await h.call("alice", "POST", `/runbook-runs/${run.id}/steps/3/answer`, { answer: "proceed" });
      run = await runbooks().settle(run.id);
      expect(run.status).toBe("awaiting_approval");
      const approval = (run.steps[3].awaiting as any).approval;
      expect(approval.risk).toBe(req.risk.level);
      expect(approval.requiredApprovals).toEqual(req.risk.requiredApprovals);
      expect(approval.requiredApprovals.description).toBe("1 approval from platform");

      const erin = await h.call("erin", "POST", `/runbook-runs/${run.id}/steps/4/approve`, { digest: approval.digest });
      expect(erin.status).toBe(403);
      expect(erin.body.error).toEqual({ code: "not_an_approver", message: "a high-risk runbook step needs approval from platform, and erin is not in it" });
      expect((await h.call("alice", "GET", "/instances")).body.instances.find((i: any) => i.name === "gate-db").params.tier).toBe("small");

      const digests: string[] = [];
      const engine = h.service.engine;
      const apply = engine.apply.bind(engine);
      engine.apply = async (op, options) => {
        digests.push(options.digest);
        return apply(op, options);
      };
      try {
        expect((await h.call("bob", "POST", `/runbook-runs/${run.id}/steps/4/approve`, { digest: approval.digest })).status).toBe(200);
        run = await runbooks().settle(run.id);
      } finally {
        engine.apply = apply;
      }
      expect(run.status).toBe("succeeded");
      // The engine was handed the digest bob approved, and nothing else.
      expect(digests).toEqual([approval.digest]);
      const audit = (await h.call("bob", "GET", "/audit")).body.entries.filter((e: any) => e.requestId === run.id).map((e: any) => `${e.actor} ${e.action}`);
      expect(audit).toContain("bob runbook.approve");
      expect(audit.indexOf("bob runbook.approve")).toBeLessThan(audit.indexOf("alice runbook.engine.up"));
    });

    it("the engine's guard refusing the admitted digest sends the step back for approval", async () => {
      await created("alice", pg("guard-db", "prod"));
      let run = await start("alice", "scale-instance", { team: "payments", environment: "prod", name: "guard-db", tier: "medium" });
      await h.call("alice", "POST", `/runbook-runs/${run.id}/steps/3/answer`, { answer: "proceed" });
      run = await runbooks().settle(run.id);
      const first = (run.steps[3].awaiting as any).approval;
      const engine = h.service.engine;
      const apply = engine.apply.bind(engine);
      engine.apply = async (_op, options) => {
        throw new PreviewChangedError(options.digest, `sha256:${"e".repeat(64)}`);
      };
      try {
        await h.call("bob", "POST", `/runbook-runs/${run.id}/steps/4/approve`, { digest: first.digest });
        run = await runbooks().settle(run.id);
      } finally {
        engine.apply = apply;
      }
      expect(run.status).toBe("awaiting_approval");
      expect(run.steps[3].output).toBe("the plan changed since it was approved: approve the new plan");
      const again = (run.steps[3].awaiting as any).approval;
      expect(again.progress).toBe("0 of 1 from platform");
      await h.call("carol", "POST", `/runbook-runs/${run.id}/steps/4/approve`, { digest: again.digest });
      expect((await runbooks().settle(run.id)).status).toBe("succeeded");
    });

    it("an expired step approval is planned again and can then be approved (approve and resume)", async () => {
      await created("alice", pg("old-db", "prod"));
      let run = await start("alice", "decommission-instance", { team: "payments", environment: "prod", name: "old-db" });
      const first = (run.steps[3].awaiting as any).approval;
      await h.call("bob", "POST", `/runbook-runs/${run.id}/steps/4/approve`, { digest: first.digest });
      h.clock.advance(25 * 60 * 60 * 1000);
      const late = await h.call("carol", "POST", `/runbook-runs/${run.id}/steps/4/approve`, { digest: first.digest });
      expect(late.status).toBe(409);
      run = await runbooks().view(run.id);
      const second = (run.steps[3].awaiting as any).approval;
      expect(late.body.error).toEqual({
        code: "expired",
        message: `the plan waited longer than the approval expiry: it was planned again; approve digest ${second.digest} after reviewing it`,
      });
      expect(run.steps[3].output).toBe("the approval wait expired: planned again, approve the new plan");
      // bob's approval belonged to the expired wait: two fresh ones are needed.
      expect(second.progress).toBe("0 of 2 from platform");
      h.clock.advance(25 * 60 * 60 * 1000);
      const resumed = await h.call("alice", "POST", `/runbook-runs/${run.id}/resume`);
      expect(resumed.status).toBe(200);
      const third = (resumed.body.steps[3].awaiting as any).approval;
      expect(new Date(resumed.body.updatedAt).getTime()).toBe(h.clock.now().getTime());
      await h.call("carol", "POST", `/runbook-runs/${run.id}/steps/4/approve`, { digest: third.digest });
      await h.call("bob", "POST", `/runbook-runs/${run.id}/steps/4/approve`, { digest: third.digest });
      expect((await runbooks().settle(run.id)).status).toBe("succeeded");
    });

    it("a runbook's change the door would refuse is refused before any preview", async () => {
      await created("alice", pg("src-db"));
      const run = await start("alice", "restore-database-from-snapshot", {
        team: "payments",
        environment: "dev",
        name: "src-db",
        snapshotIdentifier: "snap-1",
        newName: "src--copy",
      });
      expect(run.status).toBe("failed");
      expect(run.error).toMatch(/^step 3 \(Create the restored database\) could not be planned: the change is not valid: name: /);
      expect((await h.call("alice", "GET", "/instances")).body.instances.map((i: any) => i.name)).not.toContain("src--copy");
    });

    it("a runbook never reaches another team's instance", async () => {
      const other = await start("alice", "scale-instance", { team: "search", environment: "dev", name: "gate-db", tier: "large" }).catch((e) => e);
      expect(other).toBeInstanceOf(Error);
      const res = await h.call("alice", "POST", "/runbooks/scale-instance/runs", {
        params: { team: "search", environment: "dev", name: "x-db", tier: "large" },
      });
      expect(res.status).toBe(403);
      expect(res.body.error).toEqual({ code: "not_a_team_member", message: "alice is not a member of team search" });
    });
  });

  describe("stack identity", () => {
    it("look-alike names never cross teams, and errors reveal nothing of another team", async () => {
      const franks = await as("frank-dev-token", "POST", "/requests", {
        team: "payments-dev",
        environment: "prod",
        offering: "queue",
        name: "ledger",
        params: {},
      });
      expect(franks.status).toBe(202);
      await h.drain();
      const ledger = (await as("frank-dev-token", "GET", `/requests/${franks.body.id}`)).body;
      expect(ledger.status).toBe("awaiting_approval");
      await h.call("bob", "POST", `/requests/${ledger.id}/approve`, { digest: ledger.preview.digest });
      await h.drain();
      expect(ledger.stack).toBe("payments-dev.prod.ledger");

      // alice's look-alike update finds nothing: payments has no dev prod-ledger.
      const update = await h.call("alice", "POST", "/requests", {
        team: "payments",
        environment: "dev",
        offering: "queue",
        name: "prod-ledger",
        action: "update",
        params: { fifo: false },
      });
      expect(update.status).toBe(409);
      expect(update.body.error).toEqual({ code: "instance_not_found", message: "there is no instance prod-ledger in payments/dev to update" });
      // Her create is her own instance, on its own stack.
      const create = await request("alice", { team: "payments", environment: "dev", offering: "queue", name: "prod-ledger", params: {} });
      expect(create.status).toBe("succeeded");
      expect(create.stack).toBe("payments.dev.prod-ledger");
      const franksInstances = (await as("frank-dev-token", "GET", "/instances")).body.instances;
      expect(franksInstances.map((i: any) => `${i.team}/${i.environment}/${i.name} ${i.stack}`)).toEqual(["payments-dev/prod/ledger payments-dev.prod.ledger"]);
      expect(await h.service.engine.inspect("payments-dev.prod.ledger")).toMatchObject({ resources: expect.any(Number) });
      expect((await h.service.engine.inspect("payments-dev.prod.ledger")).resources).toBeGreaterThan(0);
    });

    it("an instance made before keeps its stack, and is found by team, environment and name", async () => {
      const at = h.clock.now().toISOString();
      await h.service.store.upsertInstance({
        stack: "payments-dev-prod-audit",
        team: "payments-dev",
        environment: "prod",
        name: "audit",
        offering: "queue",
        params: "{}",
        outputs: "{}",
        status: "active",
        needs_refresh: 0,
        created_at: at,
        updated_at: at,
      });
      // alice's look-alike (payments/dev/prod-audit) would have mapped to that stack name.
      const create = await request("alice", { team: "payments", environment: "dev", offering: "queue", name: "prod-audit", params: {} });
      expect(create.status).toBe("succeeded");
      expect(create.stack).toBe("payments.dev.prod-audit");
      const legacy = await as("frank-dev-token", "POST", "/requests", {
        team: "payments-dev",
        environment: "prod",
        offering: "queue",
        name: "audit",
        action: "update",
        params: { visibilityTimeoutSeconds: 60 },
      });
      expect(legacy.status).toBe(202);
      expect(legacy.body.stack).toBe("payments-dev-prod-audit");
      await h.service.app.inject({ method: "POST", url: `/requests/${legacy.body.id}/cancel`, headers: { authorization: "Bearer frank-dev-token" } });
    });
  });

  describe("snapshots", () => {
    it("a restore from another team's snapshot is high; from the team's own, unchanged", async () => {
      await created("dave", { team: "search", environment: "prod", offering: "postgres", name: "index-db", params: { tier: "small" } });
      const theirs = finalSnapshotIdentifier("index-db", { team: "search", environment: "prod" });
      const foreign = await request("alice", pg("copy-db", "dev", { tier: "small", snapshotIdentifier: theirs }));
      expect(foreign.status).toBe("awaiting_approval");
      expect(foreign.risk.level).toBe("high");
      expect(foreign.risk.requiredApprovals.description).toBe("1 approval from platform");
      expect(foreign.risk.reasons[0]).toBe(
        `restores postgres from snapshot ${theirs}, which is not a final snapshot of team payments's instances: it may hold another team's data`,
      );
      await h.call("alice", "POST", `/requests/${foreign.id}/cancel`);

      await created("alice", pg("main-db", "prod"));
      const ours = finalSnapshotIdentifier("main-db", { team: "payments", environment: "prod" });
      const own = await request("alice", pg("copy-db", "dev", { tier: "small", snapshotIdentifier: `arn:aws:rds:eu-west-1:123456789012:snapshot:${ours}` }));
      expect(own.risk.level).toBe("low");
      expect(own.status).toBe("succeeded");
    });
  });
}

describe("the gate", () => {
  const gate = new Gate(config(), () => new Date("2026-11-25T10:00:00Z"));
  const person = (name: string) => config().person(name)!;
  const subject = {
    noun: "request",
    team: "payments",
    requestedBy: "alice",
    requirement: { level: "critical" as const, auto: false, count: 2, group: "platform", description: "2 approvals from platform" },
    digest: "sha256:a",
    awaitingSince: "2026-11-25T09:00:00Z",
  };

  it("raises a change by an extra finding, and a human gate ignores autonomy", () => {
    const create = { op: "create" as const, urn: "u", type: "aws:sqs/queue:Queue", name: "q", changedKeys: [], replaceKeys: [] };
    const plain = gate.assess({ team: "payments", environment: "dev", steps: [create] });
    expect(plain).toMatchObject({ level: "low", reasons: ["creates aws:sqs/queue:Queue q"], requirement: { auto: true } });
    const raised = gate.assess({ team: "payments", environment: "dev", steps: [create], extra: [{ atLeast: "high", reason: "a foreign snapshot" }] });
    expect(raised).toMatchObject({ level: "high", reasons: ["a foreign snapshot"], requirement: { auto: false, count: 1, group: "platform" } });
    const human = gate.assess({ team: "payments", environment: "dev", steps: [create], raise: "human" });
    expect(human.requirement).toEqual({ level: "low", auto: false, count: 1, description: "1 approval" });
  });

  it("who may approve: never the requester, only the group, the digest shown, before the expiry, once", () => {
    expect(() => gate.checkApprover(person("alice"), subject, "sha256:a", [])).toThrow("the requester cannot approve their own request");
    expect(() => gate.checkApprover(person("erin"), subject, "sha256:a", [])).toThrow(
      "a critical-risk request needs approval from platform, and erin is not in it",
    );
    expect(() => gate.checkApprover(person("bob"), subject, "sha256:b", [])).toThrow("the preview changed: approve digest sha256:a after reviewing it");
    expect(() => gate.checkApprover(person("bob"), { ...subject, awaitingSince: "2026-11-24T09:00:00Z" }, "sha256:a", [])).toThrow(
      "the request waited longer than the approval expiry: it must be previewed again",
    );
    const given = [{ id: 1, by: "bob", at: "2026-11-25T09:30:00Z", digest: "sha256:a" }];
    expect(() => gate.checkApprover(person("bob"), subject, "sha256:a", given)).toThrow("bob already approved this preview");
    expect(() => gate.checkApprover(person("carol"), subject, "sha256:a", given)).not.toThrow();
    expect(gate.progress(subject, given).summary).toBe("1 of 2 from platform: bob");
    expect(gate.count(subject, [...given, { id: 2, by: "carol", at: "2026-11-25T09:40:00Z", digest: "sha256:a" }]).satisfied).toBe(true);
  });

  it("who may see: the team's members and every approver", () => {
    expect(gate.canSee(person("alice"), "payments")).toBe(true);
    expect(gate.canSee(person("dave"), "payments")).toBe(false);
    expect(gate.canSee(person("bob"), "search")).toBe(true);
    expect(gate.visibleTeams(person("dave"))).toEqual(["search"]);
    expect(gate.visibleTeams(person("bob"))).toBeUndefined();
  });
});
