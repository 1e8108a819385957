/**
 * A Pulumi preview as a pull-request comment (GitHub-flavoured Markdown). Pure: the same
 * input gives the same text.
 *
 * Layout: a hidden marker line (`<!-- paved:pr-comment stack=<name> -->`, always the
 * first line, so that a workflow finds and updates its own comment), a title, a one-line
 * verdict, the reasons for the highest risk, a table of counts by operation, the preview's
 * errors, the policy results by enforcement level, then the changed resources by
 * operation (replaces and deletes first), grouped by component, warnings last. The event
 * log of a failed `up` says so in the title and opens with the operations that failed.
 *
 * Risk and approvals come only from `automation/risk.ts`, as in the service. No value of a
 * resource is ever printed: only names, types, keys, policy messages and diagnostics.
 * Over `maxChars` the comment is cut between sections (every table stays whole) and a note
 * says what was left out.
 */
import type { Environment } from "../../components/guardrails";
import type { FailedStep, FailureStatus, ParsedPreview, PolicyResult, PreviewDiagnostic, PreviewStep } from "../preview/parse";
import {
  ApprovalRequirement,
  ApprovalRules,
  Autonomy,
  RiskLevel,
  assessPreview,
  classifyStep,
  describeRequirement,
  requiredApprovals,
  riskRank,
} from "../risk";
import { StepOp, nameFromUrn, typeFromUrn } from "../steps";
import { formatCount, htmlText, mdCode, mdDetails, mdFence, mdTable, mdText, plural } from "./markdown";

/** GitHub's limit on the body of an issue or pull-request comment, in characters. */
export const GITHUB_COMMENT_LIMIT = 65_536;

export interface RenderInput {
  preview: ParsedPreview;
  /** Stack name for the marker and title (default: the stack in the preview's URNs). */
  stack?: string;
  /** Environment of resources without their own `paved:environment` tag. */
  environment: Environment;
  /** The environment was not given but assumed (the verdict says so). */
  environmentAssumed?: boolean;
  /** The highest level applied without a human (default `none`: a pull request always asks). */
  autonomy?: Autonomy;
  rules?: ApprovalRules;
}

export interface RenderOptions {
  /** Longest comment, in characters (default GitHub's 65,536). */
  maxChars?: number;
  /** Tables with more rows are folded in `<details>` (default 10). */
  foldRows?: number;
  /** Longer tables are split into tables of this many rows (default 100). */
  chunkRows?: number;
}

/** What a cut comment left out. */
export interface Omitted {
  /** Per op: how many of its resources were left out. */
  resources: Partial<Record<StepOp, number>>;
  /** Per enforcement level: how many policy results were left out. */
  policies: Record<string, number>;
  errors: number;
  warnings: number;
}

export interface RenderResult {
  markdown: string;
  truncated: boolean;
  /** A mandatory policy failed. */
  blocked: boolean;
  level: RiskLevel;
  requirement: ApprovalRequirement;
  omitted: Omitted;
}

/** Operations in the order they are listed: destructive first. */
export const OP_ORDER: readonly StepOp[] = ["replace", "delete", "update", "create", "import", "read", "refresh", "discard"];
const OP_SYMBOL: Record<StepOp, string> = {
  replace: "+-",
  delete: "-",
  update: "~",
  create: "+",
  import: "=",
  read: ">",
  refresh: "~",
  discard: "-",
  same: " ",
};
const OP_TITLE: Record<StepOp, string> = {
  replace: "Replace",
  delete: "Delete",
  update: "Update",
  create: "Create",
  import: "Import",
  read: "Read",
  refresh: "Refresh",
  discard: "Discard",
  same: "Unchanged",
};
const RISK_BADGE: Record<RiskLevel, string> = { low: "🟢", medium: "🟡", high: "🟠", critical: "🔴" };
const LEVEL_ORDER = ["mandatory", "advisory", "remediate"];
const LEVEL_TITLE: Record<string, string> = {
  mandatory: "⛔ Mandatory: blocks the change",
  advisory: "⚠️ Advisory",
  remediate: "🔧 Remediated",
};
/** Longest diagnostic message shown; the rest is cut with a note. */
const MAX_DIAGNOSTIC_CHARS = 3000;
/** Highest-risk reasons listed under the verdict. */
const MAX_REASONS = 5;
/** Changed keys shown before the rest are folded. */
const MAX_KEYS = 8;
/** Changed keys listed at all; past this only their number. */
const MAX_LISTED_KEYS = 60;
/** Longest reason shown (a reason lists the changed keys, which can be many). */
const MAX_REASON_CHARS = 300;
/** Room kept for the note of a cut comment. */
const NOTE_RESERVE = 400;

interface Section {
  /** Built when first read: a comment cut at 65,536 characters reads only the sections it keeps. */
  readonly text: string;
  resources?: Partial<Record<StepOp, number>>;
  policies?: Record<string, number>;
  errors?: number;
  warnings?: number;
  /**
   * A stand-in for all of one operation's sections, with their counts: they are made (grouped
   * by component, ordered by risk) only if the comment gets as far as them. Read through
   * `sectionAt`, which puts them in its place first.
   */
  expand?: () => Section[];
}

/** Section `i` of `sections`, the stand-in there replaced by the sections it stands for. */
function sectionAt(sections: Section[], i: number): Section {
  for (let s = sections[i]; s.expand; s = sections[i]) sections.splice(i, 1, ...s.expand());
  return sections[i];
}

/** The marker line a workflow searches for: `<!-- paved:pr-comment stack=<name> -->`. */
export function markerLine(stack: string | undefined): string {
  if (!stack) return "<!-- paved:pr-comment -->";
  const safe = stack.replace(/[^A-Za-z0-9._/-]/g, "_").replace(/--+/g, (m) => `-${"_".repeat(m.length - 1)}`);
  return `<!-- paved:pr-comment stack=${safe} -->`;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function approvalPhrase(req: ApprovalRequirement): string {
  return req.auto ? describeRequirement(req) : `needs ${describeRequirement(req)}`;
}

/** Resources per operation: the listed steps, and Pulumi's count of unchanged ones (it lists few of them). */
export function countOps(preview: ParsedPreview): Partial<Record<StepOp, number>> {
  const counts: Partial<Record<StepOp, number>> = {};
  for (const s of preview.steps) counts[s.op] = (counts[s.op] ?? 0) + 1;
  const same = preview.changeSummary.same;
  if (typeof same === "number") counts.same = same;
  return counts;
}

function verdictLine(input: RenderInput, level: RiskLevel, blocked: number, req: ApprovalRequirement, changing: number): string {
  const env = `environment ${input.environment}${input.environmentAssumed ? " (assumed: pass --environment)" : ""}`;
  const changes = changing === 0 ? "no changes" : `${plural(changing, "resource")} to change`;
  if (blocked > 0) {
    return `⛔ **Blocked by ${plural(blocked, "mandatory policy violation")}** · ${level} risk; once fixed it ${approvalPhrase(req)} · ${changes} · ${env}`;
  }
  return `${RISK_BADGE[level]} **${capitalize(level)} risk: ${approvalPhrase(req)}** · ${changes} · ${env}`;
}

function summaryTable(counts: Partial<Record<StepOp, number>>): string {
  const rows: string[][] = [];
  for (const op of [...OP_ORDER, "same" as const]) {
    const n = counts[op];
    if (!n) continue;
    rows.push([op === "same" ? "unchanged" : `${mdCode(OP_SYMBOL[op], true)} ${op}`, formatCount(n)]);
  }
  if (rows.length === 0) rows.push(["no resources", "0"]);
  return mdTable(["Operation", "Resources"], rows, ["left", "right"]);
}

function diagnosticBlock(d: PreviewDiagnostic): string {
  let message = d.message;
  if (message.length > MAX_DIAGNOSTIC_CHARS) {
    message = `${message.slice(0, MAX_DIAGNOSTIC_CHARS)}\n... (${formatCount(message.length - MAX_DIAGNOSTIC_CHARS)} more characters)`;
  }
  const where = d.urn ? `${mdCode(typeFromUrn(d.urn))} ${mdCode(nameFromUrn(d.urn))}:\n\n` : "";
  return `${where}${mdFence(message)}`;
}

const FAILURE_STATE: Record<FailureStatus, string> = {
  ok: "rolled back: unchanged",
  "partial-failure": "partly changed",
  unknown: "state unknown",
  awaiting: "awaited by the provider",
};

/** The head line and the section of a failed update: which operations failed and how they left each resource. */
function failureParts(preview: ParsedPreview, failed: FailedStep[]): { line: string; section: Section } {
  const refresh = preview.maybeCorrupt ? " The engine marked the stack as possibly corrupt: run `pulumi refresh` before the next update." : "";
  const line = `❌ **The update failed: ${plural(failed.length, "resource operation")} failed** (below).${refresh}`;
  const rows = failed.map((f) => [
    mdCode(f.name, true),
    mdCode(f.type, true),
    `${mdCode(OP_SYMBOL[f.op], true)} ${f.op}`,
    f.status ? FAILURE_STATE[f.status] : "—",
  ]);
  const text = `#### ❌ Failed operations (${formatCount(failed.length)})

${mdTable(["Resource", "Type", "Operation", "Left"], rows)}`;
  return { line, section: { text } };
}

function policySections(preview: ParsedPreview, options: Required<RenderOptions>): Section[] {
  const heading = "#### Policy results";
  if (!preview.policyResultsKnown) {
    return [
      {
        text: `${heading}\n\nNot shown: \`pulumi preview --json\` leaves policy results out. Pass the engine event log (\`--event-log\`) to see them.`,
      },
    ];
  }
  const packs = preview.policyPacks ? Object.entries(preview.policyPacks) : undefined;
  const packLine =
    packs === undefined ? "" : packs.length === 0 ? "No policy pack ran." : `Policy packs: ${packs.map(([n, v]) => `${mdCode(n)} ${mdText(v)}`).join(", ")}.`;
  if (preview.violations.length === 0) {
    // With no pack, "no violations" would read as a pass: say that nothing was checked.
    if (packs?.length === 0) return [{ text: `${heading}\n\nNot checked: no policy pack ran in this preview.` }];
    return [{ text: `${heading}\n\nNo violations.${packLine ? ` ${packLine}` : ""}` }];
  }
  const byLevel = new Map<string, PolicyResult[]>();
  for (const v of preview.violations) {
    const list = byLevel.get(v.enforcementLevel) ?? [];
    list.push(v);
    byLevel.set(v.enforcementLevel, list);
  }
  const levels = [...byLevel.keys()].sort((a, b) => rankLevel(a) - rankLevel(b) || a.localeCompare(b));
  const counts = levels.map((l) => `${formatCount(byLevel.get(l)!.length)} ${l}`).join(", ");
  let prefix = `${heading}: ${counts}\n\n${packLine ? `${packLine}\n\n` : ""}`;
  const sections: Section[] = [];
  for (const level of levels) {
    const results = byLevel.get(level)!;
    const title = LEVEL_TITLE[level] ?? capitalize(level);
    const row = (v: PolicyResult) => [
      mdCode(v.policyName, true),
      v.urn ? `${mdCode(nameFromUrn(v.urn), true)} (${mdCode(typeFromUrn(v.urn), true)})` : "the stack",
      mdText(v.message, true),
    ];
    for (const chunk of chunks(results, options.chunkRows)) {
      const head = prefix;
      const build = () => {
        const label = chunkLabel(title, chunk.from, chunk.rows.length, results.length, "result");
        const table = mdTable(["Policy", "Resource", "Message"], chunk.rows.map(row));
        const rest = label.slice(title.length);
        return head + (results.length > options.foldRows ? mdDetails(htmlText(label), table) : `**${mdText(title)}**${mdText(rest)}\n\n${table}`);
      };
      sections.push(lazySection(build, { policies: { [level]: chunk.rows.length } }));
      prefix = "";
    }
  }
  return sections;
}

/** A section whose text is built on first read (its counts are known up front). */
function lazySection(build: () => string, counts: Omit<Section, "text">): Section {
  let text: string | undefined;
  return {
    ...counts,
    get text() {
      text ??= build();
      return text;
    },
  };
}

function rankLevel(level: string): number {
  const i = LEVEL_ORDER.indexOf(level);
  return i === -1 ? LEVEL_ORDER.length : i;
}

function chunks<T>(rows: T[], size: number): { from: number; rows: T[] }[] {
  const out: { from: number; rows: T[] }[] = [];
  for (let from = 0; from < rows.length; from += size) out.push({ from, rows: rows.slice(from, from + size) });
  return out;
}

/** `Top level: 3 resources`, or for a part of a long table `Top level: resources 101–200 of 5,000`. */
function chunkLabel(title: string, from: number, count: number, total: number, word: string): string {
  if (count === total) return `${title}: ${plural(total, word)}`;
  return `${title}: ${word}s ${formatCount(from + 1)}–${formatCount(from + count)} of ${formatCount(total)}`;
}

const DIFF_NOTE: Record<string, string> = {
  add: " (added)",
  delete: " (removed)",
  update: "",
  "add-replace": " (added, forces replacement)",
  "delete-replace": " (removed, forces replacement)",
  "update-replace": " (forces replacement)",
};

/** The changed keys of a step, each with what happens to it; never a value. */
function keysCell(step: PreviewStep): string {
  const keys: string[] = [];
  if (step.diff) {
    for (const [key, kind] of Object.entries(step.diff)) keys.push(`${mdCode(key, true)}${DIFF_NOTE[kind] ?? ` (${mdText(kind, true)})`}`);
    for (const key of step.replaceKeys) if (!(key in step.diff)) keys.push(`${mdCode(key, true)} (forces replacement)`);
  } else {
    for (const key of step.changedKeys) keys.push(`${mdCode(key, true)}${step.replaceKeys.includes(key) ? " (forces replacement)" : ""}`);
    for (const key of step.replaceKeys) if (!step.changedKeys.includes(key)) keys.push(`${mdCode(key, true)} (forces replacement)`);
  }
  if (keys.length === 0) return "—";
  if (keys.length <= MAX_KEYS) return keys.join(", ");
  const folded = keys.slice(MAX_KEYS, MAX_LISTED_KEYS).join(", ");
  const unlisted = keys.length - Math.min(keys.length, MAX_LISTED_KEYS);
  return `${keys.slice(0, MAX_KEYS).join(", ")} <details><summary>and ${formatCount(keys.length - MAX_KEYS)} more</summary>${folded}${unlisted > 0 ? ` and ${formatCount(unlisted)} more` : ""}</details>`;
}

function shorten(reason: string): string {
  return reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS - 3)}...` : reason;
}

function isStackUrn(urn: string): boolean {
  return typeFromUrn(urn) === "pulumi:pulumi:Stack";
}

interface Row {
  step: PreviewStep;
  level: RiskLevel | "none";
  index: number;
}

/**
 * Rows riskiest first, in order of appearance within a level: a stable bucket sort (five
 * levels), linear in the rows where a comparison sort of 50,000 rows was not.
 */
function byRiskThenIndex(rows: Row[]): Row[] {
  const buckets: Row[][] = [[], [], [], [], []];
  // Rows arrive in index order: each bucket stays in it.
  for (const row of rows) buckets[4 - (riskRank(row.level) + 1)].push(row);
  return buckets.flat();
}

function changeSections(steps: PreviewStep[], levels: (RiskLevel | "none")[], environment: Environment, options: Required<RenderOptions>): Section[] {
  const byOp = new Map<StepOp, Row[]>();
  steps.forEach((step, index) => {
    if (step.op === "same") return;
    const list = byOp.get(step.op) ?? [];
    list.push({ step, level: levels[index], index });
    byOp.set(step.op, list);
  });
  if (byOp.size === 0) return [{ text: "#### Changes\n\nNo resource changes." }];
  const sections: Section[] = [];
  let first = true;
  for (const op of OP_ORDER) {
    const rows = byOp.get(op);
    if (!rows) continue;
    const prefix = `${first ? "#### Changes\n\n" : ""}##### ${mdCode(OP_SYMBOL[op])} ${OP_TITLE[op]} (${formatCount(rows.length)})\n\n`;
    // Made only when the comment reaches them (`sectionAt`).
    sections.push({ text: "", resources: { [op]: rows.length }, expand: () => opSections(op, rows, prefix, environment, options) });
    first = false;
  }
  return sections;
}

/** One operation's sections: its rows grouped by component, riskiest first, in tables of `chunkRows`. */
function opSections(op: StepOp, rows: Row[], heading: string, environment: Environment, options: Required<RenderOptions>): Section[] {
  let prefix = heading;
  const sections: Section[] = [];
  // Components in the order of their riskiest step, then of appearance.
  const groups = new Map<string, Row[]>();
  // Whether a parent is the stack, once per parent (a preview has few parents and many steps).
  const component = new Map<string, boolean>();
  for (const row of rows) {
    const urn = row.step.parentUrn;
    let isComponent = urn ? component.get(urn) : false;
    if (isComponent === undefined) component.set(urn!, (isComponent = !isStackUrn(urn!)));
    const parent = isComponent ? urn! : "";
    const list = groups.get(parent);
    if (list) list.push(row);
    else groups.set(parent, [row]);
  }
  const ordered = [...groups.entries()].map(([parent, list]) => {
    const sorted = byRiskThenIndex(list);
    return { parent, rows: sorted, top: riskRank(sorted[0].level), first: list[0].index };
  });
  ordered.sort((a, b) => b.top - a.top || a.first - b.first);
  for (const group of ordered) {
    const title = group.parent ? `Component ${typeFromUrn(group.parent)} ${nameFromUrn(group.parent)}` : "Top level";
    // The step's reasons are built only for the rows the comment shows.
    const cells = ({ step }: Row) => {
      const risk = classifyStep(step, environment);
      return [
        risk.level === "none" ? "—" : `${RISK_BADGE[risk.level]} ${risk.level}`,
        mdCode(step.name, true),
        mdCode(step.type, true),
        keysCell(step),
        risk.reasons.length > 0 ? mdText(risk.reasons.map(shorten).join("; "), true) : "—",
      ];
    };
    const total = group.rows.length;
    for (const chunk of chunks(group.rows, options.chunkRows)) {
      const head = prefix;
      const build = () => {
        const label = chunkLabel(title, chunk.from, chunk.rows.length, total, "resource");
        const table = mdTable(["Risk", "Resource", "Type", "Changed keys", "Why"], chunk.rows.map(cells));
        const folded = total > options.foldRows;
        const heading = group.parent
          ? `Component ${folded ? `<code>${htmlText(typeFromUrn(group.parent))}</code> <code>${htmlText(nameFromUrn(group.parent))}</code>` : `${mdCode(typeFromUrn(group.parent))} ${mdCode(nameFromUrn(group.parent))}`}`
          : "Top level";
        const rest = label.slice(title.length);
        return head + (folded ? mdDetails(`${heading}${htmlText(rest)}`, table) : `**${heading}**${mdText(rest)}\n\n${table}`);
      };
      sections.push(lazySection(build, { resources: { [op]: chunk.rows.length } }));
      prefix = "";
    }
  }
  return sections;
}

function omittedBy(sections: Section[]): Omitted {
  const omitted: Omitted = { resources: {}, policies: {}, errors: 0, warnings: 0 };
  for (const s of sections) {
    for (const [op, n] of Object.entries(s.resources ?? {})) omitted.resources[op as StepOp] = (omitted.resources[op as StepOp] ?? 0) + n;
    for (const [level, n] of Object.entries(s.policies ?? {})) omitted.policies[level] = (omitted.policies[level] ?? 0) + n;
    omitted.errors += s.errors ?? 0;
    omitted.warnings += s.warnings ?? 0;
  }
  return omitted;
}

function omittedNote(omitted: Omitted, totals: { resources: Partial<Record<StepOp, number>>; policies: Record<string, number> }, maxChars: number): string {
  const parts: string[] = [];
  const ops = OP_ORDER.filter((op) => omitted.resources[op]);
  if (ops.length > 0) {
    const n = ops.reduce((sum, op) => sum + omitted.resources[op]!, 0);
    parts.push(
      `${plural(n, "changed resource")} (${ops.map((op) => `${formatCount(omitted.resources[op]!)} of ${formatCount(totals.resources[op] ?? 0)} ${op}`).join(", ")})`,
    );
  }
  const levels = Object.keys(omitted.policies).filter((l) => omitted.policies[l] > 0);
  if (levels.length > 0) {
    const n = levels.reduce((sum, l) => sum + omitted.policies[l], 0);
    parts.push(
      `${plural(n, "policy result")} (${levels.map((l) => `${formatCount(omitted.policies[l])} of ${formatCount(totals.policies[l] ?? 0)} ${l}`).join(", ")})`,
    );
  }
  if (omitted.errors > 0) parts.push(plural(omitted.errors, "error"));
  if (omitted.warnings > 0) parts.push(plural(omitted.warnings, "warning"));
  return [
    "> [!WARNING]",
    `> Cut to stay under GitHub's ${formatCount(maxChars)}-character comment limit. Left out: ${parts.join("; ")}.`,
    "> The workflow log has the whole preview.",
  ].join("\n");
}

/** The comment for a preview, cut to `maxChars` at a section boundary when longer. */
export function render(input: RenderInput, options: RenderOptions = {}): RenderResult {
  const opts: Required<RenderOptions> = {
    maxChars: options.maxChars ?? GITHUB_COMMENT_LIMIT,
    foldRows: options.foldRows ?? 10,
    chunkRows: options.chunkRows ?? 100,
  };
  const { preview } = input;
  const risk = assessPreview(preview.steps, input.environment, preview.violations);
  const requirement = requiredApprovals(risk.level, { autonomy: input.autonomy ?? "none", ...(input.rules ? { rules: input.rules } : {}) });
  const mandatory = preview.violations.filter((v) => v.enforcementLevel === "mandatory").length;
  const counts = countOps(preview);
  let changing = 0;
  for (const s of preview.steps) if (s.op !== "same") changing++;
  const stack = input.stack ?? preview.stack;
  const errors = preview.diagnostics.filter((d) => d.severity === "error");
  const warnings = preview.diagnostics.filter((d) => d.severity === "warning");

  const run = preview.operation === "update" ? "update" : "preview";
  const failure = preview.failed && preview.failed.length > 0 ? failureParts(preview, preview.failed) : undefined;
  const head: string[] = [markerLine(stack), `### Pulumi ${run}${stack ? ` of ${mdCode(stack)}` : ""}${failure ? " failed" : ""}`];
  if (failure) head.push(failure.line);
  head.push(verdictLine(input, risk.level, mandatory, requirement, changing));
  if (errors.length > 0) head.push(`❌ **The ${run} reported ${plural(errors.length, "error")}** (below): the changes listed may be incomplete.`);
  // assessPreview lists the reasons of the steps at the highest level, then those of the
  // blocking violations: here the violations come first, and at low risk the steps'
  // reasons ("creates ...") are left out, as they say nothing worth a glance.
  const violationReasons = risk.reasons.slice(risk.reasons.length - mandatory);
  const stepReasons = risk.level === "low" ? [] : risk.reasons.slice(0, risk.reasons.length - mandatory);
  const reasons = [...violationReasons, ...stepReasons];
  if (reasons.length > 0) {
    const shown = reasons.slice(0, MAX_REASONS).map((r) => `- ${mdText(shorten(r))}`);
    if (reasons.length > MAX_REASONS) shown.push(`- and ${formatCount(reasons.length - MAX_REASONS)} more`);
    head.push(shown.join("\n"));
  }
  head.push(summaryTable(counts));

  const sections: Section[] = failure ? [failure.section] : [];
  errors.forEach((d, i) => {
    sections.push({ text: `${i === 0 ? `#### ❌ Errors (${formatCount(errors.length)})\n\n` : ""}${diagnosticBlock(d)}`, errors: 1 });
  });
  sections.push(...policySections(preview, opts));
  sections.push(...changeSections(preview.steps, risk.levels, input.environment, opts));
  if (warnings.length > 0) {
    sections.push({ text: mdDetails(`⚠️ ${plural(warnings.length, "warning")}`, warnings.map(diagnosticBlock).join("\n\n")), warnings: warnings.length });
  }

  const headText = head.join("\n\n");
  const policyTotals: Record<string, number> = {};
  for (const v of preview.violations) policyTotals[v.enforcementLevel] = (policyTotals[v.enforcementLevel] ?? 0) + 1;
  // The text ends with a newline: one character of the limit is kept for it.
  const limit = opts.maxChars - 1;
  // Sections are built while the comment fits: past the limit the rest is never rendered.
  let length = headText.length;
  let built = 0;
  while (built < sections.length && length <= limit) length += 2 + sectionAt(sections, built++).text.length;
  const truncated = length > limit;
  let markdown = truncated ? "" : [headText, ...sections.map((s) => s.text)].join("\n\n");
  let omitted = omittedBy([]);
  if (truncated) {
    // Whole sections while they fit with room for the note, then fewer if the note needs more.
    let keep = 0;
    let used = headText.length;
    while (keep < sections.length && used + 2 + sections[keep].text.length + NOTE_RESERVE <= limit) used += 2 + sections[keep++].text.length;
    for (;;) {
      omitted = omittedBy(sections.slice(keep));
      const note = omittedNote(omitted, { resources: counts, policies: policyTotals }, opts.maxChars);
      markdown = [headText, ...sections.slice(0, keep).map((s) => s.text), note].join("\n\n");
      if (markdown.length <= limit || keep === 0) break;
      keep--;
    }
  }
  return { markdown: markdown + "\n", truncated, blocked: risk.blocked, level: risk.level, requirement, omitted };
}
