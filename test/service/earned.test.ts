/**
 * Earned autonomy through the service, on both stores: human-approved successes of one
 * offering and action earn its level (up to `up_to`), the auto-applied request names why
 * (in its reasons and its audit), `GET /teams/:team/autonomy` shows the level and record;
 * a failed apply or an approver's revocation (audited) drops it back.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresUnavailable } from "../postgres";
import { Harness, pg, startHarness, STORES, StoreKind, testConfig } from "./harness";

const EARN = { up_to: "medium", after: 3, within: "30d" };

function config() {
  const base = testConfig();
  return testConfig({ teams: { ...base.teams, payments: { ...base.teams.payments, earn: EARN } } });
}

for (const store of STORES) {
  const skip = store === "postgres" ? postgresUnavailable() : undefined;
  if (skip) console.log(`earned autonomy on postgres skipped: ${skip}`);
  describe.skipIf(skip !== undefined)(`on ${store}`, () => suite(store));
}

function suite(store: StoreKind) {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(config(), store);
    const created = await h.call("alice", "POST", "/requests", pg("ledger"));
    await h.drain();
    expect((await h.call("alice", "GET", `/requests/${created.body.id}`)).body.status).toBe("succeeded");
  }, 60_000);
  afterAll(async () => {
    await h.close();
  });

  let tier = "small";
  /** alice updates ledger's tier; returns the request once previewed. */
  async function update() {
    tier = tier === "small" ? "medium" : "small";
    h.clock.advance(60_000);
    const res = await h.call("alice", "POST", "/requests", { ...pg("ledger", "dev", { tier }), action: "update" });
    expect(res.status).toBe(202);
    await h.drain();
    return (await h.call("alice", "GET", `/requests/${res.body.id}`)).body;
  }
  async function approvedUpdate() {
    const r = await update();
    expect(r.status).toBe("awaiting_approval");
    expect(r.risk.level).toBe("medium");
    await h.call("bob", "POST", `/requests/${r.id}/approve`, { digest: r.preview.digest });
    await h.drain();
    return (await h.call("alice", "GET", `/requests/${r.id}`)).body;
  }
  const autonomy = async () => (await h.call("alice", "GET", "/teams/payments/autonomy")).body;
  const since = () => h.clock.now().toISOString().slice(0, 10);

  it("promotes after the configured record, names why, and shows it", async () => {
    for (let i = 0; i < EARN.after; i++) expect((await approvedUpdate()).status).toBe("succeeded");
    const r = await update();
    expect(r.status).toBe("succeeded");
    const reason = `auto-applied: medium earned by 3 approved successes of postgres update since ${since()}`;
    expect(r.risk.reasons[0]).toBe(reason);
    expect(r.risk.earned).toBe(reason);
    expect(r.risk.requiredApprovals.auto).toBe(true);
    const audit = (await h.call("alice", "GET", `/audit?requestId=${r.id}`)).body.entries.find((e: any) => e.action === "request.auto-approved");
    expect(audit.detail).toMatchObject({ risk: "medium", autonomy: "low", earned: reason });
    const view = await autonomy();
    expect(view).toMatchObject({ team: "payments", autonomy: "low", earn: { upTo: "medium", after: 3, within: "30d" } });
    const rec = view.records.find((x: any) => x.offering === "postgres" && x.action === "update");
    expect(rec).toMatchObject({ agent: null, level: "medium", earned: "medium", successes: 3, lastBreak: null });
    expect(rec.reason).toBe(reason.replace("auto-applied: ", ""));
    // The auto-applied success is in the record, not counted as approved.
    expect(rec.record.map((e: any) => [e.outcome, e.approved])).toEqual([
      ["success", false],
      ["success", true],
      ["success", true],
      ["success", true],
    ]);
    // The create is its own record: nothing earned there.
    expect(view.records.find((x: any) => x.action === "create")).toMatchObject({ level: "low", earned: null });
  });

  it("demotes on a failed apply", async () => {
    const engine = h.service.engine;
    const original = engine.apply.bind(engine);
    engine.apply = async () => {
      engine.apply = original;
      throw new Error("the database refused the change");
    };
    const failed = await update();
    expect(failed.status).toBe("failed");
    expect(failed.risk.earned).toBeDefined();
    // Nothing changed: the next update asks for the same tier again.
    tier = tier === "small" ? "medium" : "small";
    const rec = (await autonomy()).records.find((x: any) => x.offering === "postgres" && x.action === "update");
    expect(rec).toMatchObject({ level: "low", earned: null, successes: 0, lastBreak: { outcome: "failure" } });
    const next = await update();
    expect(next.status).toBe("awaiting_approval");
    expect(next.risk.earned).toBeUndefined();
    await h.call("bob", "POST", `/requests/${next.id}/approve`, { digest: next.preview.digest });
    await h.drain();
  });

  it("an approver revokes earned autonomy (audited); a person of the team cannot", async () => {
    for (let i = 0; i < EARN.after - 1; i++) await approvedUpdate();
    expect((await autonomy()).records.find((x: any) => x.action === "update")).toMatchObject({ earned: "medium" });
    const body = { offering: "postgres", action: "update", reason: "the schema migration is risky this week" };
    const refused = await h.call("alice", "POST", "/teams/payments/autonomy/revoke", body);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe("not_an_approver");
    const revoked = await h.call("bob", "POST", "/teams/payments/autonomy/revoke", body);
    expect(revoked.status).toBe(200);
    expect(revoked.body.records.find((x: any) => x.action === "update")).toMatchObject({ earned: null, lastBreak: { outcome: "revoked" } });
    const entry = (await h.call("bob", "GET", "/audit")).body.entries.find((e: any) => e.action === "autonomy.revoke");
    expect(entry).toMatchObject({ actor: "bob", actorKind: "person", detail: { team: "payments", ...body } });
    expect((await update()).status).toBe("awaiting_approval");
  });

  it("a team the person cannot see is not found", async () => {
    const res = await h.call("dave", "GET", "/teams/payments/autonomy");
    expect(res).toMatchObject({ status: 404, body: { error: { code: "team_not_found", message: "there is no team payments" } } });
  });
}
