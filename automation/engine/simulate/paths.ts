/**
 * Changed keys as the Pulumi engine reports them: detailed-diff property paths
 * (`metadata.labels["paved.dev/team"]`, `tags.CostCenter`, `ingress[0]`), not top-level keys.
 *
 * Two spellings, as the providers write them:
 * - Pulumi's `PropertyPath.String()` (pulumi/pulumi `sdk/go/common/resource/properties_path.go`):
 *   a key with any character outside `[A-Za-z0-9_]` is written `["key"]`. The Terraform bridge
 *   (aws, random) reports its detailed diff in this form.
 * - pulumi-kubernetes builds its own paths (`provider/pkg/provider/provider.go`,
 *   `addPatchValueToDiff`): a key is quoted only when it holds `.`, `"`, `[` or `]`.
 */
import { isDeepStrictEqual } from "node:util";

export type PathSegment = string | number;
export type PathStyle = "pulumi" | "kubernetes";

/** The path spelling of the provider of `type`. */
export function pathStyleOf(type: string): PathStyle {
  return type.startsWith("kubernetes:") ? "kubernetes" : "pulumi";
}

function needsQuote(key: string, style: PathStyle): boolean {
  return style === "kubernetes" ? /[."[\]]/.test(key) : /[^A-Za-z0-9_]/.test(key);
}

/** `["metadata", "labels", "a.b/c"]` -> `metadata.labels["a.b/c"]`. */
export function formatPath(segments: readonly PathSegment[], style: PathStyle): string {
  let out = "";
  segments.forEach((s, i) => {
    if (typeof s === "number") out += `[${s}]`;
    else if (needsQuote(s, style)) out += `["${s.replace(/"/g, '\\"')}"]`;
    else out += i === 0 ? s : `.${s}`;
  });
  return out;
}

/** A masked secret (`{ "[secret]": "sha256:..." }`) is a leaf: it is compared whole. */
export function isMaskedSecret(value: unknown): boolean {
  return typeof value === "object" && value !== null && !Array.isArray(value) && Object.keys(value).length === 1 && "[secret]" in value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !isMaskedSecret(value);
}

export interface DiffPathOptions {
  /**
   * Top-level keys holding sets (Terraform `TypeSet`): the bridge matches their elements
   * by value and reports an added element at its new index, a removed one at its old index.
   */
  sets?: readonly string[];
}

/**
 * The paths where `after` differs from `before`: down to the changed leaf inside objects and
 * lists, a whole value where a key or element appears or disappears or changes type.
 */
export function diffPaths(before: unknown, after: unknown, options: DiffPathOptions = {}): PathSegment[][] {
  const out: PathSegment[][] = [];
  const walk = (a: unknown, b: unknown, path: PathSegment[]) => {
    if (isDeepStrictEqual(a, b)) return;
    if (isObject(a) && isObject(b)) {
      for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
        if (a[key] === undefined && b[key] === undefined) continue;
        walk(a[key], b[key], [...path, key]);
      }
      return;
    }
    if (Array.isArray(a) && Array.isArray(b)) {
      if (path.length === 1 && options.sets?.includes(path[0] as string)) {
        b.forEach((e, i) => {
          if (!a.some((x) => isDeepStrictEqual(x, e))) out.push([...path, i]);
        });
        a.forEach((e, i) => {
          if (!b.some((x) => isDeepStrictEqual(x, e))) out.push([...path, i]);
        });
        return;
      }
      for (let i = 0; i < Math.max(a.length, b.length); i++) walk(a[i], b[i], [...path, i]);
      return;
    }
    out.push(path);
  };
  walk(before, after, []);
  return out;
}

/** The value at `path` in `value`, or undefined. */
export function valueAt(value: unknown, path: readonly PathSegment[]): unknown {
  let v = value;
  for (const s of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string | number, unknown>)[s];
  }
  return v;
}
