/**
 * `npm run bench:service`: starts the service (simulate engine) in a child process, on
 * SQLite and then on PostgreSQL, and loads it from this process with autocannon:
 *
 * - `GET /requests/:id`: throughput and p50/p99 latency (target: > 2,000 req/s, p99 < 50 ms);
 * - `POST /requests`: throughput and latency (each with a new instance name);
 * - the service's overhead per request: the time from `POST /requests` to the
 *   `awaiting_approval` event, minus the engine's own preview time (target: < 50 ms).
 *
 * PostgreSQL: `PAVED_TEST_DATABASE_URL`, or a throwaway cluster when Debian's binaries are
 * installed; skipped with the reason otherwise. Prints figures; asserts nothing.
 */
import { ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import { freePort } from "../test/net";
import startPostgres, { freshDatabase } from "../test/postgres";

const ROOT = join(__dirname, "..");
const ALICE = { authorization: "Bearer alice-dev-token", "content-type": "application/json" };
const DURATION_S = Number(process.env.BENCH_SECONDS ?? 5);

async function start(env: Record<string, string>): Promise<{ base: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", "automation/service/main.ts"], {
    cwd: ROOT,
    env: { ...process.env, PAVED_ENGINE: "simulate", PORT: String(port), ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return { base, child };
    } catch {
      // starting
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the service did not start");
}

function post(base: string, body: unknown) {
  return fetch(`${base}/requests`, { method: "POST", headers: ALICE, body: JSON.stringify(body) });
}

/** Time from POST to the awaiting_approval event, and the engine time that event reports. */
async function overhead(base: string, name: string): Promise<{ totalMs: number; engineMs: number }> {
  const t0 = performance.now();
  const res = await post(base, { team: "payments", environment: "prod", offering: "queue", name, params: {} });
  const { id } = (await res.json()) as { id: string };
  const stream = await fetch(`${base}/requests/${id}/events`, { headers: ALICE });
  const reader = stream.body!.getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error("stream ended before awaiting_approval");
    text += Buffer.from(value).toString();
    const m = /data: (\{"status":"awaiting_approval".*\})\n/.exec(text);
    if (m) {
      const totalMs = performance.now() - t0;
      await reader.cancel();
      return { totalMs, engineMs: (JSON.parse(m[1]) as { engineMs: number }).engineMs };
    }
  }
}

function pct(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function bench(label: string, env: Record<string, string>): Promise<void> {
  const { base, child } = await start(env);
  try {
    // Warm the simulate worker and make one request to read.
    await overhead(base, "warm-up");
    const list = (await (await fetch(`${base}/requests`, { headers: ALICE })).json()) as { requests: { id: string }[] };
    const id = list.requests[0].id;

    const reads = await autocannon({ url: `${base}/requests/${id}`, headers: ALICE, connections: 20, duration: DURATION_S });
    console.log(
      `${label} GET /requests/:id   ${reads.requests.average.toFixed(0)} req/s  p50 ${reads.latency.p50} ms  p99 ${reads.latency.p99} ms  (${reads.non2xx} non-2xx, ${reads.errors} errors)`,
    );

    let n = 0;
    const writes = await autocannon({
      url: `${base}/requests`,
      method: "POST",
      headers: ALICE,
      connections: 10,
      duration: DURATION_S,
      requests: [
        {
          setupRequest: (req: any) => ({
            ...req,
            body: JSON.stringify({ team: "payments", environment: "prod", offering: "queue", name: `b-${process.pid}-${n++}`, params: {} }),
          }),
        },
      ],
    } as any);
    console.log(
      `${label} POST /requests      ${writes.requests.average.toFixed(0)} req/s  p50 ${writes.latency.p50} ms  p99 ${writes.latency.p99} ms  (${writes.non2xx} non-2xx, ${writes.errors} errors)`,
    );

    // Let the queued previews drain before measuring the per-request overhead.
    for (;;) {
      const pending = (await (await fetch(`${base}/requests?status=previewing`, { headers: ALICE })).json()) as { requests: unknown[] };
      if (pending.requests.length === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const samples: { totalMs: number; engineMs: number }[] = [];
    for (let i = 0; i < 20; i++) samples.push(await overhead(base, `o-${process.pid}-${i}`));
    const over = samples.map((s) => s.totalMs - s.engineMs);
    console.log(
      `${label} overhead POST -> awaiting_approval minus engine: p50 ${pct(over, 50).toFixed(1)} ms  p99 ${pct(over, 99).toFixed(1)} ms  (engine p50 ${pct(
        samples.map((s) => s.engineMs),
        50,
      ).toFixed(0)} ms)`,
    );
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
  }
}

/**
 * The shipped paved.yaml with limits the load cannot reach: the bench is one person sending
 * thousands of requests a second, which the default limits rightly refuse.
 */
function benchConfig(dir: string): string {
  const file = join(dir, "paved-bench.yaml");
  const limits = [
    "limits:",
    "  authFailures: { max: 1000000, window: 1m }",
    "  submissions:",
    "    perPerson: { max: 1000000, window: 1m }",
    "    perTeam: { max: 1000000, window: 1m }",
    "  streams: { perPerson: 10000 }",
  ].join("\n");
  writeFileSync(file, `${readFileSync(join(ROOT, "paved.yaml"), "utf8")}\n${limits}\n`);
  return file;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "paved-bench-"));
  process.env.PAVED_CONFIG = benchConfig(dir);
  try {
    await bench("sqlite  ", { PAVED_DATA_DIR: dir });
    const stop = await startPostgres();
    if (process.env.PAVED_TEST_DATABASE_URL) {
      try {
        await bench("postgres", { PAVED_DATA_DIR: dir, DATABASE_URL: await freshDatabase() });
      } finally {
        stop?.();
      }
    } else {
      console.log(`postgres: skipped (${process.env.PAVED_TEST_POSTGRES_SKIP})`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
