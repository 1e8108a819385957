/**
 * What every Paved component shares: the common arguments, their validation, and the
 * tags/labels every child carries. Pure functions only: no resources are created here.
 */
import {
  ENVIRONMENTS,
  Environment,
  LABEL_KEYS,
  MANAGED_BY,
  Offering,
  RESERVED_LABEL_PREFIX,
  RESERVED_TAG_PREFIX,
  TAG_KEYS,
  TEAM_PATTERN,
  TIERS,
  Tier,
} from "./guardrails";

/** Arguments every component takes. */
export interface CommonArgs {
  /** The owning team: a DNS label (`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`). Required. */
  team: string;
  /** `dev`, `staging` or `prod`: selects backups, availability and protection. Required. */
  environment: Environment;
  /** `small`, `medium` or `large`: selects sizes from the guardrails table. Default `small`. */
  tier?: Tier;
  /**
   * Extra tags (AWS) or labels (Kubernetes) for every child. Keys starting with `paved:`
   * or `paved.dev/` are reserved and rejected. Default: none.
   */
  tags?: Record<string, string>;
}

/** The common arguments after validation, with defaults applied. */
export interface ResolvedCommonArgs {
  team: string;
  environment: Environment;
  tier: Tier;
  tags: Record<string, string>;
}

/** An argument failed validation: the message names the argument, the value and what is allowed. */
export class PavedArgumentError extends Error {
  constructor(
    public readonly argument: string,
    message: string,
  ) {
    super(message);
    this.name = "PavedArgumentError";
  }
}

function show(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/** Throws `<argument> "<value>" is not one of a, b, c` unless `value` is in `allowed`. */
export function assertOneOf<T extends string | number>(argument: string, value: unknown, allowed: readonly T[]): asserts value is T {
  if (!allowed.includes(value as T)) {
    throw new PavedArgumentError(argument, `${argument} ${show(value)} is not one of ${allowed.join(", ")}`);
  }
}

/** Throws `<argument> <value> is not an integer between min and max` unless it is. */
export function assertIntegerInRange(argument: string, value: unknown, min: number, max: number): asserts value is number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new PavedArgumentError(argument, `${argument} ${show(value)} is not an integer between ${min} and ${max}`);
  }
}

/** Throws unless `value` is a non-empty string. */
export function assertNonEmptyString(argument: string, value: unknown): asserts value is string {
  if (typeof value !== "string" || value.length === 0) {
    throw new PavedArgumentError(argument, `${argument} ${show(value)} must be a non-empty string`);
  }
}

/**
 * Validates the common arguments and applies their defaults. Call it before creating any
 * child resource.
 */
export function resolveCommonArgs(args: CommonArgs): ResolvedCommonArgs {
  if (args === undefined || args === null || typeof args !== "object") {
    throw new PavedArgumentError("args", "args must be an object with team and environment");
  }
  if (typeof args.team !== "string" || !TEAM_PATTERN.test(args.team)) {
    throw new PavedArgumentError(
      "team",
      `team ${show(args.team)} is not a DNS label (lowercase letters, digits and '-', at most 63 characters, starting with a letter)`,
    );
  }
  assertOneOf("environment", args.environment, ENVIRONMENTS);
  const tier = args.tier ?? "small";
  assertOneOf("tier", tier, TIERS);
  const tags = args.tags ?? {};
  if (typeof tags !== "object" || tags === null || Array.isArray(tags)) {
    throw new PavedArgumentError("tags", "tags must be an object of string keys to string values");
  }
  for (const [key, value] of Object.entries(tags)) {
    if (key.startsWith(RESERVED_TAG_PREFIX) || key.startsWith(RESERVED_LABEL_PREFIX)) {
      throw new PavedArgumentError(
        "tags",
        `tags key ${show(key)} is reserved: keys starting with "${RESERVED_TAG_PREFIX}" or "${RESERVED_LABEL_PREFIX}" are set by Paved`,
      );
    }
    if (typeof value !== "string") {
      throw new PavedArgumentError("tags", `tags[${show(key)}] must be a string, got ${show(value)}`);
    }
  }
  return { team: args.team, environment: args.environment, tier, tags: { ...tags } };
}

/** The tags every taggable AWS child of a component carries: the user's extra tags, then Paved's. */
export function pavedTags(common: ResolvedCommonArgs, offering: Offering): Record<string, string> {
  return {
    ...common.tags,
    [TAG_KEYS.team]: common.team,
    [TAG_KEYS.environment]: common.environment,
    [TAG_KEYS.offering]: offering,
    [TAG_KEYS.managedBy]: MANAGED_BY,
  };
}

/**
 * Kubernetes labels for every child of a Kubernetes component. Label keys may not contain
 * ':', so the `paved:` tag keys become `paved.dev/<key>` labels, with the same values.
 */
export function pavedLabels(common: ResolvedCommonArgs, offering: Offering): Record<string, string> {
  return {
    ...common.tags,
    [LABEL_KEYS.team]: common.team,
    [LABEL_KEYS.environment]: common.environment,
    [LABEL_KEYS.offering]: offering,
    [LABEL_KEYS.managedBy]: MANAGED_BY,
  };
}
