/**
 * Benchmark: `paved pr-comment` on a generated 5,000-step preview (prod, replaces and
 * deletes of RDS instances among updates and creates). Prints the time to parse the
 * `pulumi preview --json` document and to render the comment, per run; the target for the
 * render is under 200 ms.
 *
 *   npx tsx bench/prComment.ts [--runs 5] [--steps 5000]
 */
import { performance } from "node:perf_hooks";
import { parsePreviewJson } from "../automation/preview/parse";
import { render } from "../automation/prComment/render";
import { largePreviewSteps, previewDigest } from "../test/automation/preview/generate";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

function main(): void {
  const runs = arg("--runs", 5);
  const count = arg("--steps", 5000);
  const text = JSON.stringify(previewDigest("bench-prod", largePreviewSteps(count)), null, 4);
  const renders: number[] = [];
  for (let r = 1; r <= runs; r++) {
    const t0 = performance.now();
    const preview = parsePreviewJson(text, "bench.json");
    const t1 = performance.now();
    const result = render({ preview, environment: "prod" });
    const t2 = performance.now();
    renders.push(t2 - t1);
    console.log(
      `run ${r}: ${count} steps (${(text.length / 1e6).toFixed(1)} MB of JSON): parse ${(t1 - t0).toFixed(1)} ms, render ${(t2 - t1).toFixed(1)} ms, ` +
        `${result.markdown.length} characters${result.truncated ? " (cut)" : ""}, ${result.level}${t2 - t1 < 200 ? "" : "  (render over the 200 ms target)"}`,
    );
  }
  const sorted = [...renders].sort((a, b) => a - b);
  console.log(`render: median ${sorted[Math.floor(sorted.length / 2)].toFixed(1)} ms, max ${sorted[sorted.length - 1].toFixed(1)} ms (target: under 200 ms)`);
}

main();
