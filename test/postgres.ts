/**
 * A throwaway PostgreSQL for the store and workflow suites. The global setup uses
 * `PAVED_TEST_DATABASE_URL` when it is set; otherwise, when Debian's PostgreSQL binaries
 * are installed (`.ci/run` installs them), it starts a cluster of its own in a temporary
 * directory, on loopback, and stops it after the run. Suites that need it call
 * `freshDatabase()`, which creates an empty database per suite, or skip with the reason.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { freePort } from "./net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Why PostgreSQL suites are skipped, or undefined when a server is available. */
export function postgresUnavailable(): string | undefined {
  return process.env.PAVED_TEST_DATABASE_URL
    ? undefined
    : (process.env.PAVED_TEST_POSTGRES_SKIP ?? "no PostgreSQL: set PAVED_TEST_DATABASE_URL or install Debian's postgresql");
}

/** A new, empty database on the test server; its URL. */
export async function freshDatabase(): Promise<string> {
  const admin = process.env.PAVED_TEST_DATABASE_URL!;
  const { Client } = await import("pg");
  const client = new Client({ connectionString: admin });
  await client.connect();
  const name = `paved_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  await client.query(`create database ${name}`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return url.toString();
}

export function findBin(name: string): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  for (const v of readdirSync(root).sort().reverse()) {
    const bin = join(root, v, "bin", name);
    if (existsSync(bin)) return bin;
  }
  return undefined;
}

/** vitest global setup: start a cluster when none is given; returns the teardown. */
export default async function setup(): Promise<(() => void) | undefined> {
  if (process.env.PAVED_TEST_DATABASE_URL) return undefined;
  const initdb = findBin("initdb");
  const pgCtl = findBin("pg_ctl");
  if (!initdb || !pgCtl) {
    process.env.PAVED_TEST_POSTGRES_SKIP = "no PostgreSQL: Debian's postgresql is not installed (.ci/run installs it) and PAVED_TEST_DATABASE_URL is unset";
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), "paved-pg-"));
  const data = join(dir, "data");
  const asRoot = process.getuid?.() === 0;
  // initdb refuses to run as root: run the server as the postgres user.
  const run = (cmd: string, args: string[]) =>
    asRoot ? execFileSync("runuser", ["-u", "postgres", "--", cmd, ...args], { stdio: "pipe" }) : execFileSync(cmd, args, { stdio: "pipe" });
  if (asRoot) {
    chmodSync(dir, 0o777);
  }
  const port = await freePort();
  try {
    run(initdb, ["-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"]);
    run(pgCtl, ["-D", data, "-l", join(dir, "server.log"), "-w", "-o", `-k ${dir} -h 127.0.0.1 -p ${port} -c fsync=off -c max_connections=200`, "start"]);
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    process.env.PAVED_TEST_POSTGRES_SKIP = `could not start a throwaway PostgreSQL: ${e.stderr?.toString().trim() || e.message}`;
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  process.env.PAVED_TEST_DATABASE_URL = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return () => {
    if (asRoot) spawnSync("runuser", ["-u", "postgres", "--", pgCtl, "-D", data, "-m", "immediate", "stop"]);
    else spawnSync(pgCtl, ["-D", data, "-m", "immediate", "stop"]);
    rmSync(dir, { recursive: true, force: true });
  };
}
