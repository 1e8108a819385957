/**
 * Benchmark: `paved check` on a generated 50-resource spec, end to end (child process,
 * mocks, policies). Prints the wall time of each run; the target is under 3 seconds.
 *
 *   npm run bench:check [-- --runs 3]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Readable } from "node:stream";
import { stringify } from "yaml";
import { run } from "../automation/commands/check";

const offerings = [
  { offering: "postgres", params: { tier: "medium" } },
  { offering: "redis", params: {} },
  { offering: "queue", params: { fifo: true } },
  { offering: "bucket", params: {} },
  { offering: "namespace", params: { tier: "small" } },
  { offering: "web-service", params: { namespace: "bench-dev", image: "ghcr.io/acme/api:1.0.0", port: 8080 } },
];

function spec(count: number) {
  return {
    team: "bench",
    environment: "dev",
    network: { vpcId: "vpc-0123", subnetIds: ["subnet-a", "subnet-b"] },
    resources: Array.from({ length: count }, (_, i) => ({ ...offerings[i % offerings.length], name: `r${i}-${offerings[i % offerings.length].offering}` })),
  };
}

async function main(): Promise<void> {
  const i = process.argv.indexOf("--runs");
  const runs = i >= 0 ? Number(process.argv[i + 1]) : 3;
  const dir = mkdtempSync(join(tmpdir(), "paved-bench-"));
  const file = join(dir, "bench-dev.yaml");
  writeFileSync(file, stringify(spec(50)));
  try {
    for (let r = 1; r <= runs; r++) {
      let out = "";
      const start = performance.now();
      const code = await run(["--json", file], { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true }, stdin: Readable.from([]) });
      const seconds = (performance.now() - start) / 1000;
      const report = JSON.parse(out);
      console.log(
        `run ${r}: paved check on 50 resources (${report.summary.resources} registered) in ${seconds.toFixed(2)} s, exit ${code}, ${report.violations.length} violations${seconds < 3 ? "" : "  (over the 3 s target)"}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
