/**
 * Which inputs hold another resource's id or computed output. Under mocks every output is a
 * known, deterministic value; under the engine, the id and the computed outputs of a resource
 * that is being created or replaced are unknown until it exists. Knowing the references lets
 * the simulate engine show what the engine shows: a replaced resource's consumers change
 * (`diffStates`), and a first preview hands the policies unknown values (`withUnknowns`).
 *
 * A reference is found by value: an input string that contains an output string of another
 * resource (an interpolation such as a policy document holding an ARN counts). Outputs that
 * are also the resource's own inputs are known at preview, and so is the `name` Pulumi's
 * auto-naming assigns before the resource exists; neither counts.
 */
import * as pulumi from "@pulumi/pulumi";
import { isSecretValue, type RegisteredResource } from "../../../stacks/pulumiMocks";
import type { InputRef } from "./diff";
import type { PathSegment } from "./paths";

/** Shorter outputs (`"none"`, ports) would match by accident; mocked ids and ARNs are longer. */
const MIN_LENGTH = 10;

function strings(value: unknown, path: PathSegment[], visit: (path: PathSegment[], s: string) => void): void {
  if (isSecretValue(value)) return strings(value.value, path, visit);
  if (typeof value === "string") visit(path, value);
  else if (Array.isArray(value)) value.forEach((v, i) => strings(v, [...path, i], visit));
  else if (value && typeof value === "object") for (const [k, v] of Object.entries(value)) strings(v, [...path, k], visit);
}

/** The values of `r` that are unknown while it is being created: its id and computed outputs. */
export function computedValues(r: RegisteredResource): string[] {
  const known = new Set<string>();
  strings(r.props, [], (_p, s) => known.add(s));
  if (typeof r.outputs.name === "string") known.add(r.outputs.name);
  const out = new Set<string>();
  const add = (s: unknown) => {
    if (typeof s === "string" && s.length >= MIN_LENGTH && !known.has(s)) out.add(s);
  };
  add(r.id);
  for (const [k, v] of Object.entries(r.outputs)) if (!(k in r.props)) strings(v, [], (_p, s) => add(s));
  return [...out];
}

/** For each custom resource (by URN), the inputs that hold other resources' ids or computed outputs. */
export function findReferences(resources: RegisteredResource[]): Map<string, InputRef[]> {
  const producers = resources.filter((r) => r.custom).map((r) => ({ urn: r.urn, values: computedValues(r) }));
  const refs = new Map<string, InputRef[]>();
  for (const r of resources) {
    if (!r.custom) continue;
    const found: InputRef[] = [];
    strings(r.props, [], (path, s) => {
      const from = producers.filter((p) => p.urn !== r.urn && p.values.some((v) => s.includes(v))).map((p) => p.urn);
      if (from.length > 0) found.push({ path, from });
    });
    if (found.length > 0) refs.set(r.urn, found);
  }
  return refs;
}

/** Pulumi's wire form of an unknown value. */
export const UNKNOWN = pulumi.runtime.unknownValue;

function setUnknown(value: unknown, path: PathSegment[]): unknown {
  if (path.length === 0) return UNKNOWN;
  // A secret that holds an unknown is unknown as a whole, as the engine shows it.
  if (isSecretValue(value)) return setUnknown(value.value, path);
  const [head, ...rest] = path;
  if (Array.isArray(value)) return value.map((v, i) => (i === head ? setUnknown(v, rest) : v));
  const obj = (value ?? {}) as Record<string, unknown>;
  return { ...obj, [head]: setUnknown(obj[head], rest) };
}

/** `props` as the engine sees them during a preview in which the `renewed` resources get new ids and outputs. */
export function withUnknowns(props: Record<string, unknown>, refs: InputRef[] | undefined, renewed: ReadonlySet<string>): Record<string, unknown> {
  let out = props;
  for (const ref of refs ?? []) {
    if (ref.from.some((u) => renewed.has(u))) out = setUnknown(out, ref.path) as Record<string, unknown>;
  }
  return out;
}
