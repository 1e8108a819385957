/**
 * Benchmark: the service (simulate engine) in a child process, on SQLite and on
 * PostgreSQL (fsync on), loaded from this process:
 *
 * - start-up: from spawn to `/healthz` answering (the simulate worker warm by then), and
 *   the resident memory of the service and its worker, over several starts;
 * - the first request after start (cold) and the following ones (warm): the service's
 *   overhead from `POST /requests` to a terminal state (`succeeded`, an auto-approved
 *   create in dev), the engine's own time (preview, preview again, apply) subtracted;
 *   target p99 < 50 ms;
 * - `GET /catalog` against `GET /requests/:id`, throughput measured in alternation;
 * - `GET /requests` (a page of 50) at 1,000 and 100,000 stored requests, as an approver
 *   (every team) and as a developer (one team); target p99 < 50 ms. Rows are copied from a
 *   real request with SQL, for speed.
 *
 * The service runs built (`node dist/automation/cli.js serve`) when `dist/` exists, as it is
 * deployed; else from source under tsx. PostgreSQL: a throwaway cluster with fsync on when
 * Debian's binaries are installed, else `PAVED_TEST_DATABASE_URL` (its fsync setting is
 * reported); skipped with the reason otherwise.
 *
 *   npm run bench:service
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import autocannon from "autocannon";
import { freePort } from "../test/net";
import { findBin } from "../test/postgres";
import { RUNS, Row, main, summarize, withTarget } from "./lib";

const ROOT = join(__dirname, "..");
const BUILT = join(ROOT, "dist", "automation", "cli.js");
const ALICE = { authorization: "Bearer alice-dev-token", "content-type": "application/json" };
const BOB = { authorization: "Bearer bob-dev-token" };
/** Seconds of each load run (autocannon). */
const LOAD_S = Number(process.env.BENCH_LOAD_SECONDS ?? 1);
/**
 * Requests timed to a terminal state, per store, one after another. 300, so that the p99 is
 * a percentile (the 4th slowest) rather than the slowest of all, which one pause of the
 * machine decides; ~12 s per store.
 */
const SAMPLES = Number(process.env.BENCH_OVERHEAD_SAMPLES ?? 300);

interface Running {
  base: string;
  child: ChildProcess;
  readyMs: number;
}

async function start(env: Record<string, string>): Promise<Running> {
  const port = await freePort();
  const t0 = performance.now();
  const args = existsSync(BUILT) ? [BUILT, "serve"] : ["--import", "tsx", "automation/service/main.ts"];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, PAVED_ENGINE: "simulate", PORT: String(port), ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const base = `http://127.0.0.1:${port}`;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) return { base, child, readyMs: performance.now() - t0 };
    } catch {
      // starting
    }
    if (performance.now() - t0 > 180_000) throw new Error("the service did not start in 180 s");
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function stop(r: Running): Promise<void> {
  if (r.child.exitCode !== null) return;
  const exited = new Promise((res) => r.child.once("exit", res));
  r.child.kill("SIGTERM");
  await exited;
}

/** Resident memory of a process and its children (the simulate worker), in MB. */
function rssMb(pid: number): number {
  const rss = (p: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, "utf8"))?.[1] ?? 0);
  let kb = rss(pid);
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
    for (const c of children) kb += rss(c);
  } catch {
    // no children file: the service alone
  }
  return kb / 1024;
}

/** POST a dev create (auto-approved) and wait for `succeeded`: total time and the engine's own. */
async function toTerminal(base: string, name: string): Promise<{ totalMs: number; engineMs: number }> {
  const t0 = performance.now();
  const res = await fetch(`${base}/requests`, {
    method: "POST",
    headers: ALICE,
    body: JSON.stringify({ team: "payments", environment: "dev", offering: "queue", name, params: {} }),
  });
  if (res.status !== 202) throw new Error(`POST /requests answered ${res.status}: ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  const stream = await fetch(`${base}/requests/${id}/events`, { headers: ALICE });
  const reader = stream.body!.getReader();
  let text = "";
  let engineMs = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the stream of ${id} ended before a terminal state: ${text.slice(-500)}`);
    text += Buffer.from(value).toString();
    let nl: number;
    while ((nl = text.indexOf("\n")) >= 0) {
      const line = text.slice(0, nl);
      text = text.slice(nl + 1);
      if (!line.startsWith("data: {")) continue;
      const data = JSON.parse(line.slice(6)) as { status?: string; engineMs?: number; error?: string };
      if (typeof data.engineMs === "number") engineMs += data.engineMs;
      if (data.status === "succeeded") {
        const totalMs = performance.now() - t0;
        await reader.cancel();
        return { totalMs, engineMs };
      }
      if (data.status && ["failed", "blocked", "rejected", "cancelled", "expired"].includes(data.status)) {
        throw new Error(`request ${id} ended ${data.status}: ${data.error ?? ""}`);
      }
    }
  }
}

async function load(url: string, headers: Record<string, string>, connections = 10): Promise<autocannon.Result> {
  for (let attempt = 1; ; attempt++) {
    const r = await autocannon({ url, headers, connections, duration: LOAD_S });
    if (r.non2xx > 0 || r.errors > 0) throw new Error(`${url}: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
    // A run in which no answer came back (a stalled machine) has no latency to report: again.
    if (r.requests.total > 0) return r;
    if (attempt === 3) throw new Error(`${url}: no answer in ${LOAD_S} s, three times`);
  }
}

/** Copies request `templateId` until `total` requests are stored (new ids, stacks, teams, times). */
type Seeder = (templateId: string, total: number) => Promise<void>;

const TEAMS = ["payments", "search", "ledger", "identity"];

function sqliteSeeder(file: string): Seeder {
  return async (templateId, total) => {
    const Sqlite = (await import("better-sqlite3")).default;
    const db = new Sqlite(file);
    try {
      db.pragma("busy_timeout = 10000");
      const have = (db.prepare("select count(*) as n from requests").get() as { n: number }).n;
      const copy = db.prepare(
        `insert into requests (id, action, team, environment, offering, name, stack, params, requested_by, status, engine, risk, preview,
           violations, outputs, error, awaiting_since, approval_floor, created_at, updated_at)
         select ?, action, ?, environment, offering, ?, ?, params, requested_by, status, engine, risk, preview, violations, outputs, error,
           awaiting_since, approval_floor, ?, ? from requests where id = ?`,
      );
      const approve = db.prepare("insert into approvals (request_id, by, at, digest, comment) values (?, 'bob', ?, 'sha256:bench', null)");
      const base = Date.parse("2026-01-01T00:00:00Z");
      db.transaction(() => {
        for (let i = have; i < total; i++) {
          const id = `req_00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;
          const at = new Date(base + i * 1000).toISOString();
          const team = TEAMS[i % TEAMS.length];
          copy.run(id, team, `seed${i}`, `${team}.dev.seed${i}`, at, at, templateId);
          if (i % 10 === 0) approve.run(id, at);
        }
      })();
      db.pragma("optimize");
    } finally {
      db.close();
    }
  };
}

function postgresSeeder(url: string): Seeder {
  return async (templateId, total) => {
    const { Client } = await import("pg");
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      const have = Number((await client.query("select count(*) as n from requests")).rows[0].n);
      if (have >= total) return;
      const idOf = `'req_00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0')`;
      const teamOf = `(array['${TEAMS.join("','")}'])[1 + i % ${TEAMS.length}]`;
      const atOf = `to_char(timestamp '2026-01-01' + i * interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
      await client.query(
        `insert into requests (id, action, team, environment, offering, name, stack, params, requested_by, status, engine, risk, preview,
           violations, outputs, error, awaiting_since, approval_floor, created_at, updated_at)
         select ${idOf}, t.action, ${teamOf}, t.environment, t.offering, 'seed' || i, ${teamOf} || '.dev.seed' || i, t.params, t.requested_by,
           t.status, t.engine, t.risk, t.preview, t.violations, t.outputs, t.error, t.awaiting_since, t.approval_floor, ${atOf}, ${atOf}
         from generate_series($1::int, $2::int) as i, (select * from requests where id = $3) as t`,
        [have, total - 1, templateId],
      );
      await client.query(
        `insert into approvals (request_id, by, at, digest, comment)
         select ${idOf}, 'bob', ${atOf}, 'sha256:bench', null from generate_series($1::int, $2::int) as i where i % 10 = 0`,
        [have, total - 1],
      );
      await client.query("analyze requests");
      await client.query("analyze approvals");
    } finally {
      await client.end();
    }
  };
}

async function benchStore(label: string, env: Record<string, string>, seed: Seeder, note: string): Promise<Row[]> {
  const rows: Row[] = [];
  const row = (what: string, unit: string, values: number[], mode?: "cold" | "warm", extra: Partial<Row> = {}): Row => ({
    bench: "service",
    what: `${label}: ${what}`,
    unit,
    summary: summarize(values),
    ...(mode ? { mode } : {}),
    ...extra,
  });

  // Start-up, RSS at ready, and the first request after start (cold), over several starts.
  const ready: number[] = [];
  const rssReady: number[] = [];
  const first: number[] = [];
  let service: Running | undefined;
  for (let i = 0; i < RUNS; i++) {
    const s = await start(env);
    ready.push(s.readyMs);
    rssReady.push(rssMb(s.child.pid!));
    const f = await toTerminal(s.base, `first-${process.pid}-${i}`);
    first.push(f.totalMs - f.engineMs);
    if (i < RUNS - 1) await stop(s);
    else service = s;
  }
  rows.push(row("start-up to /healthz ready (worker warm)", "ms", ready, "cold", { note }));
  rows.push(row("RSS at ready (service + simulate worker)", "MB", rssReady, "cold"));
  rows.push(withTarget(row("overhead to succeeded, first request after start", "ms", first, "cold"), 50, "lower", "< 50 ms"));
  const { base, child } = service!;
  try {
    // Warm: overhead to a terminal state, one request after another.
    const over: number[] = [];
    const engine: number[] = [];
    let templateId = "";
    for (let i = 0; i < SAMPLES; i++) {
      const s = await toTerminal(base, `o-${process.pid}-${i}`);
      over.push(s.totalMs - s.engineMs);
      engine.push(s.engineMs);
    }
    rows.push(
      withTarget(
        { ...row(`overhead to succeeded, ${SAMPLES} requests one after another`, "ms", over, "warm"), summary: summarize(over, true) },
        50,
        "lower",
        "p99 < 50 ms",
        "p99",
      ),
    );
    rows[rows.length - 1].note = `engine median ${summarize(engine).median.toFixed(0)} ms`;

    // Catalog against a request by id, alternating.
    const list = (await (await fetch(`${base}/requests?limit=1`, { headers: ALICE })).json()) as { requests: { id: string }[] };
    templateId = list.requests[0].id;
    const catalog: number[] = [];
    const byId: number[] = [];
    const ratio: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const c = await load(`${base}/catalog`, ALICE);
      const r = await load(`${base}/requests/${templateId}`, ALICE);
      catalog.push(c.requests.average);
      byId.push(r.requests.average);
      ratio.push(c.requests.average / r.requests.average);
    }
    rows.push(row("GET /catalog", "req/s", catalog, "warm"));
    rows.push(row("GET /requests/:id", "req/s", byId, "warm"));
    rows.push(withTarget(row("GET /catalog vs GET /requests/:id (throughput ratio)", "×", ratio, "warm"), 0.8, "higher", "≥ 0.8× (as fast)"));

    // The list, at 1,000 and 100,000 stored requests: p99 latency of each run; and the
    // memory at the end of each run at 100,000 (each run a reading of its own).
    const rssLoaded: number[] = [];
    for (const total of [1_000, 100_000]) {
      const t0 = performance.now();
      await seed(templateId, total);
      const seeded = ((performance.now() - t0) / 1000).toFixed(1);
      for (const [who, headers, path] of [
        ["approver, every team", BOB, "/requests?limit=50"],
        ["developer, one team", ALICE, "/requests?limit=50"],
      ] as const) {
        const p99s: number[] = [];
        const rates: number[] = [];
        for (let i = 0; i < RUNS; i++) {
          const r = await load(`${base}${path}`, headers);
          p99s.push(r.latency.p99);
          rates.push(r.requests.average);
          if (total === 100_000) rssLoaded.push(rssMb(child.pid!));
        }
        const size = total.toLocaleString("en-US");
        rows.push(
          withTarget(
            row(`GET /requests (page of 50, ${who}), ${size} stored: p99 of each run`, "ms", p99s, "warm", { note: `seeded in ${seeded} s` }),
            50,
            "lower",
            "< 50 ms",
          ),
        );
        rows.push(row(`GET /requests (page of 50, ${who}), ${size} stored`, "req/s", rates, "warm"));
      }
    }
    rows.push(row("RSS after each list load run at 100,000 stored (service + simulate worker)", "MB", rssLoaded, "warm"));
  } finally {
    await stop(service!);
  }
  return rows;
}

/** A throwaway PostgreSQL cluster with fsync on (the default), or the test server; its URL and how to stop it. */
async function postgres(): Promise<{ url: string; stop(): void; where: string } | { skip: string }> {
  const initdb = findBin("initdb");
  const pgCtl = findBin("pg_ctl");
  if (initdb && pgCtl) {
    const dir = mkdtempSync(join(tmpdir(), "paved-bench-pg-"));
    const data = join(dir, "data");
    const asRoot = process.getuid?.() === 0;
    const run = (cmd: string, args: string[]) =>
      asRoot ? execFileSync("runuser", ["-u", "postgres", "--", cmd, ...args], { stdio: "pipe" }) : execFileSync(cmd, args, { stdio: "pipe" });
    if (asRoot) chmodSync(dir, 0o777);
    const port = await freePort();
    try {
      run(initdb, ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"]);
      run(pgCtl, ["-D", data, "-l", join(dir, "server.log"), "-w", "-o", `-k ${dir} -h 127.0.0.1 -p ${port} -c fsync=on -c synchronous_commit=on`, "start"]);
      return {
        url: `postgres://postgres@127.0.0.1:${port}/postgres`,
        where: "a throwaway cluster",
        stop: () => {
          try {
            run(pgCtl, ["-D", data, "-m", "fast", "stop"]);
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        },
      };
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      if (!process.env.PAVED_TEST_DATABASE_URL) return { skip: `could not start PostgreSQL: ${(err as Error).message}` };
    }
  }
  const admin = process.env.PAVED_TEST_DATABASE_URL;
  if (!admin) return { skip: "no PostgreSQL: install Debian's postgresql or set PAVED_TEST_DATABASE_URL" };
  const { Client } = await import("pg");
  const client = new Client({ connectionString: admin });
  await client.connect();
  const name = `paved_bench_${Date.now().toString(36)}`;
  await client.query(`create database ${name}`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    where: "PAVED_TEST_DATABASE_URL",
    stop: () => {
      void (async () => {
        const c = new Client({ connectionString: admin });
        await c.connect();
        await c.query(`drop database if exists ${name} with (force)`);
        await c.end();
      })().catch(() => undefined);
    },
  };
}

async function setting(url: string, name: string): Promise<string> {
  const { Client } = await import("pg");
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return String((await client.query(`show ${name}`)).rows[0][name]);
  } finally {
    await client.end();
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

export async function run(): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), "paved-bench-svc-"));
  const config = benchConfig(dir);
  const how = existsSync(BUILT) ? "built" : "from source (tsx)";
  const rows: Row[] = [];
  try {
    const dataDir = join(dir, "sqlite");
    rows.push(...(await benchStore("SQLite", { PAVED_CONFIG: config, PAVED_DATA_DIR: dataDir }, sqliteSeeder(join(dataDir, "paved.db")), `service ${how}`)));
    const pg = await postgres();
    if ("skip" in pg) {
      console.log(`postgres: skipped (${pg.skip})`);
    } else {
      try {
        const fsync = await setting(pg.url, "fsync");
        const sync = await setting(pg.url, "synchronous_commit");
        rows.push(
          ...(await benchStore(
            "PostgreSQL",
            { PAVED_CONFIG: config, PAVED_DATA_DIR: join(dir, "pg"), DATABASE_URL: pg.url },
            postgresSeeder(pg.url),
            `service ${how}; ${pg.where}, fsync=${fsync}, synchronous_commit=${sync}`,
          )),
        );
      } finally {
        pg.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

if (require.main === module) main(run);
