/**
 * Benchmark: `paved check` on generated specs of 10, 50 and 200 entries, as a user runs it:
 * the built CLI (`node dist/automation/cli.js check --json <spec>`), start to exit, each
 * run a new process (a check is always cold). Builds first when `dist/` is missing.
 *
 * `paved` keeps Node's compile cache (automation/compileCache.ts): every run after the first
 * finds the compiled code of the ~500 modules it loads. Measured:
 * - compile cache warm, every size: the runs after a first, unmeasured one (what a user
 *   meets every time but the first), in a cache directory of the bench's own;
 * - compile cache empty, at 50 entries: each run with a new, empty cache directory (the
 *   first run after an install or an upgrade), alternated with the warm runs.
 *
 * Targets (on the warm runs): 50 entries under 1.2 s, 200 entries under 2 s.
 *
 *   npm run bench:check [-- --entries 10,50,200]
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { stringify } from "yaml";
import { RUNS, Row, exec, fmt, main, summarize, withTarget } from "./lib";

const ROOT = join(__dirname, "..");
const CLI = join(ROOT, "dist", "automation", "cli.js");

const offerings = [
  { offering: "postgres", params: { tier: "medium" } },
  { offering: "redis", params: {} },
  { offering: "queue", params: { fifo: true } },
  { offering: "bucket", params: {} },
  { offering: "namespace", params: { tier: "small" } },
  { offering: "web-service", params: { namespace: "bench-dev", image: "ghcr.io/acme/api:1.0.0", port: 8080 } },
];

export function spec(count: number) {
  return {
    team: "bench",
    environment: "dev",
    network: { vpcId: "vpc-0123", subnetIds: ["subnet-a", "subnet-b"] },
    resources: Array.from({ length: count }, (_, i) => ({ ...offerings[i % offerings.length], name: `r${i}-${offerings[i % offerings.length].offering}` })),
  };
}

const TARGETS: Record<number, number> = { 50: 1.2, 200: 2 };

function sizes(): number[] {
  const i = process.argv.indexOf("--entries");
  return i >= 0 ? process.argv[i + 1].split(",").map(Number) : [10, 50, 200];
}

/** One run of the CLI on `file` with its compile cache in `cacheDir`: seconds, and the resources it registered. */
async function timeCheck(file: string, cwd: string, cacheDir: string): Promise<{ seconds: number; resources: number }> {
  const env = { ...process.env, NODE_COMPILE_CACHE: cacheDir, NODE_DISABLE_COMPILE_CACHE: undefined };
  const t0 = performance.now();
  const out = await exec(process.execPath, [CLI, "check", "--json", file], { cwd, env });
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, resources: (JSON.parse(out) as { summary: { resources: number } }).summary.resources };
}

export async function run(): Promise<Row[]> {
  if (!existsSync(CLI)) await exec("npm", ["run", "build"], { cwd: ROOT });
  const rows: Row[] = [];
  const dir = mkdtempSync(join(tmpdir(), "paved-bench-check-"));
  try {
    const warmCache = join(dir, "compile-cache");
    for (const count of sizes()) {
      const file = join(dir, `bench-${count}.yaml`);
      writeFileSync(file, stringify(spec(count)));
      // The first run fills the cache (not measured here: the empty-cache row measures it).
      const { resources } = await timeCheck(file, dir, warmCache);
      // Alternated, so that a busy spell of the machine weighs on both alike.
      const warm: number[] = [];
      const empty: number[] = [];
      // The empty cache at one size only (50 entries): it costs the same few tenths at every
      // size, and measuring it at all three kept `npm run bench` over its five minutes.
      const withEmpty = count === 50;
      for (let i = 0; i < RUNS; i++) {
        warm.push((await timeCheck(file, dir, warmCache)).seconds);
        if (withEmpty) empty.push((await timeCheck(file, dir, join(dir, `empty-cache-${count}-${i}`))).seconds);
      }
      const what = `built CLI, spec of ${count} entries (${resources} resources)`;
      const first = withEmpty ? summarize(empty) : undefined;
      const row: Row = {
        bench: "check",
        what: `${what}, compile cache warm`,
        mode: "cold",
        unit: "s",
        summary: summarize(warm),
        note: first
          ? `every run but the first; the first (empty compile cache): median ${fmt(first.median)} s (${fmt(first.min)}–${fmt(first.max)})`
          : "every run but the first",
      };
      const target = TARGETS[count];
      rows.push(target ? withTarget(row, target, "lower", `< ${target} s`) : row);
      if (first) rows.push({ bench: "check", what: `${what}, compile cache empty (first run after an install)`, mode: "cold", unit: "s", summary: first });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

if (require.main === module) main(run);
