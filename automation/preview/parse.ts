/**
 * Pulumi previews as PlannedSteps: the document `pulumi preview --json` prints and the
 * engine event log (`--event-log`, JSON lines, in the CLI's format or Pulumi Cloud's).
 * The JSON preview leaves policy results out; the event log has them (`policyEvent`).
 * An event log can also be that of an `up`: a resource operation that failed there
 * (`resOpFailedEvent`) becomes a failed step, so that a failed update never reads as a preview.
 *
 * Nothing here keeps a value of a resource: only ops, URNs, types, parents, the keys that
 * change, `protect` and the `paved:environment` tag are read. Secrets cannot leak from a
 * step because no step carries a value.
 */
import { z } from "zod";
import type { Environment } from "../../components/guardrails";
import { environmentOf } from "../../policy-pack/policies/shared";
import type { ViolationLike } from "../risk";
import { PlannedStep, StepOp, nameFromUrn, normalizeOp, typeFromUrn } from "../steps";
import { decodeText, lineColumn, scanJson, stripColors } from "./text";

/** A planned step with the kind of each changed key (`add`, `update`, `delete`, `update-replace`, ...). */
export interface PreviewStep extends PlannedStep {
  /** detailedDiff: changed key -> kind. Absent when Pulumi gave no detailed diff. */
  diff?: Record<string, string>;
}

export interface PreviewDiagnostic {
  /** `error`, `warning`, `info`, ... */
  severity: string;
  /** Without ANSI escapes or Pulumi colour tags. */
  message: string;
  urn?: string;
}

/** A policy result from the event log: a violation at its enforcement level. */
export interface PolicyResult extends ViolationLike {
  urn?: string;
  policyPackName?: string;
  policyPackVersion?: string;
}

/**
 * How a resource was left when its operation failed (Pulumi's `resource.Status`,
 * `sdk/go/common/resource/status.go`): rolled back cleanly, partly applied, in an unknown
 * state, or awaited by the provider.
 */
export type FailureStatus = "ok" | "partial-failure" | "unknown" | "awaiting";
const FAILURE_STATUS: readonly FailureStatus[] = ["ok", "partial-failure", "unknown", "awaiting"];

/** A resource operation that failed during an update (`resOpFailedEvent`). */
export interface FailedStep {
  op: StepOp;
  urn: string;
  type: string;
  name: string;
  /** Absent when the engine sent a status this parser does not know. */
  status?: FailureStatus;
}

export interface ParsedPreview {
  /** One step per URN: replacement sub-steps collapsed into `replace`. */
  steps: PreviewStep[];
  diagnostics: PreviewDiagnostic[];
  /** Pulumi's count per op (it counts every `same`, listed or not); empty when not known. */
  changeSummary: Record<string, number>;
  violations: PolicyResult[];
  /** Whether policy results are known at all: only an event log has them. */
  policyResultsKnown: boolean;
  /** Policy packs that ran (name -> version), from the event log's summary. */
  policyPacks?: Record<string, string>;
  /** The stack name, from the first URN. */
  stack?: string;
  /**
   * What the event log records: `preview` (steps are planned), or `update` (an `up` that ran
   * them). Absent for `pulumi preview --json`, which is always a preview.
   */
  operation?: "preview" | "update";
  /** Resource operations that failed (an `up`'s event log); absent when none did. */
  failed?: FailedStep[];
  /** The engine's summary says some resources may be corrupt (a failed update left them half done). */
  maybeCorrupt?: boolean;
}

/** Input that cannot be read, with where: the file, and the line and column when known. */
export class PreviewInputError extends Error {
  constructor(
    readonly detail: string,
    readonly file: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    super(`${file}${line !== undefined ? `:${line}${column !== undefined ? `:${column}` : ""} ` : ": "}${detail}`);
    this.name = "PreviewInputError";
  }
}

// Only what is read is checked; every other field passes through untouched.
const state = z
  .looseObject({
    type: z.string().optional(),
    parent: z.string().optional(),
    protect: z.boolean().optional(),
    inputs: z.record(z.string(), z.unknown()).nullish(),
  })
  .nullish();
const keyList = z.array(z.string()).nullish();
const detailedDiff = z.record(z.string(), z.looseObject({ kind: z.string().optional(), diffKind: z.string().optional() })).nullish();
const counts = z.record(z.string(), z.number()).nullish();

const digestSchema = z.looseObject({
  steps: z
    .array(
      z.looseObject({
        op: z.string(),
        urn: z.string(),
        oldState: state,
        newState: state,
        diffReasons: keyList,
        replaceReasons: keyList,
        detailedDiff,
      }),
    )
    .nullish(),
  diagnostics: z.array(z.looseObject({ message: z.string(), severity: z.string().optional(), urn: z.string().optional() })).nullish(),
  changeSummary: counts,
});

const eventSchemas = {
  resourcePreEvent: z.looseObject({
    metadata: z.looseObject({
      op: z.string(),
      urn: z.string(),
      type: z.string().optional(),
      old: state,
      new: state,
      keys: keyList,
      diffs: keyList,
      detailedDiff,
    }),
    planning: z.boolean().nullish(),
  }),
  resOpFailedEvent: z.looseObject({
    metadata: z.looseObject({ op: z.string(), urn: z.string(), type: z.string().optional(), old: state, new: state }),
    status: z.number().nullish(),
    steps: z.number().nullish(),
  }),
  policyEvent: z.looseObject({
    resourceUrn: z.string().optional(),
    message: z.string(),
    policyName: z.string(),
    policyPackName: z.string().optional(),
    policyPackVersion: z.string().optional(),
    enforcementLevel: z.string(),
  }),
  diagnosticEvent: z.looseObject({ urn: z.string().optional(), message: z.string(), severity: z.string(), ephemeral: z.boolean().optional() }),
  summaryEvent: z.looseObject({
    resourceChanges: counts,
    PolicyPacks: z.record(z.string(), z.string()).nullish(),
    maybeCorrupt: z.boolean().nullish(),
    isPreview: z.boolean().nullish(),
  }),
};
type EventKind = keyof typeof eventSchemas;

/** `steps[3].urn` for a zod issue path. */
function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${String(p)}`)).join("");
}

function shapeProblem(issues: readonly z.core.$ZodIssue[], prefix = ""): string {
  const describe = (issue: z.core.$ZodIssue) => {
    const message = issue.message.replace(/^Invalid input: /, "");
    const where = `${prefix}${prefix && issue.path.length > 0 && typeof issue.path[0] !== "number" ? "." : ""}${formatPath(issue.path)}`;
    const what = /received undefined$/.test(message) ? `missing (${message.replace(/, received undefined$/, "")})` : message;
    return `${where}: ${what}`;
  };
  return describe(issues[0]) + (issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length === 2 ? "" : "s"})` : "");
}

/** The stack name in a URN (`urn:pulumi:<stack>::...`). */
export function stackFromUrn(urn: string): string | undefined {
  const m = /^urn:pulumi:([^:]+)::/.exec(urn);
  return m ? m[1] : undefined;
}

type RawState = z.infer<typeof state>;

interface RawStep {
  op: string;
  urn: string;
  type?: string;
  oldState?: RawState;
  newState?: RawState;
  diffReasons?: string[] | null;
  replaceReasons?: string[] | null;
  detailedDiff?: Record<string, { kind?: string; diffKind?: string }> | null;
}

function environmentOfState(s: RawState): Environment | undefined {
  if (!s?.inputs) return undefined;
  const env = environmentOf(s.inputs, {});
  return env.source === "tag" || env.source === "label" ? env.environment : undefined;
}

/** One Pulumi step (digest or event metadata) as a PreviewStep, or undefined for an op it does not know. */
export function toPlannedStep(raw: RawStep): PreviewStep | undefined {
  const op = normalizeOp(raw.op);
  if (!op) return undefined;
  const after = raw.newState ?? undefined;
  const before = raw.oldState ?? undefined;
  const diff: Record<string, string> = {};
  for (const [key, d] of Object.entries(raw.detailedDiff ?? {})) diff[key] = d.kind ?? d.diffKind ?? "update";
  const diffKeys = Object.keys(diff);
  const changesKeys = op !== "create" && op !== "delete";
  const changedKeys = changesKeys ? (diffKeys.length > 0 ? diffKeys : [...(raw.diffReasons ?? [])]) : [];
  const replaceKeys = op === "replace" ? unique([...(raw.replaceReasons ?? []), ...diffKeys.filter((k) => diff[k].endsWith("-replace"))]) : [];
  const parent = after?.parent || before?.parent || undefined;
  const protect = after?.protect ?? before?.protect;
  const environment = environmentOfState(after) ?? environmentOfState(before);
  return {
    op,
    urn: raw.urn,
    type: after?.type || before?.type || raw.type || typeFromUrn(raw.urn),
    name: nameFromUrn(raw.urn),
    ...(parent ? { parentUrn: parent } : {}),
    changedKeys,
    replaceKeys,
    ...(protect !== undefined ? { protect } : {}),
    ...(environment ? { environment } : {}),
    ...(changesKeys && diffKeys.length > 0 ? { diff } : {}),
  };
}

function unique(keys: string[]): string[] {
  return [...new Set(keys)];
}

const OP_WEIGHT: Record<StepOp, number> = { replace: 6, delete: 5, update: 4, create: 3, import: 3, read: 2, refresh: 1, discard: 1, same: 0 };

function mergeOp(a: StepOp, b: StepOp): StepOp {
  if (a === b) return a;
  if ((a === "create" && b === "delete") || (a === "delete" && b === "create")) return "replace";
  return OP_WEIGHT[a] >= OP_WEIGHT[b] ? a : b;
}

/**
 * One step per URN, in the order each URN first appears: Pulumi's replacement sub-steps
 * (`create-replacement`, `replace`, `delete-replaced`) become one `replace` with the keys
 * of all of them, and repeated events for a URN count once.
 */
export function collapseSteps(steps: PreviewStep[]): PreviewStep[] {
  const byUrn = new Map<string, PreviewStep>();
  for (const s of steps) {
    const seen = byUrn.get(s.urn);
    if (!seen) {
      byUrn.set(s.urn, s);
      continue;
    }
    const op = mergeOp(seen.op, s.op);
    const diff = seen.diff || s.diff ? { ...s.diff, ...seen.diff } : undefined;
    byUrn.set(s.urn, {
      ...s,
      ...seen,
      op,
      changedKeys: op === "create" || op === "delete" ? [] : unique([...seen.changedKeys, ...s.changedKeys]),
      replaceKeys: op === "replace" ? unique([...seen.replaceKeys, ...s.replaceKeys]) : [],
      ...(diff ? { diff } : {}),
    });
  }
  return [...byUrn.values()];
}

function unknownOpWarning(op: string, urn: string): PreviewDiagnostic {
  return { severity: "warning", message: `step op "${op}" not understood: ${urn} is left out of this comment`, urn };
}

/**
 * The document `pulumi preview --json` printed (a file's bytes or text). Lines before the
 * JSON (CLI warnings) and after it are skipped; a UTF-8 or UTF-16 BOM and CRLF line ends
 * are fine. Throws a PreviewInputError naming `source` and the line and column.
 */
export function parsePreviewJson(data: Buffer | string, source: string): ParsedPreview {
  const text = decodeText(data);
  if (text.trim() === "") throw new PreviewInputError("empty input (expected the output of `pulumi preview --json`)", source);
  const start = findJsonStart(text);
  if (start === undefined) {
    const first = text
      .split(/\r?\n/)
      .find((l) => l.trim() !== "")!
      .trim();
    throw new PreviewInputError(
      `no JSON document found (expected the output of \`pulumi preview --json\`); it starts with ${JSON.stringify(first.length > 120 ? `${first.slice(0, 120)}...` : first)}`,
      source,
    );
  }
  const json = parseDocument(text, start, source);
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new PreviewInputError(
      `expected a JSON object (the output of \`pulumi preview --json\`), found ${Array.isArray(json) ? "an array" : typeof json}`,
      source,
    );
  }
  const doc = json as Record<string, unknown>;
  if (!("steps" in doc) && !("changeSummary" in doc) && !("diagnostics" in doc)) {
    const hint =
      "deployment" in doc
        ? ": this looks like `pulumi stack export`"
        : Object.keys(doc).some((k) => k.endsWith("Event"))
          ? ": this looks like an engine event log (pass it with --event-log)"
          : "";
    throw new PreviewInputError(`not the output of \`pulumi preview --json\`: it has no steps, changeSummary or diagnostics${hint}`, source);
  }
  const parsed = digestSchema.safeParse(doc);
  if (!parsed.success) throw new PreviewInputError(shapeProblem(parsed.error.issues), source);
  const diagnostics: PreviewDiagnostic[] = (parsed.data.diagnostics ?? []).map((d) => ({
    severity: d.severity ?? "info",
    message: stripColors(d.message).trimEnd(),
    ...(d.urn ? { urn: d.urn } : {}),
  }));
  const steps: PreviewStep[] = [];
  for (const raw of parsed.data.steps ?? []) {
    const step = toPlannedStep(raw);
    if (step) steps.push(step);
    else diagnostics.push(unknownOpWarning(raw.op, raw.urn));
  }
  const firstUrn = parsed.data.steps?.[0]?.urn ?? parsed.data.diagnostics?.find((d) => d.urn)?.urn;
  const stack = firstUrn ? stackFromUrn(firstUrn) : undefined;
  return {
    steps: collapseSteps(steps),
    diagnostics,
    changeSummary: { ...(parsed.data.changeSummary ?? {}) },
    violations: [],
    policyResultsKnown: false,
    ...(stack ? { stack } : {}),
  };
}

/** Offset of the first line that starts (after blanks) with `{`: where the document begins. */
function findJsonStart(text: string): number | undefined {
  for (let lineStart = 0; lineStart < text.length;) {
    const m = /^[ \t]*/.exec(text.slice(lineStart, lineStart + 200))!;
    if (text[lineStart + m[0].length] === "{") return lineStart + m[0].length;
    const nl = text.indexOf("\n", lineStart);
    if (nl === -1) return undefined;
    lineStart = nl + 1;
  }
  return undefined;
}

/** The JSON value at `start`; text after it is skipped when it starts on a later line. */
function parseDocument(text: string, start: number, source: string): unknown {
  try {
    return JSON.parse(start === 0 ? text : text.slice(start));
  } catch (err) {
    const scan = scanJson(text, start);
    if (!scan.ok) {
      const { line, column } = lineColumn(text, scan.error.offset);
      throw new PreviewInputError(`invalid JSON: ${scan.error.message}`, source, line, column);
    }
    const valueEnd = text.slice(start, scan.end).trimEnd().length + start;
    if (scan.end < text.length && !/[\r\n]/.test(text.slice(valueEnd, scan.end))) {
      const { line, column } = lineColumn(text, scan.end);
      throw new PreviewInputError("invalid JSON: unexpected text after the JSON document", source, line, column);
    }
    if (scan.end < text.length) return JSON.parse(text.slice(start, scan.end));
    throw new PreviewInputError(`invalid JSON: ${(err as Error).message}`, source);
  }
}

function isEventKind(kind: string): kind is EventKind {
  return kind in eventSchemas;
}

/**
 * An engine event log (`pulumi preview --event-log <file>`): one JSON object per line, in
 * the CLI's format (`{"sequence":..,"resourcePreEvent":{..}}`) or Pulumi Cloud's (with a
 * `type` field). Gives the steps, the policy results (`policyEvent`), error and warning
 * diagnostics and the summary. Blank lines are skipped; any other line that is not a
 * JSON object is an error with its line and column.
 */
export function parseEventLog(data: Buffer | string, source: string): ParsedPreview {
  const text = decodeText(data);
  const lines = text.split("\n");
  const steps: PreviewStep[] = [];
  const diagnostics: PreviewDiagnostic[] = [];
  const violations: PolicyResult[] = [];
  const seenViolations = new Set<string>();
  let changeSummary: Record<string, number> = {};
  let policyPacks: Record<string, string> | undefined;
  let events = 0;
  let stack: string | undefined;
  const failed: FailedStep[] = [];
  let planning: boolean | undefined;
  let maybeCorrupt = false;
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].replace(/\r$/, "");
    if (line.trim() === "") continue;
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch (err) {
      const scan = scanJson(line);
      const column = scan.ok ? scan.end + 1 : scan.error.offset + 1;
      const message = scan.ok ? "unexpected text after the event" : scan.error.message;
      throw new PreviewInputError(`invalid JSON in the event log: ${message}`, source, n + 1, column);
    }
    if (event === null || typeof event !== "object" || Array.isArray(event)) {
      throw new PreviewInputError("expected an engine event (a JSON object) on each line", source, n + 1);
    }
    const e = event as Record<string, unknown>;
    const kind = typeof e.type === "string" ? e.type : Object.keys(e).find((k) => k.endsWith("Event"));
    if (kind === undefined) throw new PreviewInputError("not an engine event: no `type` and no `...Event` field", source, n + 1);
    events++;
    if (!isEventKind(kind)) continue;
    const parsed = eventSchemas[kind].safeParse(e[kind]);
    if (!parsed.success) throw new PreviewInputError(shapeProblem(parsed.error.issues, kind), source, n + 1);
    if (kind === "resourcePreEvent") {
      const pre = parsed.data as z.infer<(typeof eventSchemas)["resourcePreEvent"]>;
      const m = pre.metadata;
      planning = planning === true || pre.planning === true;
      stack ??= stackFromUrn(m.urn);
      const step = toPlannedStep({
        op: m.op,
        urn: m.urn,
        type: m.type,
        oldState: m.old,
        newState: m.new,
        diffReasons: m.diffs,
        replaceReasons: m.keys,
        detailedDiff: m.detailedDiff,
      });
      if (step) steps.push(step);
      else diagnostics.push(unknownOpWarning(m.op, m.urn));
    } else if (kind === "resOpFailedEvent") {
      const f = parsed.data as z.infer<(typeof eventSchemas)["resOpFailedEvent"]>;
      const m = f.metadata;
      stack ??= stackFromUrn(m.urn);
      const status = typeof f.status === "number" ? FAILURE_STATUS[f.status] : undefined;
      failed.push({
        op: normalizeOp(m.op) ?? "update",
        urn: m.urn,
        type: m.new?.type || m.old?.type || m.type || typeFromUrn(m.urn),
        name: nameFromUrn(m.urn),
        ...(status ? { status } : {}),
      });
    } else if (kind === "policyEvent") {
      const p = parsed.data as z.infer<(typeof eventSchemas)["policyEvent"]>;
      const v: PolicyResult = {
        policyName: p.policyName,
        enforcementLevel: p.enforcementLevel,
        message: stripColors(p.message).trim(),
        ...(p.resourceUrn ? { urn: p.resourceUrn, resourceName: nameFromUrn(p.resourceUrn) } : {}),
        ...(p.policyPackName ? { policyPackName: p.policyPackName } : {}),
        ...(p.policyPackVersion ? { policyPackVersion: p.policyPackVersion } : {}),
      };
      const key = JSON.stringify([v.urn, v.policyPackName, v.policyName, v.enforcementLevel, v.message]);
      if (!seenViolations.has(key)) {
        seenViolations.add(key);
        violations.push(v);
      }
    } else if (kind === "diagnosticEvent") {
      const d = parsed.data as z.infer<(typeof eventSchemas)["diagnosticEvent"]>;
      if (!d.ephemeral && (d.severity === "error" || d.severity === "warning")) {
        diagnostics.push({ severity: d.severity, message: stripColors(d.message).trimEnd(), ...(d.urn ? { urn: d.urn } : {}) });
      }
    } else {
      const s = parsed.data as z.infer<(typeof eventSchemas)["summaryEvent"]>;
      changeSummary = { ...(s.resourceChanges ?? {}) };
      if (s.PolicyPacks) policyPacks = { ...s.PolicyPacks };
      if (s.maybeCorrupt === true) maybeCorrupt = true;
      if (s.isPreview === true) planning = true;
    }
  }
  if (events === 0) throw new PreviewInputError("empty event log (expected the file written by `pulumi preview --event-log`)", source);
  return {
    steps: collapseSteps(steps),
    diagnostics,
    changeSummary,
    violations,
    policyResultsKnown: true,
    ...(policyPacks ? { policyPacks } : {}),
    ...(stack ? { stack } : {}),
    // Steps planned (`planning`, `isPreview`) make a preview; steps run, or a failed one, an update.
    ...(planning !== undefined || failed.length > 0 ? { operation: planning === true && failed.length === 0 ? "preview" : "update" } : {}),
    ...(failed.length > 0 ? { failed } : {}),
    ...(maybeCorrupt ? { maybeCorrupt } : {}),
  };
}

/**
 * A preview and its event log together: the steps, diagnostics and counts of the preview
 * (the event log repeats them), the policy results of the event log. Either may be absent.
 */
export function combinePreview(preview: ParsedPreview | undefined, events: ParsedPreview | undefined): ParsedPreview {
  if (!preview && !events) throw new Error("combinePreview needs a preview or an event log");
  if (!preview) return events!;
  if (!events) return preview;
  const stack = preview.stack ?? events.stack;
  return {
    steps: preview.steps,
    diagnostics: preview.diagnostics,
    changeSummary: Object.keys(preview.changeSummary).length > 0 ? preview.changeSummary : events.changeSummary,
    violations: events.violations,
    policyResultsKnown: true,
    ...(events.policyPacks ? { policyPacks: events.policyPacks } : {}),
    ...(stack ? { stack } : {}),
    ...(events.operation ? { operation: events.operation } : {}),
    ...(events.failed ? { failed: events.failed } : {}),
    ...(events.maybeCorrupt ? { maybeCorrupt: true } : {}),
  };
}
