/**
 * Earned autonomy and agents, decided by the gate from a track record (a pure function,
 * tested directly): promotion after the configured record, demotion on a failure, a
 * rejection, a rollback or a revocation, the reason named, never for critical; an agent's
 * ceiling under its team's, and no approval from an agent at any door.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml, stringify } from "yaml";
import { ConfigError, parseConfig } from "../../automation/config";
import { earnedLevel, TrackEntry } from "../../automation/earned";
import { Gate, GateSubject } from "../../automation/gate";
import type { PlannedStep } from "../../automation/steps";
import { ROOT } from "../service/harness";

const NOW = new Date("2026-11-25T10:00:00.000Z");
const RULE = { upTo: "medium" as const, after: 5, withinMs: 30 * 86_400_000 };
const RDS = "aws:rds/instance:Instance";

function config(payments: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  const raw = parseYaml(readFileSync(join(ROOT, "paved.yaml"), "utf8")) as any;
  Object.assign(raw.teams.payments, { earn: { up_to: "medium", after: 5, within: "30d" } }, payments);
  raw.agents = { "deploy-bot": { token: "deploy-bot-token", team: "payments", autonomy: "low" } };
  return parseConfig(stringify({ ...raw, ...extra }), "paved.yaml");
}

/** `n` human-approved successes at `level`, a day apart, the last one `lastDaysAgo` days before NOW. */
function successes(n: number, level: TrackEntry["level"] = "medium", lastDaysAgo = 1): TrackEntry[] {
  return Array.from({ length: n }, (_, i) => ({
    level,
    outcome: "success" as const,
    approved: true,
    at: new Date(NOW.getTime() - (lastDaysAgo + i) * 86_400_000).toISOString(),
  }));
}

const at = (daysAgo: number) => new Date(NOW.getTime() - daysAgo * 86_400_000).toISOString();
const update = (environment = "dev"): PlannedStep[] => [
  { op: "update", type: RDS, name: "ledger-db", urn: `urn:pulumi:${environment}::paved::${RDS}::ledger-db`, changedKeys: ["instanceClass"], replaceKeys: [] },
];

describe("earnedLevel", () => {
  it("earns the level of the last `after` human-approved successes, and nothing before that many", () => {
    expect(earnedLevel(RULE, successes(4), "low", NOW)).toEqual({ successes: 4, since: at(4) });
    expect(earnedLevel(RULE, successes(5), "low", NOW)).toEqual({ level: "medium", successes: 5, since: at(5) });
  });

  it("earns the lowest level among the counted successes, never above up_to", () => {
    const mixed = [...successes(4, "medium"), { level: "low" as const, outcome: "success" as const, approved: true, at: at(0.5) }];
    expect(earnedLevel(RULE, mixed, "none", NOW).level).toBe("low");
    expect(earnedLevel(RULE, successes(5, "high"), "low", NOW).level).toBe("medium");
    // Nothing above what the team already has.
    expect(earnedLevel(RULE, successes(5, "low"), "low", NOW).level).toBeUndefined();
  });

  it.each(["failure", "rejected", "rollback", "revoked"] as const)("drops back to the configured level on a %s, then counts again from there", (outcome) => {
    const record = [...successes(5, "medium", 3), { level: "medium" as const, outcome, approved: outcome !== "revoked", at: at(2) }];
    expect(earnedLevel(RULE, record, "low", NOW)).toEqual({ successes: 0, lastBreak: { outcome, at: at(2) } });
    const after = [...record, ...successes(2, "medium", 0.1).map((e, i) => ({ ...e, at: at(1 - i * 0.1) }))];
    expect(earnedLevel(RULE, after, "low", NOW)).toMatchObject({ successes: 2, lastBreak: { outcome } });
  });

  it("counts only human-approved successes; changes applied alone neither count nor break the record", () => {
    const auto = { level: "medium" as const, outcome: "success" as const, approved: false, at: at(0.5) };
    expect(earnedLevel(RULE, [...successes(4), auto], "low", NOW)).toEqual({ successes: 4, since: at(4) });
    expect(earnedLevel(RULE, [...successes(5), auto], "low", NOW).level).toBe("medium");
  });

  it("counts only what happened within the window", () => {
    expect(earnedLevel(RULE, successes(5, "medium", 27), "low", NOW)).toEqual({ successes: 4, since: at(30) });
  });

  it("earns nothing without a rule (the team did not opt in)", () => {
    expect(earnedLevel(undefined, successes(10), "low", NOW).level).toBeUndefined();
  });

  it("never earns critical", () => {
    expect(earnedLevel({ ...RULE, upTo: "high" }, successes(5, "critical"), "low", NOW).level).toBe("high");
  });
});

describe("the gate's assessment with a track record", () => {
  const gate = new Gate(config(), () => NOW);

  it("auto-applies a change within the earned level, and says why", () => {
    const a = gate.assess({ team: "payments", environment: "dev", steps: update(), record: { offering: "postgres", action: "update", entries: successes(5) } });
    expect(a.level).toBe("medium");
    expect(a.requirement.auto).toBe(true);
    expect(a.reasons[0]).toBe(`auto-applied: medium earned by 5 approved successes of postgres update since ${at(5).slice(0, 10)}`);
    expect(a.earned).toMatchObject({ level: "medium", reason: a.reasons[0] });
  });

  it("sends the same change to a person with one success fewer, or after a failure", () => {
    const fewer = gate.assess({
      team: "payments",
      environment: "dev",
      steps: update(),
      record: { offering: "postgres", action: "update", entries: successes(4) },
    });
    expect(fewer.requirement).toMatchObject({ auto: false, count: 1 });
    expect(fewer.earned).toBeUndefined();
    const failed = [...successes(5, "medium", 2), { level: "medium" as const, outcome: "failure" as const, approved: false, at: at(1) }];
    const demoted = gate.assess({ team: "payments", environment: "dev", steps: update(), record: { offering: "postgres", action: "update", entries: failed } });
    expect(demoted.requirement.auto).toBe(false);
  });

  it("never lets a prod critical change apply alone, whatever the record", () => {
    const high = new Gate(config({ earn: { up_to: "high", after: 5, within: "30d" } }), () => NOW);
    const destroy: PlannedStep[] = [
      { op: "delete", type: RDS, name: "ledger-db", urn: `urn:pulumi:prod::paved::${RDS}::ledger-db`, changedKeys: [], replaceKeys: [] },
    ];
    const a = high.assess({
      team: "payments",
      environment: "prod",
      steps: destroy,
      record: { offering: "postgres", action: "destroy", entries: successes(20, "critical") },
    });
    expect(a.level).toBe("critical");
    expect(a.requirement).toMatchObject({ auto: false, count: 2, group: "platform" });
  });

  it("holds an agent to its own ceiling, under the team's, and names it", () => {
    const raw = parseYaml(readFileSync(join(ROOT, "paved.yaml"), "utf8")) as any;
    raw.teams.payments.autonomy = "medium";
    raw.agents = { "deploy-bot": { token: "deploy-bot-token", team: "payments", autonomy: "low" } };
    const c = parseConfig(stringify(raw), "paved.yaml");
    const g = new Gate(c, () => NOW);
    const bot = c.person("deploy-bot")!;
    expect(bot).toEqual({ name: "deploy-bot", teams: ["payments"], groups: [], agent: { autonomy: "low" } });
    const byPerson = g.assess({ team: "payments", environment: "dev", steps: update(), requester: c.person("alice") });
    expect(byPerson.requirement.auto).toBe(true);
    const byAgent = g.assess({ team: "payments", environment: "dev", steps: update(), requester: bot });
    expect(byAgent.requirement).toMatchObject({ auto: false, count: 1 });
    expect(byAgent.reasons.at(-1)).toBe("deploy-bot is an agent that applies alone only up to low risk: a person approves this medium-risk change");
  });
});

describe("agents never approve or reject, at the gate every door asks", () => {
  const c = config();
  const gate = new Gate(c, () => NOW);
  const subject: GateSubject = {
    noun: "runbook step",
    team: "payments",
    requestedBy: "alice",
    requirement: { level: "low", auto: false, count: 1, description: "1 approval" },
    digest: "sha256:" + "0".repeat(64),
    awaitingSince: NOW.toISOString(),
  };
  it("refuses the approval and the rejection with agents_cannot_approve", () => {
    const bot = c.authenticate("deploy-bot-token")!;
    expect(() => gate.checkApprover(bot, subject, subject.digest, [])).toThrow(
      expect.objectContaining({
        kind: "forbidden",
        code: "agents_cannot_approve",
        message: "deploy-bot is an agent: agents cannot approve a runbook step, a person must",
      }),
    );
    expect(() => gate.checkRejecter(bot, subject)).toThrow(expect.objectContaining({ code: "agents_cannot_approve" }));
    // Even if someone listed the agent as an approver.
    expect(() => gate.checkApprover({ ...bot, groups: ["platform"] }, subject, subject.digest, [])).toThrow(
      expect.objectContaining({ code: "agents_cannot_approve" }),
    );
  });
});

describe("config", () => {
  const errorOf = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      return (err as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
    }
    throw new Error("no error");
  };

  it("refuses up_to: critical", () => {
    expect(errorOf(() => config({ earn: { up_to: "critical", after: 5, within: "30d" } }))).toEqual([
      "teams.payments.earn.up_to: must be low, medium or high: critical changes are never earned away from humans",
    ]);
  });

  it("refuses an agent above its team, of an unknown team, or with a person's name", () => {
    expect(errorOf(() => config({}, { agents: { "deploy-bot": { token: "deploy-bot-token", team: "payments", autonomy: "medium" } } }))).toEqual([
      'agents.deploy-bot.autonomy: "medium" is above team payments\'s autonomy "low": an agent\'s autonomy is a ceiling under its team\'s',
    ]);
    expect(errorOf(() => config({}, { agents: { bot: { token: "bot-token-123", team: "nope" } } }))).toEqual(['agents.bot.team: "nope" is not in teams']);
    expect(errorOf(() => config({}, { agents: { alice: { token: "bot-token-123", team: "payments" } } }))).toEqual([
      'agents.alice: "alice" is also in people: an agent needs a name of its own',
    ]);
    expect(errorOf(() => config({ earn: { up_to: "medium", after: 5, within: "monthly" } }))).toEqual([
      'teams.payments.earn.within: "monthly" is not a positive duration like 30d or 72h',
    ]);
  });

  it("refuses an agent's token in plain text outside a demo, and a token shared with a person", () => {
    expect(errorOf(() => config({}, { agents: { bot: { token: "alice-dev-token", team: "payments" } } }))).toEqual([
      "agents.bot.token: is the same token as alice's: each person needs a token of their own",
    ]);
  });
});
