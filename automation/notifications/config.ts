/**
 * The `notifications` and `approvals.escalation` sections of `paved.yaml`: where events go
 * (sinks and routes) and the escalation ladder per risk level. The schema and its checks
 * are part of the config's schema (`config.ts`), so a bad entry stops start-up with its
 * file:line:col like any other.
 */
import { z } from "zod";
import { RISK_LEVELS, RiskLevel } from "../risk";

/** Every event a person may act on or want to know about. */
export const NOTIFICATION_EVENTS = [
  "approval_needed",
  "answer_needed",
  "approved",
  "rejected",
  "escalated",
  "applied",
  "failed",
  "expired",
  "blocked",
] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

const SINK_NAME = /^[a-z][a-z0-9_-]{0,62}$/;
/** `env:NAME`: the value is read from the environment when a delivery is sent. */
const ENV_REF = /^env:([A-Za-z_][A-Za-z0-9_]*)$/;

const webhookSchema = z.strictObject({
  type: z.literal("webhook"),
  /** An http(s) URL, or `env:NAME`. */
  url: z.string().min(1),
  /** The HMAC key of `x-paved-signature`: `env:NAME` (or, in a demo config, the key itself). */
  secret: z.string().min(1),
});
const slackSchema = z.strictObject({
  type: z.literal("slack"),
  /** A Slack incoming-webhook URL, usually `env:NAME` (the URL is the credential). */
  url: z.string().min(1),
});
const sinkSchema = z.discriminatedUnion("type", [webhookSchema, slackSchema]);
export type SinkConfig = z.output<typeof sinkSchema>;

const routeSchema = z.strictObject({
  events: z.array(z.enum(NOTIFICATION_EVENTS)).min(1),
  /** Only events of these teams (default: every team). */
  teams: z.array(z.string()).min(1).optional(),
  to: z.array(z.string()).min(1),
});
export type Route = z.output<typeof routeSchema>;

export const notificationsSchema = z
  .strictObject({
    sinks: z.record(z.string().regex(SINK_NAME, { message: `must match ${SINK_NAME.source}` }), sinkSchema).default({}),
    routes: z.array(routeSchema).default([]),
  })
  .default({ sinks: {}, routes: [] });

const rungSchema = z.strictObject({
  /** From when the request started waiting for approval: `30m`, `2h`. */
  after: z.string(),
  /** Sinks told when the rung fires (besides the routes of `escalated`). */
  notify: z.array(z.string()).default([]),
  /** From this rung on, members of this group approve as if they were in the rule's group. */
  addApprovers: z.string().optional(),
});

/** `approvals.escalation`: per risk level, the rungs in order. */
export const escalationSchema = z.partialRecord(z.enum(RISK_LEVELS), z.array(rungSchema).min(1)).optional();

/** One rung, loaded. */
export interface Rung {
  afterMs: number;
  notify: string[];
  addApprovers?: string;
}

export interface NotificationSettings {
  sinks: Record<string, SinkConfig>;
  routes: Route[];
}

export type EscalationLadder = Partial<Record<RiskLevel, Rung[]>>;

type Issue = (path: (string | number)[], message: string) => void;

/** Checks what the schema cannot: sink names, teams, groups, durations, URLs and secret references. */
export function checkNotifications(
  c: {
    demo: boolean;
    teams: Record<string, unknown>;
    approverGroups: Record<string, string[]>;
    notifications: z.output<typeof notificationsSchema>;
    escalation?: z.output<typeof escalationSchema>;
  },
  issue: Issue,
  /** `config.ts`'s duration parser (passed in: config.ts imports this module). */
  parseDuration: (text: string) => number | undefined,
): void {
  const sinks = c.notifications.sinks;
  for (const [name, sink] of Object.entries(sinks)) {
    if (!ENV_REF.test(sink.url) && !/^https?:\/\/[^\s/]+/.test(sink.url)) {
      issue(["notifications", "sinks", name, "url"], `"${sink.url}" is not an http(s) URL or env:NAME`);
    }
    if (sink.type === "webhook" && !ENV_REF.test(sink.secret) && !c.demo) {
      issue(["notifications", "sinks", name, "secret"], "must be env:NAME (a secret written in the file is allowed only with demo: true)");
    }
  }
  const sinkRef = (path: (string | number)[], s: string) => {
    if (!(s in sinks)) issue(path, `"${s}" is not in notifications.sinks`);
  };
  c.notifications.routes.forEach((route, i) => {
    route.to.forEach((s, j) => sinkRef(["notifications", "routes", i, "to", j], s));
    route.teams?.forEach((t, j) => {
      if (!(t in c.teams)) issue(["notifications", "routes", i, "teams", j], `"${t}" is not in teams`);
    });
  });
  for (const [level, rungs] of Object.entries(c.escalation ?? {})) {
    let previous = 0;
    rungs.forEach((rung, i) => {
      const path = ["approvals", "escalation", level, i];
      const ms = parseDuration(rung.after);
      if (!ms) issue([...path, "after"], `"${rung.after}" is not ${ms === 0 ? "a positive duration" : "a duration"} like 30m, 2h or 1d`);
      else if (ms <= previous) issue([...path, "after"], `"${rung.after}" must be later than the rung before it`);
      if (ms) previous = ms;
      rung.notify.forEach((s, j) => sinkRef([...path, "notify", j], s));
      if (rung.addApprovers !== undefined && !(rung.addApprovers in c.approverGroups)) {
        issue([...path, "addApprovers"], `"${rung.addApprovers}" is not in approverGroups`);
      }
    });
  }
}

/** The ladder with its durations in milliseconds (the config was checked). */
export function buildLadder(escalation: z.output<typeof escalationSchema>, parseDuration: (text: string) => number | undefined): EscalationLadder {
  const ladder: EscalationLadder = {};
  for (const [level, rungs] of Object.entries(escalation ?? {}) as [RiskLevel, z.output<typeof rungSchema>[]][]) {
    ladder[level] = rungs.map((r) => ({
      afterMs: parseDuration(r.after) ?? 0,
      notify: r.notify,
      ...(r.addApprovers ? { addApprovers: r.addApprovers } : {}),
    }));
  }
  return ladder;
}

/** The value of a sink setting: `env:NAME` read from `env` (undefined when unset), else the text itself. */
export function resolveSetting(value: string, env: NodeJS.ProcessEnv): { value?: string; from?: string } {
  const m = ENV_REF.exec(value);
  if (!m) return { value };
  return { value: env[m[1]] || undefined, from: m[1] };
}
