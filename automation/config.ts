/**
 * The service's configuration, `paved.yaml`: people and their bearer tokens, teams and
 * their members, approver groups, each team's autonomy, the approval rules per risk level
 * and the approval expiry. Validated by a strict schema: a bad file stops start-up with
 * the path and the reason.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, resolve as resolvePath } from "node:path";
import type { JSONWebKeySet } from "jose";
import { LineCounter, parseDocument } from "yaml";
import { z } from "zod";
import { ENVIRONMENTS, Environment, TEAM_PATTERN } from "../components/guardrails";
import { PolicyPackConfig, resolvePolicyConfig } from "../policy-pack/evaluate";
import { policies as pavedPolicies } from "../policy-pack/policies";
import { describeZodIssue, formatPath } from "../stacks/spec";
import { ApprovalRules, Autonomy, DEFAULT_APPROVAL_EXPIRY_MS, DEFAULT_APPROVAL_RULES, RISK_LEVELS, RiskLevel, riskRank } from "./risk";
import { AuthRaw, authIssues, authSchema, readJwks } from "./identity/schema";
import { buildLadder, checkNotifications, escalationSchema, EscalationLadder, NotificationSettings, notificationsSchema } from "./notifications/config";

const PERSON = /^[a-z][a-z0-9._-]{0,62}$/;
const HASHED_TOKEN = /^sha256:[0-9a-f]{64}$/;

const autonomySchema = z.enum(["none", ...RISK_LEVELS]);

const ruleSchema = z.strictObject({
  count: z.number().int().min(1).max(10),
  group: z.string().regex(PERSON).optional(),
});

const networkSchema = z.strictObject({
  vpcId: z.string().min(1),
  subnetIds: z.array(z.string().min(1)).min(1),
});

const teamEnvironmentSchema = z.strictObject({
  /** VPC and subnets for offerings that need a network (postgres, redis). */
  network: networkSchema.optional(),
  kubernetes: z.strictObject({ context: z.string().min(1).optional(), namespace: z.string().min(1).optional() }).optional(),
  /** Overrides the team's autonomy in this environment. */
  autonomy: autonomySchema.optional(),
});

/**
 * Earned autonomy (opt-in per team): after `after` human-approved changes of one offering
 * and action that all succeeded within `within`, their level applies alone, up to `up_to`.
 * Never `critical`: a critical change always reaches a human.
 */
const earnSchema = z.strictObject({
  up_to: z.enum(RISK_LEVELS),
  after: z.number().int().min(1).max(1000),
  within: z.string().default("30d"),
});

/** A program acting for one team (an MCP client): it requests, never approves. */
const agentSchema = z.strictObject({
  token: z.string().min(8),
  team: z.string(),
  /** Its ceiling: never above the team's autonomy. Default `none`. */
  autonomy: autonomySchema.default("none"),
});

const limitSchema = z.strictObject({ max: z.number().int().min(1), window: z.string() });

/**
 * Throttling. Defaults: 20 failed authentications a minute per client address (then 429
 * for any attempt until the minute is over: guessing tokens is slow); 30 submissions a
 * minute per person and 120 per team (a script gone wrong, not a busy person); 20 open
 * event streams per person.
 */
const limitsSchema = z
  .strictObject({
    authFailures: limitSchema.default({ max: 20, window: "1m" }),
    submissions: z
      .strictObject({
        perPerson: limitSchema.default({ max: 30, window: "1m" }),
        perTeam: limitSchema.default({ max: 120, window: "1m" }),
      })
      .default({ perPerson: { max: 30, window: "1m" }, perTeam: { max: 120, window: "1m" } }),
    streams: z.strictObject({ perPerson: z.number().int().min(1).default(20) }).default({ perPerson: 20 }),
  })
  .default({
    authFailures: { max: 20, window: "1m" },
    submissions: { perPerson: { max: 30, window: "1m" }, perTeam: { max: 120, window: "1m" } },
    streams: { perPerson: 20 },
  });

/** A limit: at most `max` in any `windowMs`. */
export interface Limit {
  max: number;
  windowMs: number;
}

/** `24h`, `90m`, `30s`, `2d` -> milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "ms" | "s" | "m" | "h" | "d"];
  return Number(m[1]) * unit;
}

export const configSchema = z
  .strictObject({
    /** Marks a demonstration config: only then may tokens be written in plain text. */
    demo: z.boolean().default(false),
    /**
     * Each person and the sha256 hash of their bearer token (`sha256:<hex>`); `sso`: the
     * value of their person claim at the identity provider (e.g. their email), when it
     * differs from their name here.
     */
    people: z.record(
      z.string().regex(PERSON, { message: `must match ${PERSON.source}` }),
      z.strictObject({ token: z.string().min(8).optional(), sso: z.string().min(1).optional() }),
    ),
    teams: z.record(
      z.string().regex(TEAM_PATTERN, { message: "must be a DNS label" }),
      z.strictObject({
        members: z.array(z.string()).min(1),
        /** The highest risk applied without a human. Default `none`: every change is approved. */
        autonomy: autonomySchema.default("none"),
        environments: z.partialRecord(z.enum(ENVIRONMENTS), teamEnvironmentSchema).default({}),
        earn: earnSchema.optional(),
      }),
    ),
    /** Agents: programs that request changes for one team and can never approve them. */
    agents: z.record(z.string().regex(PERSON, { message: `must match ${PERSON.source}` }), agentSchema).default({}),
    approverGroups: z.record(z.string().regex(PERSON), z.array(z.string()).min(1)).default({}),
    approvals: z
      .strictObject({
        /** How long an approval counts, and how long a request waits for one. Default `24h`. */
        expiry: z.string().default("24h"),
        /** Approvals needed per risk level. Default: 1; high 1 from platform; critical 2 from platform. */
        rules: z
          .strictObject(Object.fromEntries(RISK_LEVELS.map((l) => [l, ruleSchema])) as Record<(typeof RISK_LEVELS)[number], typeof ruleSchema>)
          .optional(),
        /** Per risk level, the rungs of the escalation ladder (see `notifications/config.ts`). */
        escalation: escalationSchema,
      })
      .default({ expiry: "24h" }),
    /**
     * The policy pack's config, in the format of a Pulumi policy config file (`all`, then
     * per policy a level or `{ enforcementLevel, ...properties }`). Default: every policy
     * mandatory with its defaults from the guardrails.
     */
    policies: z.record(z.string(), z.unknown()).optional(),
    limits: limitsSchema,
    /** Single sign-on, CI identities, static tokens (see `identity/schema.ts`). */
    auth: authSchema,
    /** Sinks and routes of notifications (see `notifications/config.ts`). */
    notifications: notificationsSchema,
  })
  .superRefine((c, ctx) => {
    checkNotifications({ ...c, escalation: c.approvals.escalation }, (path, message) => ctx.addIssue({ code: "custom", path, message }), parseDuration);
    const windows: [(string | number)[], string][] = [
      [["limits", "authFailures", "window"], c.limits.authFailures.window],
      [["limits", "submissions", "perPerson", "window"], c.limits.submissions.perPerson.window],
      [["limits", "submissions", "perTeam", "window"], c.limits.submissions.perTeam.window],
    ];
    for (const [path, text] of windows) {
      const ms = parseDuration(text);
      if (!ms)
        ctx.addIssue({
          code: "custom",
          path,
          message: ms === 0 ? `"${text}" is zero: use a duration like 1m, 30s or 1h` : `"${text}" is not a duration like 1m, 30s or 1h`,
        });
    }
    // Two people with one token: whoever presents it is the first of them, silently.
    const holders = new Map<string, string>();
    for (const [person, p] of Object.entries(c.people)) {
      if (p.token === undefined && !c.auth.oidc && p.sso === undefined)
        ctx.addIssue({
          code: "custom",
          path: ["people", person],
          message: "needs a token (or sso, with auth.oidc configured): otherwise they cannot sign in",
        });
    }
    const principals: ["people" | "agents", string, string][] = [
      ...Object.entries(c.people).flatMap(([n, p]): ["people", string, string][] => (p.token === undefined ? [] : [["people", n, p.token]])),
      ...Object.entries(c.agents).map(([n, a]): ["agents", string, string] => ["agents", n, a.token]),
    ];
    for (const [kind, person, token] of principals) {
      if (!c.demo && !HASHED_TOKEN.test(token)) {
        ctx.addIssue({
          code: "custom",
          path: [kind, person, "token"],
          message: "must be a sha256:<64 hex> hash (plain-text tokens are allowed only with demo: true)",
        });
        continue;
      }
      const digest = digestOf(token).toString("hex");
      const first = holders.get(digest);
      if (first)
        ctx.addIssue({ code: "custom", path: [kind, person, "token"], message: `is the same token as ${first}'s: each person needs a token of their own` });
      else holders.set(digest, person);
    }
    checkAgentsAndEarning(c, ctx);
    const known = new Set(Object.keys(c.people));
    const ssoNames = new Map<string, string>();
    for (const [person, p] of Object.entries(c.people)) {
      if (p.sso === undefined) continue;
      const key = p.sso.toLowerCase();
      const first = ssoNames.get(key);
      if (first) ctx.addIssue({ code: "custom", path: ["people", person, "sso"], message: `is ${first}'s sso too: each person needs their own` });
      else ssoNames.set(key, person);
    }
    for (const issue of authIssues(c.auth, { teams: Object.keys(c.teams), approverGroups: Object.keys(c.approverGroups), people: [...known] }))
      ctx.addIssue({ code: "custom", ...issue });
    for (const [team, t] of Object.entries(c.teams)) {
      t.members.forEach((m, i) => {
        if (!known.has(m)) ctx.addIssue({ code: "custom", path: ["teams", team, "members", i], message: `"${m}" is not in people` });
      });
    }
    for (const [group, members] of Object.entries(c.approverGroups)) {
      members.forEach((m, i) => {
        if (!known.has(m)) ctx.addIssue({ code: "custom", path: ["approverGroups", group, i], message: `"${m}" is not in people` });
      });
    }
    const expiry = parseDuration(c.approvals.expiry);
    if (expiry === undefined) {
      const negative = /^-\d+(ms|s|m|h|d)$/.test(c.approvals.expiry);
      ctx.addIssue({
        code: "custom",
        path: ["approvals", "expiry"],
        message: `"${c.approvals.expiry}" is not ${negative ? "a positive duration" : "a duration"} like 24h, 90m or 2d`,
      });
    } else if (expiry === 0) {
      ctx.addIssue({
        code: "custom",
        path: ["approvals", "expiry"],
        message: `"${c.approvals.expiry}" is zero: every approval would expire at once; use a duration like 24h, 90m or 2d`,
      });
    }
    if (c.policies) {
      try {
        resolvePolicyConfig(pavedPolicies, c.policies as PolicyPackConfig);
      } catch (err) {
        ctx.addIssue({ code: "custom", path: ["policies"], message: (err as Error).message });
      }
    }
    for (const [level, rule] of Object.entries(c.approvals.rules ?? {})) {
      if (rule.group && !(rule.group in c.approverGroups)) {
        ctx.addIssue({ code: "custom", path: ["approvals", "rules", level, "group"], message: `"${rule.group}" is not in approverGroups` });
      } else if (rule.group && c.approverGroups[rule.group].length < rule.count) {
        const members = c.approverGroups[rule.group];
        ctx.addIssue({
          code: "custom",
          path: ["approvals", "rules", level, "count"],
          message: `needs ${rule.count} approvals from ${rule.group}, which has ${members.length} member${members.length === 1 ? "" : "s"} (${members.join(", ")}): no ${level}-risk change could ever be approved`,
        });
      }
    }
  });

export type RawConfig = z.output<typeof configSchema>;

/** Agents belong to one known team, never rank above it, and are not people; earning windows are durations. */
function checkAgentsAndEarning(c: Pick<RawConfig, "people" | "teams" | "agents">, ctx: z.RefinementCtx): void {
  for (const [agent, a] of Object.entries(c.agents)) {
    const team = c.teams[a.team];
    if (agent in c.people) ctx.addIssue({ code: "custom", path: ["agents", agent], message: `"${agent}" is also in people: an agent needs a name of its own` });
    if (!team) ctx.addIssue({ code: "custom", path: ["agents", agent, "team"], message: `"${a.team}" is not in teams` });
    else if (riskRank(a.autonomy) > riskRank(team.autonomy))
      ctx.addIssue({
        code: "custom",
        path: ["agents", agent, "autonomy"],
        message: `"${a.autonomy}" is above team ${a.team}'s autonomy "${team.autonomy}": an agent's autonomy is a ceiling under its team's`,
      });
  }
  for (const [name, t] of Object.entries(c.teams)) {
    if (!t.earn) continue;
    if (t.earn.up_to === "critical")
      ctx.addIssue({
        code: "custom",
        path: ["teams", name, "earn", "up_to"],
        message: "must be low, medium or high: critical changes are never earned away from humans",
      });
    const ms = parseDuration(t.earn.within);
    if (!ms)
      ctx.addIssue({ code: "custom", path: ["teams", name, "earn", "within"], message: `"${t.earn.within}" is not a positive duration like 30d or 72h` });
  }
}

/** A person the service knows. */
export interface Person {
  name: string;
  teams: string[];
  groups: string[];
  /**
   * Set for a program acting for a team (an MCP agent, a CI identity): it may request and
   * preview, never approve or reject, and its requests apply alone only within `autonomy`
   * (a ceiling under the team's own). Absent for people.
   */
  agent?: { autonomy: Autonomy };
}

/** `auth` with each JWKS file read (`keys`). */
export type AuthSettings = Omit<AuthRaw, "oidc" | "ci"> & {
  oidc?: NonNullable<AuthRaw["oidc"]> & { keys?: JSONWebKeySet };
  ci: (AuthRaw["ci"][number] & { keys?: JSONWebKeySet })[];
};

/** The loaded configuration, with lookups. */
export interface PavedConfig {
  demo: boolean;
  /** Single sign-on, CI identities and static tokens. */
  auth: AuthSettings;
  teams: RawConfig["teams"];
  approverGroups: Record<string, string[]>;
  rules: ApprovalRules;
  expiryMs: number;
  /** The policy pack's config (see `configSchema`). */
  policies?: PolicyPackConfig;
  limits: { authFailures: Limit; submissionsPerPerson: Limit; submissionsPerTeam: Limit; streamsPerPerson: number };
  /** Where events go: sinks (secrets as `env:NAME`, read when sent) and routes. */
  notifications: NotificationSettings;
  /** The escalation ladder per risk level. */
  escalation: EscalationLadder;
  /** Who holds `token`, compared in constant time; undefined when nobody does. */
  authenticate(token: string): Person | undefined;
  person(name: string): Person | undefined;
  /** The person a value of the identity provider's person claim names (`people.<name>.sso`, or the name). */
  personFor(claimValue: string): Person | undefined;
  /**
   * Remembers the approver groups an identity provider gave a person who signed in, so
   * that `groupsOf` counts their approvals (in this process; paved.yaml groups always count).
   */
  learn(person: Person): void;
  /** The team's autonomy in `environment` (the environment's override wins). */
  autonomy(team: string, environment: Environment): Autonomy;
  /** The team's earned-autonomy rule (`teams.<team>.earn`), when it opted in. */
  earn(team: string): EarnRule | undefined;
  /** Network and Kubernetes settings of a team's environment. */
  environment(team: string, environment: Environment): z.output<typeof teamEnvironmentSchema>;
  /** The approver groups `name` belongs to. */
  groupsOf(name: string): string[];
}

/** `teams.<team>.earn`, with the window in milliseconds. */
export interface EarnRule {
  upTo: Exclude<RiskLevel, "critical">;
  after: number;
  withinMs: number;
}

/** A configuration file that cannot be used: each problem with its path. */
export class ConfigError extends Error {
  constructor(
    public readonly file: string,
    public readonly issues: { path: string; message: string; line?: number; column?: number }[],
  ) {
    super(
      `${file} is not a valid Paved configuration:\n` +
        issues.map((i) => `  ${file}${i.line ? `:${i.line}:${i.column}` : ""} ${i.path ? `${i.path}: ` : ""}${i.message}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}

/** `sha256:<hex>` of a token, as configs store it. */
export function hashToken(token: string): string {
  return `sha256:${createHash("sha256").update(token, "utf8").digest("hex")}`;
}

function digestOf(stored: string): Buffer {
  // Plain demo tokens are hashed on load, so every comparison is between equal-length digests.
  const hex = HASHED_TOKEN.test(stored) ? stored.slice("sha256:".length) : hashToken(stored).slice("sha256:".length);
  return Buffer.from(hex, "hex");
}

const limit = (l: { max: number; window: string }): Limit => ({ max: l.max, windowMs: parseDuration(l.window) ?? 60_000 });

/** Builds the lookups over a validated configuration. */
export function buildConfig(raw: RawConfig, keys: { oidc?: JSONWebKeySet; ci?: (JSONWebKeySet | undefined)[] } = {}): PavedConfig {
  const digests = [
    ...Object.entries(raw.people).flatMap(([name, p]) => (p.token === undefined ? [] : [{ name, digest: digestOf(p.token) }])),
    ...Object.entries(raw.agents).map(([name, a]) => ({ name, digest: digestOf(a.token) })),
  ];
  const bySso = new Map(Object.entries(raw.people).flatMap(([name, p]) => (p.sso === undefined ? [] : [[p.sso.toLowerCase(), name] as const])));
  const learned = new Map<string, string[]>();
  const teamsOf = (name: string) =>
    Object.entries(raw.teams)
      .filter(([, t]) => t.members.includes(name))
      .map(([team]) => team);
  const configuredGroupsOf = (name: string) =>
    Object.entries(raw.approverGroups)
      .filter(([, m]) => m.includes(name))
      .map(([g]) => g);
  const groupsOf = (name: string) => {
    const more = learned.get(name);
    return more ? [...new Set([...configuredGroupsOf(name), ...more])] : configuredGroupsOf(name);
  };
  const person = (name: string): Person | undefined => {
    const agent = raw.agents[name];
    // An agent acts for its one team, belongs to no approver group, and carries its ceiling.
    if (agent) return { name, teams: [agent.team], groups: [], agent: { autonomy: agent.autonomy } };
    return name in raw.people ? { name, teams: teamsOf(name), groups: configuredGroupsOf(name) } : undefined;
  };
  return {
    demo: raw.demo,
    auth: {
      ...raw.auth,
      ...(raw.auth.oidc ? { oidc: { ...raw.auth.oidc, ...(keys.oidc ? { keys: keys.oidc } : {}) } } : {}),
      ci: raw.auth.ci.map((c, i) => (keys.ci?.[i] ? { ...c, keys: keys.ci[i] } : c)),
    },
    teams: raw.teams,
    approverGroups: raw.approverGroups,
    rules: raw.approvals.rules ?? DEFAULT_APPROVAL_RULES,
    expiryMs: parseDuration(raw.approvals.expiry) ?? DEFAULT_APPROVAL_EXPIRY_MS,
    ...(raw.policies ? { policies: raw.policies as PolicyPackConfig } : {}),
    limits: {
      authFailures: limit(raw.limits.authFailures),
      submissionsPerPerson: limit(raw.limits.submissions.perPerson),
      submissionsPerTeam: limit(raw.limits.submissions.perTeam),
      streamsPerPerson: raw.limits.streams.perPerson,
    },
    notifications: raw.notifications,
    escalation: buildLadder(raw.approvals.escalation, parseDuration),
    authenticate(token: string) {
      const presented = Buffer.from(hashToken(token).slice("sha256:".length), "hex");
      let found: string | undefined;
      // Compare against every entry, so the time taken does not say which one matched.
      for (const d of digests) {
        if (timingSafeEqual(presented, d.digest) && found === undefined) found = d.name;
      }
      return found === undefined ? undefined : person(found);
    },
    person,
    personFor(claimValue) {
      const lower = claimValue.toLowerCase();
      const name = bySso.get(lower) ?? (lower in raw.people && raw.people[lower].sso === undefined ? lower : undefined);
      return name === undefined ? undefined : person(name);
    },
    learn(p) {
      if (p.agent) return;
      const extra = p.groups.filter((g) => g in raw.approverGroups && !configuredGroupsOf(p.name).includes(g));
      if (extra.length) learned.set(p.name, extra);
      else learned.delete(p.name);
    },
    autonomy(team, environment) {
      const t = raw.teams[team];
      if (!t) return "none";
      return t.environments[environment]?.autonomy ?? t.autonomy;
    },
    earn(team) {
      const e = raw.teams[team]?.earn;
      return e && e.up_to !== "critical" ? { upTo: e.up_to, after: e.after, withinMs: parseDuration(e.within) ?? 30 * 86_400_000 } : undefined;
    },
    environment(team, environment) {
      return raw.teams[team]?.environments[environment] ?? {};
    },
    groupsOf,
  };
}

/** Validates a parsed configuration object; throws ConfigError naming `file`. */
export function parseConfig(text: string, file: string): PavedConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        return { path: "", message: e.message.split("\n")[0], line: pos.line, column: pos.col };
      }),
    );
  }
  const parsed = configSchema.safeParse(doc.toJS(), { reportInput: true });
  const locate = (issues: { path: PropertyKey[]; message: string }[]) =>
    new ConfigError(
      file,
      issues.map((i) => {
        // An unknown key points at the key itself; anything else at its value.
        const node = (
          i.message.startsWith("unknown key")
            ? (doc.getIn(i.path.slice(0, -1), true) as { items?: { key: { value?: unknown; range?: [number, number] } }[] } | undefined)?.items?.find(
                (p) => p.key?.value === i.path[i.path.length - 1],
              )?.key
            : i.message === "is required"
              ? doc.getIn(i.path.slice(0, -1), true) // a missing key: where it belongs
              : doc.getIn(i.path, true)
        ) as { range?: [number, number] } | undefined;
        const pos = node?.range ? lines.linePos(node.range[0]) : undefined;
        return { path: formatPath(i.path as (string | number)[]), message: i.message, ...(pos ? { line: pos.line, column: pos.col } : {}) };
      }),
    );
  if (!parsed.success) throw locate(parsed.error.issues.flatMap(describeZodIssue));
  // JWKS files are read once, at start-up: a file that is missing or holds no keys stops it.
  const problems: { path: (string | number)[]; message: string }[] = [];
  const read = (path: string | undefined, at: (string | number)[]) => {
    if (path === undefined) return undefined;
    const found = readJwks(resolvePath(dirname(file), path));
    if (typeof found === "string") problems.push({ path: at, message: found });
    return typeof found === "string" ? undefined : found;
  };
  const keys = {
    oidc: read(parsed.data.auth.oidc?.jwks, ["auth", "oidc", "jwks"]),
    ci: parsed.data.auth.ci.map((c, i) => read(c.jwks, ["auth", "ci", i, "jwks"])),
  };
  if (problems.length) throw locate(problems);
  return buildConfig(parsed.data, keys);
}

/** Reads and validates `file`. */
export function loadConfig(file: string): PavedConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(file, [{ path: "", message: `cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }]);
  }
  return parseConfig(text, file);
}
