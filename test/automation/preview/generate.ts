/**
 * Generated Pulumi previews for tests and the bench: the document `pulumi preview --json`
 * prints and engine event-log lines, shaped like the real fixtures in
 * test/fixtures/pulumi-preview/. Every state carries values that must never reach a
 * comment: `[secret]` and the plain-text SECRET_VALUE.
 */

/** A value planted in inputs and outputs: a comment that prints values would show it. */
export const SECRET_VALUE = "pl41n-t3xt-p4ssw0rd";

export interface GenStep {
  /** A Pulumi op: create, update, replace, create-replacement, delete-replaced, delete, same, ... */
  op: string;
  type: string;
  name: string;
  /** Parent URN (default: the stack). */
  parent?: string;
  /** The paved:environment tag (an AWS tag) of the resource. */
  env?: string;
  /** A Kubernetes paved.dev/environment label instead of a tag. */
  label?: string;
  protect?: boolean;
  diffReasons?: string[];
  replaceReasons?: string[];
  detailedDiff?: Record<string, { kind: string; inputDiff: boolean }> | null;
  /** Leave newState out (what delete steps do). */
  noNewState?: boolean;
}

export function urnOf(stack: string, type: string, name: string, parent?: string): string {
  const parentType = parent ? parent.split("::")[2] : undefined;
  const qualified = parentType && !parentType.endsWith("pulumi:pulumi:Stack") ? `${parentType}$${type}` : type;
  return `urn:pulumi:${stack}::paved::${qualified}::${name}`;
}

export function stackUrn(stack: string): string {
  return `urn:pulumi:${stack}::paved::pulumi:pulumi:Stack::paved-${stack}`;
}

function state(stack: string, s: GenStep, urn: string) {
  const inputs: Record<string, unknown> = {
    password: "[secret]",
    masterPassword: SECRET_VALUE,
    ...(s.env ? { tags: { "paved:environment": s.env, "paved:team": "payments", note: SECRET_VALUE } } : {}),
    ...(s.label ? { metadata: { labels: { "paved.dev/environment": s.label } } } : {}),
  };
  return {
    urn,
    custom: true,
    type: s.type,
    inputs,
    outputs: { ...inputs, endpoint: `${s.name}.internal:5432`, connectionString: "[secret]" },
    parent: s.parent ?? stackUrn(stack),
    ...(s.protect !== undefined ? { protect: s.protect } : {}),
  };
}

/** A step as `pulumi preview --json` lists it. */
export function digestStep(stack: string, s: GenStep) {
  const urn = urnOf(stack, s.type, s.name, s.parent);
  const st = state(stack, s, urn);
  const creates = s.op === "create";
  const deletes = s.op === "delete" || s.op === "delete-replaced";
  return {
    op: s.op,
    urn,
    provider: `urn:pulumi:${stack}::paved::pulumi:providers:aws::default_7_0_0::04da6b54-80e4-46f7-96ec-b56ff0331ba9`,
    ...(creates ? {} : { oldState: { ...st, id: `${s.name}-id` } }),
    ...(s.noNewState || deletes ? {} : { newState: st }),
    ...(s.diffReasons ? { diffReasons: s.diffReasons } : {}),
    ...(s.replaceReasons ? { replaceReasons: s.replaceReasons } : {}),
    detailedDiff: s.detailedDiff ?? null,
  };
}

/** The whole document: the Stack's `same` step, then `steps`. */
export function previewDigest(stack: string, steps: GenStep[], extra: Record<string, unknown> = {}) {
  const changeSummary: Record<string, number> = { same: 1 };
  for (const s of steps) changeSummary[s.op] = (changeSummary[s.op] ?? 0) + 1;
  return {
    config: { "aws:region": "us-east-1", "paved:dbPassword": "[secret]" },
    steps: [
      {
        op: "same",
        urn: stackUrn(stack),
        oldState: { urn: stackUrn(stack), type: "pulumi:pulumi:Stack" },
        newState: { urn: stackUrn(stack), type: "pulumi:pulumi:Stack" },
        detailedDiff: null,
      },
      ...steps.map((s) => digestStep(stack, s)),
    ],
    duration: 1_200_000_000,
    changeSummary,
    ...extra,
  };
}

export type EventFormat = "cli" | "cloud";

/** One event-log line in the CLI's format (`sequence`) or Pulumi Cloud's (`type`). */
export function eventLine(kind: string, payload: unknown, sequence: number, format: EventFormat = "cli"): string {
  return format === "cli"
    ? JSON.stringify({ sequence, timestamp: 1_760_000_000 + sequence, [kind]: payload })
    : JSON.stringify({ timestamp: 1_760_000_000 + sequence, type: kind, [kind]: payload });
}

export function policyEvent(stack: string, s: { type: string; name: string }, policyName: string, enforcementLevel: string, message: string) {
  return {
    resourceUrn: urnOf(stack, s.type, s.name),
    message: `<{%reset%}>${message}<{%reset%}>\n`,
    color: "raw",
    policyName,
    policyPackName: "paved",
    policyPackVersion: "0.1.0",
    enforcementLevel,
  };
}

/** An event log for `steps`: prelude, a resourcePreEvent per step, the policy events, the summary. */
export function eventLog(stack: string, steps: GenStep[], policies: unknown[], format: EventFormat = "cli"): string {
  const lines: string[] = [];
  let seq = 0;
  lines.push(eventLine("preludeEvent", { config: { "paved:dbPassword": "[secret]" } }, seq++, format));
  for (const s of steps) {
    const d = digestStep(stack, s);
    const metadata = {
      op: s.op,
      urn: d.urn,
      type: s.type,
      ...(d.oldState ? { old: d.oldState } : {}),
      ...(d.newState ? { new: d.newState } : {}),
      ...(s.replaceReasons ? { keys: s.replaceReasons } : {}),
      ...(s.diffReasons ? { diffs: s.diffReasons } : {}),
      detailedDiff: s.detailedDiff
        ? Object.fromEntries(Object.entries(s.detailedDiff).map(([k, v]) => [k, { diffKind: v.kind, inputDiff: v.inputDiff }]))
        : null,
      provider: "",
    };
    lines.push(eventLine("resourcePreEvent", { metadata, planning: true }, seq++, format));
  }
  for (const p of policies) lines.push(eventLine("policyEvent", p, seq++, format));
  const resourceChanges: Record<string, number> = {};
  for (const s of steps) resourceChanges[s.op] = (resourceChanges[s.op] ?? 0) + 1;
  lines.push(
    eventLine("summaryEvent", { maybeCorrupt: false, durationSeconds: 3, resourceChanges, PolicyPacks: { paved: "0.1.0" }, isPreview: true }, seq++, format),
  );
  return lines.join("\n") + "\n";
}

export const RDS = "aws:rds/instance:Instance";

/**
 * A large preview: `count` steps under components of 100 children each, mostly creates,
 * with updates, deletes and replaces of RDS instances among them, in prod.
 */
export function largePreviewSteps(count: number): GenStep[] {
  const steps: GenStep[] = [];
  for (let i = 0; i < count; i++) {
    const component = `urn:pulumi:prod::paved::paved:aws:PostgresDatabase::db-${Math.floor(i / 100)}`;
    const kind = i % 50;
    if (kind === 0) {
      steps.push({
        op: "replace",
        type: RDS,
        name: `instance-${i}`,
        parent: component,
        env: "prod",
        diffReasons: ["engine"],
        replaceReasons: ["engine"],
        detailedDiff: { engine: { kind: "update-replace", inputDiff: true } },
      });
    } else if (kind === 1) {
      steps.push({ op: "delete", type: "aws:s3/bucket:Bucket", name: `bucket-${i}`, parent: component, env: "prod" });
    } else if (kind < 12) {
      steps.push({
        op: "update",
        type: "aws:sqs/queue:Queue",
        name: `queue-${i}`,
        parent: component,
        env: "prod",
        diffReasons: ["tags", "visibilityTimeoutSeconds"],
        detailedDiff: { "tags.owner": { kind: "update", inputDiff: true }, visibilityTimeoutSeconds: { kind: "update", inputDiff: true } },
      });
    } else {
      steps.push({ op: "create", type: "aws:cloudwatch/metricAlarm:MetricAlarm", name: `alarm-${i}`, parent: component, env: "prod" });
    }
  }
  return steps;
}
