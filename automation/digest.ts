/**
 * The digest an approval binds to: the ordered steps (op, URN, type, changed keys), the
 * program's input and the program's version, hashed. Two previews with the same digest
 * make the same changes; any difference (a new step, another changed key, other params, a
 * new release of the components) gives another digest.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { PlannedStep } from "./steps";

/** JSON with object keys sorted, so equal values always serialize alike. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

function packageVersion(): string {
  // From a checkout (automation/) or a build (dist/automation/): the nearest package.json.
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, "package.json");
    if (existsSync(file)) return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
  }
  return "0.0.0";
}

/** The version of the program behind every stack: the package's version. */
export const PROGRAM_VERSION: string = packageVersion();

/** `sha256:<hex>` over the changing steps (ordered by URN), the config and the program version. */
export function previewDigest(steps: PlannedStep[], config: unknown, programVersion: string = PROGRAM_VERSION): string {
  const changing = steps
    .filter((s) => s.op !== "same")
    .map((s) => ({ op: s.op, urn: s.urn, type: s.type, changedKeys: [...s.changedKeys].sort() }))
    .sort((a, b) => (a.urn < b.urn ? -1 : a.urn > b.urn ? 1 : a.op < b.op ? -1 : a.op > b.op ? 1 : 0));
  const body = canonicalJson({ steps: changing, config, programVersion });
  return `sha256:${createHash("sha256").update(body).digest("hex")}`;
}

/** Steps counted by op. */
export function summarize(steps: PlannedStep[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of steps) out[s.op] = (out[s.op] ?? 0) + 1;
  return out;
}
