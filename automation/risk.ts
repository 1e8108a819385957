/**
 * Risk of a planned change and the approvals it needs. Pure: the service, the runbooks and
 * the PR comment all call these functions, so they never disagree.
 *
 * Per step: create -> low; update of tags/labels only -> low; other update -> medium;
 * replace or delete of a stateless resource -> medium, of a stateful one -> high; any update,
 * replace or delete of a security-sensitive type -> high; prod raises each by one, capped
 * at critical. A create is never more than low (prod: medium): nothing existing is touched,
 * and the policy pack judges what is created.
 */
import { Environment, componentTypes, securitySensitiveResourceTypes, statefulOfferings, statefulResourceTypes } from "../components/guardrails";
import { PlannedStep } from "./steps";

export const RISK_LEVELS = ["low", "medium", "high", "critical"] as const;
export type RiskLevel = (typeof RISK_LEVELS)[number];

/** `none` for steps that change nothing (same, read, refresh). */
export interface StepRisk {
  level: RiskLevel | "none";
  reasons: string[];
}

export interface ClassifiedStep extends PlannedStep {
  risk: RiskLevel | "none";
  reasons: string[];
}

export interface PreviewRisk {
  /** The highest step's level (`low` when nothing changes). */
  level: RiskLevel;
  /** A mandatory policy violation blocks the change whatever its risk. */
  blocked: boolean;
  /** Reasons of the steps at the highest level, then of the blocking violations. */
  reasons: string[];
  steps: ClassifiedStep[];
}

/** A violation as the classifier needs it (the policy pack's `Violation` fits). */
export interface ViolationLike {
  policyName: string;
  enforcementLevel: string;
  message: string;
  resourceName?: string;
}

export function riskRank(level: RiskLevel | "none"): number {
  return level === "none" ? -1 : RISK_LEVELS.indexOf(level);
}

function raise(level: RiskLevel): RiskLevel {
  return RISK_LEVELS[Math.min(riskRank(level) + 1, RISK_LEVELS.length - 1)];
}

const statefulComponentTypes = statefulOfferings.map((o) => componentTypes[o] as string);

/** Whether a resource of `type` holds data (the guardrails' stateful types, or a stateful Paved component). */
export function isStateful(type: string): boolean {
  return statefulResourceTypes.includes(type) || statefulComponentTypes.includes(type);
}

/** Whether a resource of `type` controls access (the guardrails' security-sensitive types). */
export function isSecuritySensitive(type: string): boolean {
  return securitySensitiveResourceTypes.includes(type);
}

const METADATA_KEYS = [/^tags(All)?($|[.[])/, /^metadata\.labels($|[.[])/, /^labels($|[.[])/, /^metadata\.annotations($|[.[])/];

/** Whether every changed key is a tag, label or annotation. */
export function onlyMetadataChanges(keys: string[]): boolean {
  return keys.length > 0 && keys.every((k) => METADATA_KEYS.some((re) => re.test(k)));
}

function keysNote(keys: string[]): string {
  return keys.length > 0 ? ` (${keys.join(", ")})` : "";
}

/** The risk of one step in `environment` (the step's own environment wins when it has one). */
export function classifyStep(step: PlannedStep, environment: Environment): StepRisk {
  return classify(step, environment, true);
}

/** `classifyStep`'s level alone, without building its reasons (a 50,000-step preview's level is read from every step). */
export function stepLevel(step: PlannedStep, environment: Environment): RiskLevel | "none" {
  return classify(step, environment, false).level;
}

const NO_REASONS: string[] = [];

function classify(step: PlannedStep, environment: Environment, withReasons: boolean): StepRisk {
  const env = step.environment ?? environment;
  const what = withReasons ? `${step.type} ${step.name}` : "";
  const stateful = isStateful(step.type);
  let level: RiskLevel;
  const reasons: string[] = withReasons ? [] : NO_REASONS;
  switch (step.op) {
    case "same":
    case "read":
    case "refresh":
    case "discard":
      return { level: "none", reasons: [] };
    case "create":
    case "import":
      level = "low";
      if (withReasons) reasons.push(`${step.op === "create" ? "creates" : "imports"} ${what}`);
      break;
    case "update":
      if (onlyMetadataChanges(step.changedKeys)) {
        level = "low";
        if (withReasons) reasons.push(`updates only tags or labels of ${what}${keysNote(step.changedKeys)}`);
      } else {
        level = "medium";
        if (withReasons) reasons.push(`updates ${what}${keysNote(step.changedKeys)}`);
      }
      break;
    case "replace":
      level = stateful ? "high" : "medium";
      if (withReasons) {
        reasons.push(
          `replaces ${what}${step.replaceKeys.length > 0 ? ` because ${step.replaceKeys.join(", ")} changed` : ""}${stateful ? ": its data is lost" : ""}`,
        );
      }
      break;
    case "delete":
      level = stateful ? "high" : "medium";
      if (withReasons) reasons.push(`deletes ${what}${stateful ? ": its data is lost" : ""}`);
      break;
  }
  if (isSecuritySensitive(step.type) && step.op !== "create" && step.op !== "import" && riskRank(level) < riskRank("high")) {
    level = "high";
    if (withReasons) reasons.push(`${step.type} controls access: a change can open or close it`);
  }
  if (withReasons && step.protect && (step.op === "delete" || step.op === "replace")) {
    reasons.push(`${what} is protected: Pulumi refuses to ${step.op} it until it is unprotected`);
  }
  if (env === "prod") {
    level = raise(level);
    if (withReasons) reasons.push("in prod: one level higher");
  }
  return { level, reasons };
}

/** The risk of a whole preview: every step classified, the highest level, blocked by mandatory violations. */
export function classifyPreview(steps: PlannedStep[], environment: Environment, violations: ViolationLike[] = []): PreviewRisk {
  const classified: ClassifiedStep[] = steps.map((s) => {
    const r = classifyStep(s, environment);
    return { ...s, risk: r.level, reasons: r.reasons };
  });
  const { level, blocked, reasons } = summarizeRisk(
    classified.map((s) => s.risk),
    (i) => classified[i].reasons[0],
    violations,
  );
  return { level, blocked, reasons, steps: classified };
}

/**
 * `classifyPreview` without a copy of each step and with the reasons of the highest steps
 * only: each step's level in `levels`, in the order of `steps` (`classifyStep` gives a
 * step's reasons when they are needed). The PR comment of a 50,000-step preview spent most
 * of its time building reasons it never showed.
 */
export function assessPreview(
  steps: readonly PlannedStep[],
  environment: Environment,
  violations: ViolationLike[] = [],
): Omit<PreviewRisk, "steps"> & { levels: (RiskLevel | "none")[] } {
  const levels = steps.map((s) => stepLevel(s, environment));
  return { ...summarizeRisk(levels, (i) => classifyStep(steps[i], environment).reasons[0], violations), levels };
}

/** The highest level, the first reason of each step at it, then the blocking violations. */
function summarizeRisk(levels: (RiskLevel | "none")[], firstReason: (i: number) => string, violations: ViolationLike[]): Omit<PreviewRisk, "steps"> {
  let level: RiskLevel = "low";
  for (const l of levels) {
    if (l !== "none" && riskRank(l) > riskRank(level)) level = l;
  }
  const reasons: string[] = [];
  levels.forEach((l, i) => {
    if (l === level) reasons.push(firstReason(i));
  });
  const blocking = violations.filter((v) => v.enforcementLevel === "mandatory");
  for (const v of blocking) {
    reasons.push(`policy ${v.policyName} (mandatory)${v.resourceName ? ` on ${v.resourceName}` : ""}: ${v.message}`);
  }
  return { level, blocked: blocking.length > 0, reasons };
}

/** How many approvals a level needs, and from which group. */
export interface ApprovalRule {
  count: number;
  /** Approvers must belong to this group. Default: anyone eligible (not the requester). */
  group?: string;
}

export type ApprovalRules = Readonly<Record<RiskLevel, ApprovalRule>>;

/** Low and medium: one approval; high: one from platform; critical: two distinct platform approvers. */
export const DEFAULT_APPROVAL_RULES: ApprovalRules = {
  low: { count: 1 },
  medium: { count: 1 },
  high: { count: 1, group: "platform" },
  critical: { count: 2, group: "platform" },
};

/** Approvals expire after 24 hours by default: a preview a day old no longer says what `up` will do. */
export const DEFAULT_APPROVAL_EXPIRY_MS = 24 * 60 * 60 * 1000;

/** The highest level a team may apply without a human: `none` always asks. */
export type Autonomy = RiskLevel | "none";

export interface ApprovalRequirement {
  level: RiskLevel;
  /** No human needed: the level is within the team's autonomy. */
  auto: boolean;
  count: number;
  group?: string;
}

/** What a change at `level` needs, given the team's autonomy and the rules. */
export function requiredApprovals(level: RiskLevel, options: { autonomy: Autonomy; rules?: ApprovalRules }): ApprovalRequirement {
  const rules = options.rules ?? DEFAULT_APPROVAL_RULES;
  if (riskRank(level) <= riskRank(options.autonomy)) {
    return { level, auto: true, count: 0 };
  }
  const rule = rules[level];
  return { level, auto: false, count: rule.count, ...(rule.group ? { group: rule.group } : {}) };
}

/** "applied without approval", "1 approval", "2 approvals from platform". */
export function describeRequirement(req: ApprovalRequirement): string {
  if (req.auto) return "applied without approval (within the team's autonomy)";
  return `${req.count} approval${req.count === 1 ? "" : "s"}${req.group ? ` from ${req.group}` : ""}`;
}

export interface ApprovalRecord {
  by: string;
  /** When it was given (ISO string or Date). */
  at: string | Date;
  /** The preview digest it was given for. */
  digest: string;
}

export interface ApprovalCheck {
  satisfied: boolean;
  /** Approvers that count, each once. */
  counted: string[];
  /** How many more approvals are needed. */
  missing: number;
  /** Approvals that do not count, and why. */
  ignored: { by: string; reason: string }[];
}

/**
 * Whether `approvals` meet `requirement` for the preview `digest`: the requester never
 * counts, each person counts once, approvals of another digest or older than the expiry
 * do not count, and with a group only its members count.
 */
export function checkApprovals(
  requirement: ApprovalRequirement,
  approvals: ApprovalRecord[],
  context: {
    requester: string;
    digest: string;
    now: Date;
    expiryMs?: number;
    /** The groups a person belongs to. */
    groupsOf: (person: string) => readonly string[];
  },
): ApprovalCheck {
  const expiry = context.expiryMs ?? DEFAULT_APPROVAL_EXPIRY_MS;
  const counted: string[] = [];
  const ignored: { by: string; reason: string }[] = [];
  for (const a of approvals) {
    const age = context.now.getTime() - new Date(a.at).getTime();
    if (a.by === context.requester) ignored.push({ by: a.by, reason: "the requester cannot approve their own request" });
    else if (a.digest !== context.digest) ignored.push({ by: a.by, reason: "approved a different preview" });
    else if (age > expiry) ignored.push({ by: a.by, reason: "expired" });
    else if (requirement.group && !context.groupsOf(a.by).includes(requirement.group)) ignored.push({ by: a.by, reason: `not in group ${requirement.group}` });
    else if (counted.includes(a.by)) ignored.push({ by: a.by, reason: "already counted" });
    else counted.push(a.by);
  }
  const needed = requirement.auto ? 0 : requirement.count;
  const missing = Math.max(needed - counted.length, 0);
  return { satisfied: missing === 0, counted, missing, ignored };
}
