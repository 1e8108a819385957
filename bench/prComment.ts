/**
 * Benchmark: `paved pr-comment` on generated previews of 5,000 and 50,000 steps (prod,
 * replaces and deletes of RDS instances among updates and creates).
 *
 * - cold: what the CLI does, once per process: a fresh process parses the JSON and
 *   renders the comment once (each run a new process);
 * - warm: the same render repeated in one process (a service rendering many);
 * - the whole built CLI (`node dist/automation/cli.js pr-comment`), start to exit, when built (5,000 steps).
 *
 * Target: the render of 50,000 steps under 100 ms (the comment is capped at 65,536
 * characters, so the render stops building once the cap is reached).
 *
 *   npm run bench:pr-comment [-- --steps 5000,50000]
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parsePreviewJson } from "../automation/preview/parse";
import { render } from "../automation/prComment/render";
import { largePreviewSteps, previewDigest } from "../test/automation/preview/generate";
import { RUNS, Row, exec, main, repeat, summarize, withTarget } from "./lib";

const ROOT = join(__dirname, "..");
const CLI = join(ROOT, "dist", "automation", "cli.js");

function sizes(): number[] {
  const i = process.argv.indexOf("--steps");
  return i >= 0 ? process.argv[i + 1].split(",").map(Number) : [5_000, 50_000];
}

/** In a child: parse and render `file` once, print the times. */
async function child(file: string): Promise<void> {
  const { readFileSync } = await import("node:fs");
  const text = readFileSync(file, "utf8");
  const t0 = performance.now();
  const preview = parsePreviewJson(text, file);
  const t1 = performance.now();
  const result = render({ preview, environment: "prod" });
  const t2 = performance.now();
  process.stdout.write(JSON.stringify({ parseMs: t1 - t0, renderMs: t2 - t1, chars: result.markdown.length }));
}

export async function run(): Promise<Row[]> {
  const rows: Row[] = [];
  const dir = mkdtempSync(join(tmpdir(), "paved-bench-pr-"));
  try {
    for (const count of sizes()) {
      // Indented as `pulumi preview --json` prints it, up to 5,000 steps; compact beyond (94 MB
      // indented: its parse is not what is measured, and the bench must end in minutes).
      const text = JSON.stringify(previewDigest("bench-prod", largePreviewSteps(count)), null, count > 5_000 ? undefined : 4);
      const file = join(dir, `preview-${count}.json`);
      writeFileSync(file, text);
      const size = `${count.toLocaleString("en-US")} steps (${(text.length / 1e6).toFixed(1)} MB)`;

      // Each cold run a new process: parse and render once, as the CLI does.
      const coldRuns: { parseMs: number; renderMs: number }[] = [];
      for (let i = 0; i < RUNS; i++) {
        coldRuns.push(JSON.parse(await exec(process.execPath, ["--import", "tsx", __filename, "--child", file], { cwd: ROOT })) as never);
      }
      rows.push({ bench: "pr-comment", what: `parse, ${size}`, mode: "cold", unit: "ms", summary: summarize(coldRuns.map((r) => r.parseMs)) });
      const renderCold: Row = { bench: "pr-comment", what: `render, ${size}`, mode: "cold", unit: "ms", summary: summarize(coldRuns.map((r) => r.renderMs)) };
      rows.push(count >= 50_000 ? withTarget(renderCold, 100, "lower", "< 100 ms") : renderCold);

      const preview = parsePreviewJson(text, file);
      let chars = 0;
      for (let i = 0; i < 3; i++) render({ preview, environment: "prod" });
      const warm = await repeat(RUNS, () => {
        const t0 = performance.now();
        chars = render({ preview, environment: "prod" }).markdown.length;
        return performance.now() - t0;
      });
      const renderWarm: Row = { bench: "pr-comment", what: `render, ${size}`, mode: "warm", unit: "ms", summary: summarize(warm), note: `${chars} characters` };
      rows.push(count >= 50_000 ? withTarget(renderWarm, 100, "lower", "< 100 ms") : renderWarm);

      if (existsSync(CLI) && count <= 5_000) {
        const wall = await repeat(RUNS, async () => {
          const t0 = performance.now();
          await exec(process.execPath, [CLI, "pr-comment", file, "--environment", "prod"], { cwd: ROOT }).catch((err: Error) => {
            // Exit 1 is a blocked change (the generated preview has none, but it is not an error of the bench).
            if (!/exited with 1:/.test(err.message)) throw err;
          });
          return performance.now() - t0;
        });
        rows.push({ bench: "pr-comment", what: `built CLI start to exit, ${size}`, mode: "cold", unit: "ms", summary: summarize(wall) });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

if (require.main === module) {
  const i = process.argv.indexOf("--child");
  if (i >= 0) void child(process.argv[i + 1]);
  else main(run);
}
