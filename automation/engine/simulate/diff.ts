/**
 * How the simulate engine turns "what the program registers now" and "what the stack
 * holds" into Pulumi-like steps: by URN, then by inputs. A changed key in the type's
 * replace-on-change list (the guardrails' `replaceOnChanges`) makes a replace, as the
 * provider would; deletes come last, in reverse registration order.
 */
import { isDeepStrictEqual } from "node:util";
import { Environment, ENVIRONMENTS, TAG_KEYS, LABEL_KEYS, replaceOnChanges } from "../../../components/guardrails";
import type { PlannedStep } from "../../steps";

/** One resource as the simulated stack holds it. Secret inputs are replaced by a hash marker. */
export interface SimResource {
  urn: string;
  type: string;
  name: string;
  parent?: string;
  protect: boolean;
  custom: boolean;
  inputs: Record<string, unknown>;
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

/** Top-level input keys whose values differ, sorted. */
export function changedKeys(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((k) => !isDeepStrictEqual(before[k], after[k])).sort();
}

/** The steps that take `current` to `next` (`next` empty for a destroy). */
export function diffStates(current: SimResource[], next: SimResource[]): PlannedStep[] {
  const before = new Map(current.map((r) => [r.urn, r]));
  const nextUrns = new Set(next.map((r) => r.urn));
  const steps: PlannedStep[] = [];
  for (const r of next) {
    const old = before.get(r.urn);
    const base = { urn: r.urn, type: r.type, name: r.name, parentUrn: r.parent, protect: r.protect || old?.protect === true, environment: environmentOf(r.inputs) };
    if (!old) {
      steps.push({ ...base, op: "create", changedKeys: [], replaceKeys: [] });
      continue;
    }
    const keys = changedKeys(old.inputs, r.inputs);
    if (keys.length === 0) {
      steps.push({ ...base, op: "same", changedKeys: [], replaceKeys: [] });
      continue;
    }
    const forcing = replaceOnChanges[r.type] ?? [];
    const replaceKeys = keys.filter((k) => forcing.includes(k));
    steps.push({ ...base, op: replaceKeys.length > 0 ? "replace" : "update", changedKeys: keys, replaceKeys });
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
