/**
 * Runbooks on the simulate engine, through the service's API: each runbook's dry run,
 * full runs with a decision answered, a manual step confirmed, a pause for approval with
 * self-approval refused, a failing step, a stuck stack recovered; and the generated
 * documents are up to date.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runbookDocs } from "../../runbooks/generateDocs";
import { pg, ROOT, useHarness } from "../service/harness";

const h = useHarness();

/** Creates an instance through the API; prod ones are approved by bob. */
async function instance(body: Record<string, unknown>) {
  const res = await h.call("alice", "POST", "/requests", body);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  await h.drain();
  let row = (await h.call("alice", "GET", `/requests/${res.body.id}`)).body;
  if (row.status === "awaiting_approval") {
    await h.call("bob", "POST", `/requests/${row.id}/approve`, { digest: row.preview.digest });
    await h.drain();
    row = (await h.call("alice", "GET", `/requests/${res.body.id}`)).body;
  }
  expect(row.status).toBe("succeeded");
  return row;
}

async function start(id: string, params: Record<string, unknown>, dryRun = false, who: "alice" | "bob" = "alice") {
  const res = await h.call(who, "POST", `/runbooks/${id}/runs`, { params, dryRun });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return h.service.runbooks.settle(res.body.id);
}

const settle = (id: string) => h.service.runbooks.settle(id);
const statuses = (run: { steps: { status: string }[] }) => run.steps.map((s) => s.status);

describe("the runbook list and its API errors", () => {
  it("lists the five runbooks with their params' JSON Schema", async () => {
    const res = await h.call("alice", "GET", "/runbooks");
    expect(res.body.runbooks.map((r: any) => `${r.id} ${r.level} ${r.steps}`)).toEqual([
      "rotate-cache-credentials scripted 3",
      "scale-instance scripted 4",
      "restore-database-from-snapshot scripted 5",
      "decommission-instance scripted 4",
      "recover-stuck-stack scripted 3",
    ]);
    expect(res.body.runbooks[1].params.properties.tier.enum).toEqual(["small", "medium", "large"]);
  });

  it("404 for an unknown runbook, 400 with issues for bad params, 403 outside the team", async () => {
    const unknown = await h.call("alice", "POST", "/runbooks/reboot-everything/runs", { params: {} });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("runbook_not_found");
    const bad = await h.call("alice", "POST", "/runbooks/scale-instance/runs", {
      params: { team: "payments", environment: "dev", name: "x-db", tier: "huge", force: true },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toEqual({
      code: "invalid_params",
      message: "the params are not valid for runbook scale-instance",
      issues: [
        { path: "params.tier", message: '"huge" is not one of small, medium, large' },
        { path: "params.force", message: 'unknown key "force"' },
      ],
    });
    const outsider = await h.call("dave", "POST", "/runbooks/scale-instance/runs", {
      params: { team: "payments", environment: "dev", name: "x-db", tier: "large" },
    });
    expect(outsider.status).toBe(403);
  });
});

describe("scale-instance", () => {
  it("dry run: runs the checks, lists the rest", async () => {
    await instance(pg("scale-db"));
    const run = await start("scale-instance", { team: "payments", environment: "dev", name: "scale-db", tier: "medium" }, true);
    expect(run.status).toBe("succeeded");
    expect(run.dryRun).toBe(true);
    expect(statuses(run)).toEqual(["succeeded", "succeeded", "skipped", "skipped"]);
    expect(run.steps[1].output).toBe("expected: a tier other than medium\nobserved: current tier small");
    expect(run.steps[2].output).toBe("dry run: would ask: Resizing scale-db restarts it (a few minutes; multi-AZ instances fail over). Go ahead now?");
    expect(run.steps[3].output).toBe("dry run: would update payments/dev/scale-db to tier medium: medium risk, 1 approval");
    const instances = (await h.call("alice", "GET", "/instances")).body.instances;
    expect(instances.find((i: any) => i.name === "scale-db").params.tier).toBe("small");
  });

  it("waits for the decision, then applies the tier through the engine", async () => {
    const run = await start("scale-instance", { team: "payments", environment: "dev", name: "scale-db", tier: "medium" });
    expect(run.status).toBe("awaiting_answer");
    expect(run.currentStep).toBe(3);
    expect(run.steps[2].awaiting).toEqual({
      answer: { question: "Resizing scale-db restarts it (a few minutes; multi-AZ instances fail over). Go ahead now?", options: ["proceed", "stop"] },
    });
    const wrong = await h.call("alice", "POST", `/runbook-runs/${run.id}/steps/3/answer`, { answer: "yes" });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error).toEqual({ code: "invalid_answer", message: '"yes" is not one of proceed, stop' });
    const early = await h.call("alice", "POST", `/runbook-runs/${run.id}/steps/4/answer`, { answer: "done" });
    expect(early.status).toBe(409);
    const ok = await h.call("alice", "POST", `/runbook-runs/${run.id}/steps/3/answer`, { answer: "proceed" });
    expect(ok.status).toBe(200);
    // The resize is gated as the same update request would be: medium, above the team's
    // autonomy (low), so one approval from someone other than alice.
    const waiting = await settle(run.id);
    expect(waiting.status).toBe("awaiting_approval");
    const approval = (waiting.steps[3].awaiting as any).approval;
    expect(approval).toMatchObject({
      risk: "medium",
      requiredApprovals: { level: "medium", auto: false, count: 1, description: "1 approval" },
      progress: "0 of 1",
    });
    expect(approval.reasons).toEqual(["updates aws:rds/instance:Instance scale-db-db (allocatedStorage, instanceClass, maxAllocatedStorage)"]);
    const self = await h.call("alice", "POST", `/runbook-runs/${run.id}/steps/4/approve`, { digest: approval.digest });
    expect(self.body.error).toEqual({ code: "self_approval", message: "the requester cannot approve their own runbook step" });
    expect((await h.call("bob", "POST", `/runbook-runs/${run.id}/steps/4/approve`, { digest: approval.digest })).status).toBe(200);
    const done = await settle(run.id);
    expect(done.status).toBe("succeeded");
    expect(statuses(done)).toEqual(["succeeded", "succeeded", "succeeded", "succeeded"]);
    expect(done.steps[3].output).toContain("update payments/dev/scale-db: same 4, update 1");
    expect(done.steps[3].output).toContain("verify: tier medium");
    const instances = (await h.call("alice", "GET", "/instances")).body.instances;
    expect(instances.find((i: any) => i.name === "scale-db").params.tier).toBe("medium");
    const audit = (await h.call("alice", "GET", "/audit")).body.entries.filter((e: any) => e.requestId === run.id).map((e: any) => `${e.actor} ${e.action}`);
    expect(audit).toEqual([
      "alice runbook.start",
      "alice runbook.answer",
      "paved runbook.awaiting-approval",
      "bob runbook.approve",
      "alice runbook.engine.up",
      "paved runbook.action",
      "paved runbook.succeeded",
    ]);
  });

  it("a failing check stops the run and says what to do next", async () => {
    const run = await start("scale-instance", { team: "payments", environment: "dev", name: "scale-db", tier: "medium" });
    expect(run.status).toBe("failed");
    expect(statuses(run)).toEqual(["succeeded", "failed", "pending", "pending"]);
    expect(run.error).toBe(
      "step 2 (The tier changes): expected a tier other than medium, observed current tier medium. Next: Nothing to do: the instance already has this tier.",
    );
  });

  it("holds the stack while it applies, and will not apply while a job runs on it", async () => {
    const store = h.service.store;
    // A request's job running on the stack on some replica.
    await store.enqueueJob({ request_id: "req-elsewhere", kind: "apply", stack: "payments.dev.scale-db", at: h.clock.now().toISOString() });
    const job = (await store.claimJob("other-replica", h.clock.now().toISOString(), new Date(h.clock.now().getTime() + 60_000).toISOString()))!;
    const run = await start("scale-instance", { team: "payments", environment: "dev", name: "scale-db", tier: "small" });
    await h.call("alice", "POST", `/runbook-runs/${run.id}/steps/3/answer`, { answer: "proceed" });
    const approval = ((await settle(run.id)).steps[3].awaiting as any).approval;
    await h.call("bob", "POST", `/runbook-runs/${run.id}/steps/4/approve`, { digest: approval.digest });
    const failed = await settle(run.id);
    expect(failed.status).toBe("failed");
    expect(failed.error).toBe(
      "step 4 (Apply the new tier) failed: another operation is running on stack payments.dev.scale-db. Next: Read the step's output: where the change went through, its rollback put the previous tier back. Then run again.",
    );
    // The rollback drops what the team earned for the offering (earned autonomy starts again).
    const record = await store.trackRecord("payments", "2000-01-01T00:00:00.000Z", { agent: "", offering: "postgres", action: "update" });
    expect(record[0]).toMatchObject({ outcome: "rollback", request_id: null });
    await store.finishJob(job.id, "other-replica", "done", h.clock.now().toISOString());
    // While a runbook holds the stack, no request job of it is claimed.
    const lock = (await store.lockStack(
      "payments.dev.scale-db",
      "runbook:x",
      "x",
      h.clock.now().toISOString(),
      new Date(h.clock.now().getTime() + 60_000).toISOString(),
    ))!;
    await store.enqueueJob({ request_id: "req-later", kind: "preview", stack: "payments.dev.scale-db", at: h.clock.now().toISOString() });
    expect(await store.claimJob("any", h.clock.now().toISOString(), new Date(h.clock.now().getTime() + 60_000).toISOString())).toBeUndefined();
    await store.finishJob(lock.id, "runbook:x", "done", h.clock.now().toISOString());
    const freed = await store.claimJob("any", h.clock.now().toISOString(), new Date(h.clock.now().getTime() + 60_000).toISOString());
    expect(freed?.request_id).toBe("req-later");
    await store.finishJob(freed!.id, "any", "done", h.clock.now().toISOString());
  });

  it("a 'stop' decision ends the run there, changing nothing", async () => {
    const run = await start("scale-instance", { team: "payments", environment: "dev", name: "scale-db", tier: "large" });
    await h.call("alice", "POST", `/runbook-runs/${run.id}/steps/3/answer`, { answer: "stop" });
    const done = await settle(run.id);
    expect(done.status).toBe("succeeded");
    expect(done.steps[2].output).toBe('answered "stop": the run stops here');
    expect(done.steps[3].status).toBe("pending");
  });
});

describe("rotate-cache-credentials", () => {
  it("applies a new token version, verifies it, and waits for the clients' restart", async () => {
    await instance({ team: "payments", environment: "dev", offering: "redis", name: "sessions-cache", params: { tier: "small" } });
    const before = JSON.parse((await h.service.store.getStackState("payments.dev.sessions-cache"))!);
    const waiting = await start("rotate-cache-credentials", { team: "payments", environment: "dev", name: "sessions-cache" });
    // A new token replaces the password and updates the secret holding it: the secret
    // controls access, so high, as the same update request would be: a platform approver.
    expect(waiting.status).toBe("awaiting_approval");
    const approval = (waiting.steps[1].awaiting as any).approval;
    expect(approval.risk).toBe("high");
    expect(approval.requiredApprovals.description).toBe("1 approval from platform");
    await h.call("bob", "POST", `/runbook-runs/${waiting.id}/steps/2/approve`, { digest: approval.digest });
    const run = await settle(waiting.id);
    expect(run.status).toBe("awaiting_answer");
    expect(run.steps[1].output).toContain("verify: authTokenVersion 2 on payments/dev/sessions-cache");
    expect(run.steps[2].awaiting).toEqual({
      answer: { question: "Restart the services that use sessions-cache, so they read the new token from its secret.", options: ["done", "failed"] },
    });
    await h.call("alice", "POST", `/runbook-runs/${run.id}/steps/3/answer`, { answer: "done" });
    expect((await settle(run.id)).status).toBe("succeeded");
    const after = JSON.parse((await h.service.store.getStackState("payments.dev.sessions-cache"))!);
    const token = (s: any) => s.resources.find((r: any) => r.type === "random:index/randomPassword:RandomPassword");
    expect(token(after).inputs).not.toEqual(token(before).inputs);
    expect(JSON.stringify(after)).not.toMatch(/"result":"[^[]/);
  });

  it("a manual step reported as failed fails the run with its next step", async () => {
    const waiting = await start("rotate-cache-credentials", { team: "payments", environment: "dev", name: "sessions-cache" });
    await h.call("bob", "POST", `/runbook-runs/${waiting.id}/steps/2/approve`, { digest: (waiting.steps[1].awaiting as any).approval.digest });
    const run = await settle(waiting.id);
    await h.call("alice", "POST", `/runbook-runs/${run.id}/steps/3/answer`, { answer: "failed" });
    const done = await settle(run.id);
    expect(done.status).toBe("failed");
    expect(done.error).toBe(
      "step 3 (Restart the cache's clients) failed. Next: The old token stays valid until the next rotation: restart the clients, then confirm.",
    );
  });
});

describe("restore-database-from-snapshot", () => {
  it("creates the restored database beside the original, then stops when both are kept", async () => {
    await instance(pg("billing-db"));
    const waiting = await start("restore-database-from-snapshot", {
      team: "payments",
      environment: "dev",
      name: "billing-db",
      snapshotIdentifier: "billing-db-2026-11-24",
      newName: "billing-db-restored",
    });
    // Not one of the team's own final snapshots: it may hold another team's data, so at least high.
    expect(waiting.status).toBe("awaiting_approval");
    const approval = (waiting.steps[2].awaiting as any).approval;
    expect(approval.risk).toBe("high");
    expect(approval.requiredApprovals.description).toBe("1 approval from platform");
    expect(approval.reasons[0]).toBe(
      "restores postgres from snapshot billing-db-2026-11-24, which is not a final snapshot of team payments's instances: it may hold another team's data",
    );
    await h.call("bob", "POST", `/runbook-runs/${waiting.id}/steps/3/approve`, { digest: approval.digest });
    const run = await settle(waiting.id);
    expect(run.status).toBe("awaiting_answer");
    expect(run.currentStep).toBe(4);
    const restored = (await h.call("alice", "GET", "/instances")).body.instances.find((i: any) => i.name === "billing-db-restored");
    expect(restored.params).toEqual({ tier: "small", snapshotIdentifier: "billing-db-2026-11-24" });
    const state = JSON.parse((await h.service.store.getStackState("payments.dev.billing-db-restored"))!);
    expect(state.resources.find((r: any) => r.type === "aws:rds/instance:Instance").inputs.snapshotIdentifier).toBe("billing-db-2026-11-24");
    await h.call("alice", "POST", `/runbook-runs/${run.id}/steps/4/answer`, { answer: "keep-both" });
    const done = await settle(run.id);
    expect(done.status).toBe("succeeded");
    expect(statuses(done)).toEqual(["succeeded", "succeeded", "succeeded", "succeeded", "pending"]);
  });
});

describe("decommission-instance", () => {
  it("pauses the irreversible destroy for two platform approvals; the starter cannot approve", async () => {
    await instance(pg("legacy-db", "prod"));
    const run = await start("decommission-instance", { team: "payments", environment: "prod", name: "legacy-db" });
    expect(run.status).toBe("awaiting_approval");
    expect(statuses(run)).toEqual(["succeeded", "succeeded", "succeeded", "awaiting_approval"]);
    const awaiting = (run.steps[3].awaiting as any).approval;
    expect(awaiting.risk).toBe("critical");
    expect(awaiting.requiredApprovals).toEqual({ level: "critical", auto: false, count: 2, group: "platform", description: "2 approvals from platform" });
    expect(awaiting.plan[0]).toBe('destroy postgres payments/prod/legacy-db with params {"tier":"small"} (engine simulate)');
    expect(awaiting.plan).toContain("delete aws:rds/instance:Instance legacy-db-db");

    const self = await h.call("alice", "POST", `/runbook-runs/${run.id}/steps/4/approve`, { digest: awaiting.digest });
    expect(self.status).toBe(403);
    expect(self.body.error).toEqual({ code: "self_approval", message: "the requester cannot approve their own runbook step" });
    const stale = await h.call("bob", "POST", `/runbook-runs/${run.id}/steps/4/approve`, { digest: `sha256:${"1".repeat(64)}` });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe("stale_digest");
    const bob = await h.call("bob", "POST", `/runbook-runs/${run.id}/steps/4/approve`, { digest: awaiting.digest });
    expect(bob.body.status).toBe("awaiting_approval");
    const carol = await h.call("carol", "POST", `/runbook-runs/${run.id}/steps/4/approve`, { digest: awaiting.digest });
    expect(carol.status).toBe(200);
    const done = await settle(run.id);
    expect(done.status).toBe("succeeded");
    expect(done.steps[3].approvals.map((a) => a.by)).toEqual(["bob", "carol"]);
    expect(done.steps[3].output).toContain("verify: 0 resource(s) left; instance destroyed");
    expect((await h.call("alice", "GET", "/instances")).body.instances.map((i: any) => i.name)).not.toContain("legacy-db");
  });

  it("a rejection ends the run and keeps the instance", async () => {
    await instance(pg("keep-db", "prod"));
    const run = await start("decommission-instance", { team: "payments", environment: "prod", name: "keep-db" });
    const erin = await h.call("erin", "POST", `/runbook-runs/${run.id}/steps/4/reject`, { reason: "no" });
    expect(erin.status).toBe(403);
    expect(erin.body.error).toEqual({ code: "not_an_approver", message: "a critical-risk runbook step is decided by platform, and erin is not in it" });
    const res = await h.call("carol", "POST", `/runbook-runs/${run.id}/steps/4/reject`, { reason: "still used by reporting" });
    expect(res.body.status).toBe("rejected");
    expect(res.body.error).toBe("step 4 rejected by carol: still used by reporting");
    expect((await h.call("alice", "GET", "/instances")).body.instances.map((i: any) => i.name)).toContain("keep-db");
  });
});

describe("recover-stuck-stack", () => {
  it("nothing stuck: the diagnosis stops the run", async () => {
    const run = await start("recover-stuck-stack", { team: "payments", environment: "prod", name: "keep-db" });
    expect(run.status).toBe("failed");
    expect(run.error).toBe(
      "step 1 (Diagnose): expected the stack is stuck: a dead job, pending operations, or a refresh flag, observed 0 running job(s), 0 with an expired lease; 0 pending operation(s); refresh flag clear; 5 resource(s) in state. Next: Nothing is stuck: no recovery needed.",
    );
  });

  it("a dead job and pending operations: cancel (approved), then refresh", async () => {
    // An update that died mid-apply: its job still running with an expired lease, its changes pending.
    await instance(pg("stuck-db"));
    const req = await h.call("alice", "POST", "/requests", { ...pg("stuck-db"), action: "update", params: { tier: "medium" } });
    await h.drain();
    await h.call("bob", "POST", `/requests/${req.body.id}/approve`, { digest: (await h.call("alice", "GET", `/requests/${req.body.id}`)).body.preview.digest });
    const store = h.service.store;
    const job = (await store.claimJob("dead-replica", h.clock.now().toISOString(), new Date(h.clock.now().getTime() + 1000).toISOString()))!;
    await store.updateRequest(req.body.id, { status: "applying" });
    const state = JSON.parse((await store.getStackState("payments.dev.stuck-db"))!);
    await store.putStackState("payments.dev.stuck-db", JSON.stringify({ ...state, pending: [state.resources[4].urn] }), h.clock.now().toISOString());
    h.clock.advance(5000);

    const run = await start("recover-stuck-stack", { team: "payments", environment: "dev", name: "stuck-db" });
    expect(run.steps[0].output).toBe(
      "expected: the stack is stuck: a dead job, pending operations, or a refresh flag\nobserved: 1 running job(s), 1 with an expired lease; 1 pending operation(s); refresh flag clear; 5 resource(s) in state",
    );
    expect(run.status).toBe("awaiting_approval");
    const awaiting = (run.steps[1].awaiting as any).approval;
    expect(awaiting.risk).toBe("medium");
    expect(awaiting.requiredApprovals.description).toBe("1 approval");
    expect(awaiting.plan).toEqual([`mark 1 job(s) with an expired lease as interrupted (${job.id})`, "pulumi cancel on payments/dev/stuck-db"]);
    await h.call("bob", "POST", `/runbook-runs/${run.id}/steps/2/approve`, { digest: awaiting.digest });
    const done = await settle(run.id);
    expect(done.status).toBe("succeeded");
    expect(done.steps[1].output).toContain("1 job(s) marked interrupted; no update held the lock");
    expect(done.steps[2].output).toContain("1 pending operation(s) cleared");
    expect((await h.call("alice", "GET", `/requests/${req.body.id}`)).body).toMatchObject({ status: "failed", error: "interrupted" });
    expect(await h.service.engine.inspect("payments.dev.stuck-db")).toEqual({ resources: 5, pendingOperations: [] });
    const inst = (await h.call("alice", "GET", "/instances")).body.instances.find((i: any) => i.name === "stuck-db");
    expect(inst.needsRefresh).toBe(false);
  });
});

describe("dry runs", () => {
  it("every runbook's dry run runs only its checks", async () => {
    await instance({ team: "payments", environment: "dev", offering: "queue", name: "dry-queue", params: {} });
    const cases: [string, Record<string, unknown>, string[]][] = [
      ["rotate-cache-credentials", { team: "payments", environment: "dev", name: "sessions-cache" }, ["succeeded", "skipped", "skipped"]],
      ["scale-instance", { team: "payments", environment: "dev", name: "billing-db", tier: "large" }, ["succeeded", "succeeded", "skipped", "skipped"]],
      [
        "restore-database-from-snapshot",
        { team: "payments", environment: "dev", name: "billing-db", snapshotIdentifier: "s-1", newName: "billing-db-2" },
        ["succeeded", "succeeded", "skipped", "skipped", "skipped"],
      ],
      ["decommission-instance", { team: "payments", environment: "dev", name: "dry-queue" }, ["succeeded", "succeeded", "succeeded", "skipped"]],
    ];
    for (const [id, params, expected] of cases) {
      const run = await start(id, params, true);
      expect(`${id} ${run.status} ${statuses(run).join(",")}`).toBe(`${id} succeeded ${expected.join(",")}`);
    }
    const decommission = await start("decommission-instance", { team: "payments", environment: "dev", name: "dry-queue" }, true);
    // The queue's access policy goes with it: high, as the same destroy request would be.
    expect(decommission.steps[3].output).toBe("dry run: would destroy payments/dev/dry-queue and every resource in it: high risk, 1 approval from platform");
    expect((await h.call("alice", "GET", "/instances")).body.instances.map((i: any) => i.name)).toContain("dry-queue");
  });
});

describe("documents", () => {
  it("docs/runbooks are generated from the definitions and up to date (npm run docs:runbooks)", () => {
    for (const [file, body] of Object.entries(runbookDocs())) {
      expect(readFileSync(join(ROOT, "docs", "runbooks", file), "utf8"), `docs/runbooks/${file} is stale: run npm run docs:runbooks`).toBe(body);
    }
  });
});
