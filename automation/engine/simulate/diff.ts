/**
 * How the simulate engine turns "what the program registers now" and "what the stack
 * holds" into Pulumi-like steps: by URN, then by inputs. Changed keys are detailed-diff
 * paths, as the engine reports them (`paths.ts`); whether a change replaces or updates is
 * the provider's own rule for the type (`providerRules.ts`). A resource that is created or
 * replaced gets new ids and computed outputs, so every input that references them changes
 * too (the engine shows them unknown during a preview): that is how a RandomPassword whose
 * keepers change shows its consumers changing. Deletes come last, in reverse registration order.
 */
import { Environment, ENVIRONMENTS, TAG_KEYS, LABEL_KEYS } from "../../../components/guardrails";
import type { PlannedStep } from "../../steps";
import { PathSegment, diffPaths, formatPath, pathStyleOf } from "./paths";
import { replacePaths, replaceRuleFor } from "./providerRules";

/** One resource as the simulated stack holds it. Secret inputs are replaced by a hash marker. */
export interface SimResource {
  urn: string;
  type: string;
  name: string;
  parent?: string;
  protect: boolean;
  custom: boolean;
  inputs: Record<string, unknown>;
  /**
   * Inputs that hold another resource's id or computed output (found by the worker): the
   * input's path and the URNs whose outputs it holds. Absent in states written before.
   */
  refs?: InputRef[];
}

/** An input holding the id or a computed output of other resources. */
export interface InputRef {
  path: PathSegment[];
  from: string[];
}

/** A simulated stack: its resources and its outputs (secrets as `"[secret]"`). */
export interface SimState {
  resources: SimResource[];
  outputs: Record<string, unknown>;
  /** URNs an apply was changing when it stopped (as Pulumi's pending operations). */
  pending?: string[];
}

export const EMPTY_STATE: SimState = { resources: [], outputs: {} };

function environmentOf(inputs: Record<string, unknown>): Environment | undefined {
  const tags = inputs.tags as Record<string, unknown> | undefined;
  const labels = (inputs.metadata as { labels?: Record<string, unknown> } | undefined)?.labels;
  const value = tags?.[TAG_KEYS.environment] ?? labels?.[LABEL_KEYS.environment];
  return (ENVIRONMENTS as readonly unknown[]).includes(value) ? (value as Environment) : undefined;
}

function samePath(a: PathSegment[], b: PathSegment[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

/**
 * The paths where a resource's inputs change, as its provider reports them: the bridge
 * reports `tagsAll` (tags merged with the provider's default tags) alongside `tags`.
 */
export function changedPaths(type: string, before: Record<string, unknown>, after: Record<string, unknown>): PathSegment[][] {
  const paths = diffPaths(before, after, { sets: replaceRuleFor(type)?.sets });
  if (type.startsWith("aws:") && !("tagsAll" in after)) {
    for (const p of [...paths]) if (p[0] === "tags") paths.push(["tagsAll", ...p.slice(1)]);
  }
  return paths;
}

/** The op and keys of one resource whose inputs went from `before` to `after`. */
export function classifyChange(
  type: string,
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  extra: PathSegment[][] = [],
): { op: "same" | "update" | "replace"; changedKeys: string[]; replaceKeys: string[] } {
  const paths = changedPaths(type, before, after);
  for (const p of extra) if (!paths.some((q) => samePath(p, q))) paths.push(p);
  if (paths.length === 0) return { op: "same", changedKeys: [], replaceKeys: [] };
  const style = pathStyleOf(type);
  const keys = (list: PathSegment[][]) => [...new Set(list.map((p) => formatPath(p, style)))].sort();
  const forcing = replacePaths(type, paths, before, after);
  return { op: forcing.length > 0 ? "replace" : "update", changedKeys: keys(paths), replaceKeys: keys(forcing) };
}

/** The steps that take `current` to `next` (`next` empty for a destroy). */
export function diffStates(current: SimResource[], next: SimResource[]): PlannedStep[] {
  const before = new Map(current.map((r) => [r.urn, r]));
  const nextUrns = new Set(next.map((r) => r.urn));
  // Resources that get new ids and outputs in this plan; the program registers a resource
  // after the ones it references, so one pass in registration order sees them first.
  const renewed = new Set<string>();
  const steps: PlannedStep[] = [];
  for (const r of next) {
    const old = before.get(r.urn);
    const base = {
      urn: r.urn,
      type: r.type,
      name: r.name,
      parentUrn: r.parent,
      protect: r.protect || old?.protect === true,
      environment: environmentOf(r.inputs),
    };
    if (!old) {
      renewed.add(r.urn);
      steps.push({ ...base, op: "create", changedKeys: [], replaceKeys: [] });
      continue;
    }
    const unknown = (r.refs ?? []).filter((ref) => ref.from.some((u) => renewed.has(u))).map((ref) => ref.path);
    const change = classifyChange(r.type, old.inputs, r.inputs, unknown);
    if (change.op === "replace") renewed.add(r.urn);
    steps.push({ ...base, ...change });
  }
  for (const old of [...current].reverse()) {
    if (nextUrns.has(old.urn)) continue;
    steps.push({
      op: "delete",
      urn: old.urn,
      type: old.type,
      name: old.name,
      parentUrn: old.parent,
      protect: old.protect,
      environment: environmentOf(old.inputs),
      changedKeys: [],
      replaceKeys: [],
    });
  }
  return steps;
}

/** The protected resources that `steps` would delete or replace: Pulumi refuses those. */
export function protectedViolations(steps: PlannedStep[]): PlannedStep[] {
  return steps.filter((s) => s.protect && (s.op === "delete" || s.op === "replace"));
}
