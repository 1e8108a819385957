/**
 * Earned autonomy: the pure decision the gate takes with a track record.
 *
 * A team that opts in (`teams.<team>.earn: { up_to, after, within }`) earns, per offering
 * and action (and per agent, for an agent's own requests), the level of its last `after`
 * human-approved changes when they all succeeded within `within` with no failure, rejection,
 * rollback or revocation since. Changes applied alone count neither way, save a failure.
 * The earned level never passes `up_to`, and a critical change is never earned away from
 * a human.
 */
import type { EarnRule } from "./config";
import { Autonomy, RiskLevel, riskRank } from "./risk";

/** One outcome of the track record. */
export const OUTCOMES = ["success", "failure", "rejected", "rollback", "revoked"] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface TrackEntry {
  /** The change's risk level (`low` for a revocation, which has none). */
  level: RiskLevel;
  outcome: Outcome;
  /** Whether a human approved it (only human-approved successes earn). */
  approved: boolean;
  at: string;
  requestId?: string | null;
}

/** What a record earns now. */
export interface Earned {
  /** The level earned, or undefined when the record earns nothing above the configured autonomy. */
  level?: Exclude<RiskLevel, "critical">;
  /** Human-approved successes counted (after the last break, within the window). */
  successes: number;
  /** The oldest counted success. */
  since?: string;
  /** The last failure, rejection, rollback or revocation, when within the window. */
  lastBreak?: { outcome: Outcome; at: string };
}

/** The key of a record, for messages: `postgres update`. */
export function describeRecord(offering: string, action: string): string {
  return `${offering} ${action}`;
}

/**
 * What `record` (any order) earns under `rule` at `now`, above `configured`. Pure: the
 * store keeps the record, the gate asks this.
 */
export function earnedLevel(rule: EarnRule | undefined, record: TrackEntry[], configured: Autonomy, now: Date): Earned {
  const cutoff = now.getTime() - (rule?.withinMs ?? 0);
  const recent = record.filter((e) => new Date(e.at).getTime() >= cutoff).sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
  const breakAt = recent.findIndex((e) => e.outcome !== "success");
  const streak = (breakAt === -1 ? recent : recent.slice(0, breakAt)).filter((e) => e.approved);
  const lastBreak = breakAt === -1 ? undefined : { outcome: recent[breakAt].outcome, at: recent[breakAt].at };
  const base: Earned = { successes: streak.length, ...(streak.length ? { since: streak[streak.length - 1].at } : {}), ...(lastBreak ? { lastBreak } : {}) };
  if (!rule || streak.length < rule.after) return base;
  // The last `after` successes: their lowest level is what they showed the team can do alone.
  const counted = streak.slice(0, rule.after);
  let level: RiskLevel = counted.reduce<RiskLevel>((lo, e) => (riskRank(e.level) < riskRank(lo) ? e.level : lo), "critical");
  if (riskRank(level) > riskRank(rule.upTo)) level = rule.upTo;
  if (level === "critical" || riskRank(level) <= riskRank(configured)) return base;
  return { ...base, level };
}

/** `auto-applied: medium earned by 5 approved successes of postgres update since 2026-11-02`. */
export function earnedReason(level: RiskLevel, earned: Earned, offering: string, action: string): string {
  return `auto-applied: ${level} earned by ${earned.successes} approved successes of ${describeRecord(offering, action)} since ${(earned.since ?? "").slice(0, 10)}`;
}

/** The higher of two autonomies. */
export function maxAutonomy(a: Autonomy, b: Autonomy | undefined): Autonomy {
  return b !== undefined && riskRank(b) > riskRank(a) ? b : a;
}

/** The lower of two autonomies. */
export function minAutonomy(a: Autonomy, b: Autonomy | undefined): Autonomy {
  return b !== undefined && riskRank(b) < riskRank(a) ? b : a;
}
