/**
 * The one approval gate. Every door that changes infrastructure (a request, a runbook
 * step, and any door added later) asks this module, and nothing else, what a change needs
 * and who may give it:
 *
 * - `assess`: a preview's risk (the pure classifier in `risk.ts`), raised by any extra
 *   finding of the door (a snapshot the team does not own), and the approvals it needs
 *   under the team's autonomy and `approvals.rules`. A door may raise the gate (a runbook
 *   author marks a step irreversible: a person always approves), never lower it.
 * - `checkApprover` / `checkRejecter`: who may approve or reject (never the requester,
 *   only the required group, the digest shown, not after the expiry, each person once).
 * - `count`: whether the approvals given in the current wait satisfy the requirement.
 * - `canSee` / `visibleTeams`: who may see a team's changes (its members, every approver).
 *
 * Messages name the subject ("request", "runbook step"), so each door reads naturally.
 */
import type { Environment } from "../components/guardrails";
import type { PavedConfig, Person } from "./config";
import {
  ApprovalCheck,
  ApprovalRequirement,
  Autonomy,
  checkApprovals,
  ClassifiedStep,
  classifyPreview,
  describeRequirement,
  requiredApprovals,
  RiskLevel,
  riskRank,
  ViolationLike,
} from "./risk";
import type { PlannedStep } from "./steps";
import { DomainError } from "./errors";
import { Earned, earnedLevel, earnedReason, maxAutonomy, minAutonomy, TrackEntry } from "./earned";

/** A risk the preview's steps do not show, found by the door (e.g. a foreign snapshot). */
export interface ExtraRisk {
  /** The least level the change gets. */
  atLeast: RiskLevel;
  reason: string;
}

/** What a change needs: its risk, whether a mandatory policy blocks it, and its approvals. */
export interface Assessment {
  level: RiskLevel;
  blocked: boolean;
  reasons: string[];
  requirement: ApprovalRequirement & { description: string };
  steps: ClassifiedStep[];
  /** Set when the change applies alone on autonomy its record earned (the reason is in `reasons` too). */
  earned?: { level: RiskLevel; reason: string; record: Earned };
}

/** The track record of the change's offering and action (per agent for an agent's request). */
export interface RecordInput {
  offering: string;
  action: string;
  entries: TrackEntry[];
}

/** What is being approved: a request, or one step of a runbook run. */
export interface GateSubject {
  /** `request` or `runbook step`, for messages. */
  noun: string;
  team: string;
  requestedBy: string;
  requirement: ApprovalRequirement & { description: string };
  /** The digest of the preview or plan waiting for approval. */
  digest: string;
  /** When the current wait started (the expiry counts from here). */
  awaitingSince: string;
  /**
   * Groups an escalation rung added (`addApprovers`): from then on their members approve
   * as if they were in the requirement's group (the requester still never counts).
   */
  addedGroups?: string[];
}

export interface GivenApproval {
  /** Monotonic id: approvals at or below the subject's floor belong to an earlier wait. */
  id: number;
  by: string;
  at: string;
  digest: string;
}

export class Gate {
  constructor(
    private readonly config: PavedConfig,
    readonly now: () => Date = () => new Date(),
  ) {}

  get expiryMs(): number {
    return this.config.expiryMs;
  }

  /**
   * The risk of `steps` in `environment` for `team`, and what it needs. `raise: "human"`
   * (irreversible runbook steps): a person approves whatever the team's autonomy.
   */
  assess(input: {
    team: string;
    environment: Environment;
    steps: PlannedStep[];
    violations?: ViolationLike[];
    extra?: ExtraRisk[];
    raise?: "human";
    /** Who asks: an agent's request applies alone only within its own ceiling too. */
    requester?: Person;
    /** The track record the team may have earned autonomy with (`teams.<team>.earn`). */
    record?: RecordInput;
  }): Assessment {
    const violations = input.violations ?? [];
    const classified = classifyPreview(input.steps, input.environment, violations);
    // classifyPreview lists the reasons of the highest steps, then those of blocking policies.
    const policyCount = violations.filter((v) => v.enforcementLevel === "mandatory").length;
    const stepReasons = classified.reasons.slice(0, classified.reasons.length - policyCount);
    const policyReasons = classified.reasons.slice(classified.reasons.length - policyCount);
    let level = classified.level;
    for (const e of input.extra ?? []) if (riskRank(e.atLeast) > riskRank(level)) level = e.atLeast;
    // The reasons are what sets the level: every extra finding, the steps' when they reach it.
    const reasons = [...(input.extra ?? []).map((e) => e.reason), ...(classified.level === level ? stepReasons : []), ...policyReasons];
    const configured = this.config.autonomy(input.team, input.environment);
    // An agent's ceiling is under its team's: the lower of the two holds.
    const base = input.requester?.agent ? minAutonomy(configured, input.requester.agent.autonomy) : configured;
    const record = input.record ? earnedLevel(this.config.earn(input.team), input.record.entries, base, this.now()) : undefined;
    const autonomy = input.raise === "human" ? "none" : maxAutonomy(base, record?.level);
    const requirement = requiredApprovals(level, { autonomy, rules: this.config.rules });
    let earned: Assessment["earned"];
    if (requirement.auto && record?.level && riskRank(level) > riskRank(base) && input.record) {
      const reason = earnedReason(record.level, record, input.record.offering, input.record.action);
      earned = { level: record.level, reason, record };
      reasons.unshift(reason);
    } else if (!requirement.auto && input.requester?.agent && riskRank(level) <= riskRank(configured)) {
      reasons.push(`${input.requester.name} is an agent that applies alone only up to ${base} risk: a person approves this ${level}-risk change`);
    }
    return {
      level,
      blocked: classified.blocked,
      reasons,
      requirement: { ...requirement, description: describeRequirement(requirement) },
      steps: classified.steps,
      ...(earned ? { earned } : {}),
    };
  }

  /** Whether `person` may see the changes of `team`: its members and every approver. */
  canSee(person: Person, team: string | null | undefined): boolean {
    return person.groups.length > 0 || (team != null && person.teams.includes(team));
  }

  /** Teams whose changes `person` may list (undefined: all). */
  visibleTeams(person: Person): string[] | undefined {
    return person.groups.length > 0 ? undefined : person.teams;
  }

  /** Whether the subject's wait is older than the approval expiry. */
  expired(subject: Pick<GateSubject, "awaitingSince">): boolean {
    return this.now().getTime() - new Date(subject.awaitingSince).getTime() > this.config.expiryMs;
  }

  /** Whether `person` is in the group the requirement names (or, without one, may approve for the team). */
  private eligible(person: Person, subject: GateSubject): boolean {
    const group = subject.requirement.group;
    if (group) return person.groups.includes(group) || (subject.addedGroups ?? []).some((g) => person.groups.includes(g));
    return person.groups.length > 0 || person.teams.includes(subject.team);
  }

  /**
   * Throws the reason `person` may not approve `digest` for `subject`; returns when they
   * may. `given`: the approvals of the current wait.
   */
  checkApprover(person: Person, subject: GateSubject, digest: string, given: GivenApproval[]): void {
    this.refuseAgent(person, "approve", subject.noun);
    if (person.name === subject.requestedBy) {
      throw new DomainError("forbidden", "self_approval", `the requester cannot approve their own ${subject.noun}`);
    }
    if (!this.eligible(person, subject)) {
      const { level, group } = subject.requirement;
      throw new DomainError(
        "forbidden",
        "not_an_approver",
        group
          ? `a ${level}-risk ${subject.noun} needs approval from ${group}, and ${person.name} is not in it`
          : `${person.name} may not approve changes of team ${subject.team}`,
      );
    }
    if (digest !== subject.digest) {
      throw new DomainError("conflict", "stale_digest", `the preview changed: approve digest ${subject.digest} after reviewing it`);
    }
    if (this.expired(subject)) {
      throw new DomainError("conflict", "expired", `the ${subject.noun} waited longer than the approval expiry: it must be previewed again`);
    }
    if (given.some((a) => a.by === person.name && a.digest === digest)) {
      throw new DomainError("conflict", "already_approved", `${person.name} already approved this preview`);
    }
  }

  /** Throws the reason `person` may not reject `subject`. */
  checkRejecter(person: Person, subject: Omit<GateSubject, "digest" | "awaitingSince">): void {
    this.refuseAgent(person, "reject", subject.noun);
    if (person.name === subject.requestedBy) {
      throw new DomainError("forbidden", "self_rejection", `the requester cancels their own ${subject.noun} instead of rejecting it`);
    }
    if (!this.eligible(person, { ...subject, digest: "", awaitingSince: "" })) {
      const { level, group } = subject.requirement;
      throw new DomainError(
        "forbidden",
        "not_an_approver",
        group
          ? `a ${level}-risk ${subject.noun} is decided by ${group}, and ${person.name} is not in it`
          : `${person.name} may not reject this ${subject.noun}`,
      );
    }
  }

  /** Agents request; only people decide. Checked first, at every door. */
  private refuseAgent(person: Person, verb: "approve" | "reject", noun: string): void {
    if (person.agent) {
      throw new DomainError("forbidden", "agents_cannot_approve", `${person.name} is an agent: agents cannot ${verb} a ${noun}, a person must`);
    }
  }

  /** Throws unless `person` may revoke a team's earned autonomy: a person in an approver group. */
  checkRevoker(person: Person, team: string): void {
    if (person.agent) throw new DomainError("forbidden", "agents_cannot_approve", `${person.name} is an agent: only a person revokes earned autonomy`);
    if (person.groups.length === 0) {
      throw new DomainError("forbidden", "not_an_approver", `only approvers may revoke team ${team}'s earned autonomy, and ${person.name} is not one`);
    }
  }

  /** The level a record has earned, and why: what `GET /teams/:team/autonomy` shows. */
  earnedFor(team: string, environmentAutonomy: Autonomy, entries: TrackEntry[]): Earned {
    return earnedLevel(this.config.earn(team), entries, environmentAutonomy, this.now());
  }

  /** The people who could give the subject's missing approvals (never the requester, never an agent). */
  approversFor(subject: Pick<GateSubject, "team" | "requestedBy" | "requirement" | "addedGroups">): string[] {
    const { group } = subject.requirement;
    // The rule's group and any group an escalation rung added (see `eligible`).
    const members = group
      ? [group, ...(subject.addedGroups ?? [])].flatMap((g) => this.config.approverGroups[g] ?? [])
      : [...(this.config.teams[subject.team]?.members ?? []), ...Object.values(this.config.approverGroups).flat()];
    return [...new Set(members)].filter((name) => name !== subject.requestedBy && !this.config.person(name)?.agent);
  }

  /** Whether the approvals of the current wait meet the subject's requirement. */
  count(subject: GateSubject, given: GivenApproval[]): ApprovalCheck {
    return checkApprovals(subject.requirement, given, {
      requester: subject.requestedBy,
      digest: subject.digest,
      now: this.now(),
      expiryMs: this.config.expiryMs,
      groupsOf: (p) => this.groupsFor(subject, p),
    });
  }

  /** `name`'s groups, with the requirement's group when an escalation added one of them. */
  private groupsFor(subject: GateSubject, name: string): string[] {
    const groups = this.config.groupsOf(name);
    const group = subject.requirement.group;
    const added = group && (subject.addedGroups ?? []).some((g) => groups.includes(g));
    return added ? [...groups, group] : groups;
  }

  /** "1 of 2 from platform: bob": what was given and what is still needed. */
  progress(subject: GateSubject, given: GivenApproval[]): { counted: string[]; missing: number; summary: string } {
    const check = this.count(subject, given);
    const { count, group, auto } = subject.requirement;
    if (auto) return { counted: [], missing: 0, summary: "no approval needed" };
    const summary = `${check.counted.length} of ${count}${group ? ` from ${group}` : ""}${check.counted.length ? `: ${check.counted.join(", ")}` : ""}`;
    return { counted: check.counted, missing: check.missing, summary };
  }
}
