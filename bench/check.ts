/**
 * Benchmark: `paved check` on generated specs of 10, 50 and 200 entries, as a user runs it:
 * the built CLI (`node dist/automation/cli.js check --json <spec>`), start to exit, each
 * run a new process (a check is always cold). Builds first when `dist/` is missing.
 *
 * Targets: 50 entries under 1.2 s, 200 entries under 2 s.
 *
 *   npm run bench:check [-- --entries 10,50,200]
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { stringify } from "yaml";
import { RUNS, Row, exec, main, repeat, summarize, withTarget } from "./lib";

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

export async function run(): Promise<Row[]> {
  if (!existsSync(CLI)) await exec("npm", ["run", "build"], { cwd: ROOT });
  const rows: Row[] = [];
  const dir = mkdtempSync(join(tmpdir(), "paved-bench-check-"));
  try {
    for (const count of sizes()) {
      const file = join(dir, `bench-${count}.yaml`);
      writeFileSync(file, stringify(spec(count)));
      let registered = 0;
      const seconds = await repeat(RUNS, async () => {
        const t0 = performance.now();
        const out = await exec(process.execPath, [CLI, "check", "--json", file], { cwd: dir });
        const elapsed = (performance.now() - t0) / 1000;
        registered = (JSON.parse(out) as { summary: { resources: number } }).summary.resources;
        return elapsed;
      });
      const row: Row = {
        bench: "check",
        what: `built CLI, spec of ${count} entries (${registered} resources)`,
        mode: "cold",
        unit: "s",
        summary: summarize(seconds),
      };
      const target = TARGETS[count];
      rows.push(target ? withTarget(row, target, "lower", `< ${target} s`) : row);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

if (require.main === module) main(run);
