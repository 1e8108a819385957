/**
 * What every bench shares: repeated runs summarised as min / median / max (never one
 * unrepeated figure), rows for `bench/RESULTS.md`, and the machine they ran on.
 *
 * A bench script exports `run(): Promise<Row[]>` and prints its rows when run alone;
 * `bench/all.ts` (`npm run bench`) runs them all and writes the Markdown table.
 */
import { spawn } from "node:child_process";
import { cpus, loadavg } from "node:os";

/** Runs per figure unless a bench says otherwise (BENCH_RUNS overrides). */
export const RUNS = Math.max(5, Number(process.env.BENCH_RUNS ?? 5));

export interface Summary {
  runs: number;
  min: number;
  median: number;
  max: number;
  /** The 99th percentile, where the samples are latencies of many requests. */
  p99?: number;
}

/** The fewest runs a figure may come from. */
export const MIN_RUNS = 5;

/**
 * Min / median / max of `values` (and the p99 when they are many requests' latencies).
 * Fewer than `MIN_RUNS` values is an error: no figure comes from one unrepeated run, nor
 * from a run read several times.
 */
export function summarize(values: number[], withP99 = false): Summary {
  if (values.length < MIN_RUNS) throw new Error(`a figure needs at least ${MIN_RUNS} runs; got ${values.length}`);
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { runs: sorted.length, min: sorted[0], median, max: sorted[sorted.length - 1], ...(withP99 ? { p99: percentile(values, 99) } : {}) };
}

/** The p-th percentile (nearest rank) of `values`. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** One line of the results table. */
export interface Row {
  /** The bench (`policy`, `check`, `pr-comment`, `service`). */
  bench: string;
  /** What was measured, with its size: `evaluate(), whole pack, 10,000 resources`. */
  what: string;
  /** `cold` (a fresh process, as a CLI runs) or `warm` (a running process), or empty. */
  mode?: "cold" | "warm";
  unit: string;
  summary: Summary;
  /** The target, in words (`< 100 ms`, `≥ 1.5×`), and whether the median met it. */
  target?: string;
  held?: boolean;
  note?: string;
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A row as one printed line. */
export function line(r: Row): string {
  const s = r.summary;
  const target = r.target ? `  target ${r.target}: ${r.held ? "held" : "MISSED"}` : "";
  const p99 = s.p99 === undefined ? "" : `, p99 ${fmt(s.p99)}`;
  return (
    `[${r.bench}] ${r.what}${r.mode ? ` (${r.mode})` : ""}: median ${fmt(s.median)} ${r.unit} (min ${fmt(s.min)}${p99}, max ${fmt(s.max)}, ${s.runs} runs)` +
    `${target}${r.note ? `  ${r.note}` : ""}`
  );
}

/** `row` with a target checked against its median (or its p99): `lower` when smaller is better. */
export function withTarget(row: Row, target: number, better: "lower" | "higher", words: string, on: "median" | "p99" = "median"): Row {
  const value = on === "p99" ? row.summary.p99! : row.summary.median;
  const held = better === "lower" ? value < target : value >= target;
  return { ...row, target: words, held };
}

/** Runs `fn` `runs` times and returns the values it gives. */
export async function repeat(runs: number, fn: (i: number) => Promise<number> | number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) out.push(await fn(i));
  return out;
}

/** Where the figures came from: Node, cores, load while running. */
export function machine(): string {
  const [l1] = loadavg();
  return `Node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model.trim() ?? "?"}), load average ${l1.toFixed(1)}`;
}

/** Runs a command, resolving with its stdout; rejects with its stderr on a non-zero exit. */
export function exec(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(" ")} exited with ${code}: ${err.trim().slice(-2000)}`)),
    );
    child.stdin.end(options.input ?? "");
  });
}

/** Prints the rows of a bench run on its own. */
export function printRows(rows: Row[]): void {
  for (const r of rows) console.log(line(r));
}

/** Runs a bench module's `run` when the script is started directly. */
export function main(run: () => Promise<Row[]>): void {
  run()
    .then(printRows)
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
