/**
 * A team's autonomy as it stands: the configured level, and per offering and action (and
 * per agent) what its track record earned, with the record; and the revocation of earned
 * autonomy by an approver (audited). The decision itself is the gate's (`earned.ts`).
 */
import type { Person } from "./config";
import { DomainError } from "./errors";
import { earnedReason, Outcome, TrackEntry } from "./earned";
import type { Autonomy, RiskLevel } from "./risk";
import type { Workflow } from "./workflow";

export interface AutonomyRecordView {
  offering: string;
  action: string;
  /** The agent whose own record this is; null for the team's people. */
  agent: string | null;
  /** What applies alone now: the earned level, or the configured autonomy. */
  level: Autonomy;
  earned: RiskLevel | null;
  /** Why, when earned (the words an auto-applied request carries). */
  reason: string | null;
  successes: number;
  since: string | null;
  lastBreak: { outcome: Outcome; at: string } | null;
  record: { outcome: Outcome; level: RiskLevel; approved: boolean; at: string; requestId: string | null }[];
}

export interface TeamAutonomyView {
  team: string;
  autonomy: Autonomy;
  /** Per environment where it differs from the team's. */
  environments: Record<string, Autonomy>;
  earn: { upTo: RiskLevel; after: number; within: string } | null;
  records: AutonomyRecordView[];
}

function teamOf(workflow: Workflow, person: Person, team: string) {
  const t = workflow.config.teams[team];
  // Someone who may not see the team learns nothing, not even that it exists.
  if (!t || !workflow.canSee(person, team)) throw new DomainError("not_found", "team_not_found", `there is no team ${team}`);
  return t;
}

/** `GET /teams/:team/autonomy`. */
export async function teamAutonomy(workflow: Workflow, person: Person, team: string): Promise<TeamAutonomyView> {
  const t = teamOf(workflow, person, team);
  const rule = workflow.config.earn(team);
  const windowMs = rule?.withinMs ?? 30 * 86_400_000;
  const since = new Date(workflow.gate.now().getTime() - windowMs).toISOString();
  const rows = await workflow.store.trackRecord(team, since);
  const groups = new Map<string, typeof rows>();
  for (const r of rows) {
    const key = JSON.stringify([r.offering, r.action, r.agent]);
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const records = [...groups.entries()].map(([key, list]): AutonomyRecordView => {
    const [offering, action, agent] = JSON.parse(key) as [string, string, string];
    const ceiling = agent ? (workflow.config.person(agent)?.agent?.autonomy ?? "none") : t.autonomy;
    const entries: TrackEntry[] = list.map((r) => ({ level: r.level as RiskLevel, outcome: r.outcome as Outcome, approved: r.approved === 1, at: r.at }));
    const e = workflow.gate.earnedFor(team, ceiling, entries);
    return {
      offering,
      action,
      agent: agent || null,
      level: e.level ?? ceiling,
      earned: e.level ?? null,
      reason: e.level ? earnedReason(e.level, e, offering, action).replace(/^auto-applied: /, "") : null,
      successes: e.successes,
      since: e.since ?? null,
      lastBreak: e.lastBreak ?? null,
      record: list.map((r) => ({ outcome: r.outcome as Outcome, level: r.level as RiskLevel, approved: r.approved === 1, at: r.at, requestId: r.request_id })),
    };
  });
  records.sort((a, b) => `${a.offering} ${a.action} ${a.agent ?? ""}`.localeCompare(`${b.offering} ${b.action} ${b.agent ?? ""}`));
  const environments = Object.fromEntries(
    Object.entries(t.environments)
      .filter(([, env]) => env?.autonomy !== undefined)
      .map(([name, env]) => [name, env!.autonomy!]),
  );
  const raw = t.earn;
  return { team, autonomy: t.autonomy, environments, earn: rule && raw ? { upTo: rule.upTo, after: rule.after, within: raw.within } : null, records };
}

/** An approver takes back what a record earned: it starts again from the configured level. */
export async function revokeEarned(
  workflow: Workflow,
  person: Person,
  team: string,
  input: { offering: string; action: string; agent?: string; reason: string },
): Promise<TeamAutonomyView> {
  teamOf(workflow, person, team);
  workflow.gate.checkRevoker(person, team);
  const at = workflow.gate.now().toISOString();
  await workflow.store.recordOutcome({
    team,
    agent: input.agent ?? "",
    offering: input.offering,
    action: input.action,
    level: "low",
    outcome: "revoked",
    approved: 0,
    request_id: null,
    at,
  });
  await workflow.store.audit({
    at,
    actor: person.name,
    action: "autonomy.revoke",
    detail: { team, offering: input.offering, action: input.action, ...(input.agent ? { agent: input.agent } : {}), reason: input.reason },
  });
  return teamAutonomy(workflow, person, team);
}
