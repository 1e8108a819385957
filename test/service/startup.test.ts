/**
 * Start-up refusals and the store's health: demo tokens never served beyond loopback,
 * start-up errors that name the file, directory or migration, and `/healthz` answering
 * 503 for a damaged SQLite file (found by `quick_check` at start and on a timer).
 */
import { spawn } from "node:child_process";
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { createService, demoRefusal, isLoopback } from "../../automation/service/main";
import { checkIntegrity, StoreHealth } from "../../automation/store/health";
import { Store } from "../../automation/store/store";
import { freePort } from "../net";
import { freshDatabase, postgresUnavailable } from "../postgres";
import { ROOT, testConfig } from "./harness";

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "paved-startup-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("a demo configuration", () => {
  it("is refused on a non-loopback HOST, saying why and what to do", async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ["--import", "tsx", "automation/service/main.ts"], {
      cwd: ROOT,
      env: { ...process.env, PAVED_ENGINE: "simulate", HOST: "0.0.0.0", PORT: String(port), PAVED_DATA_DIR: tempDir() },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
    expect(code).toBe(2);
    expect(err).toContain("paved: refusing to listen on 0.0.0.0:");
    expect(err).toContain("paved.yaml has demo: true, and its plain-text tokens are published");
    expect(err).toContain("Serve it on loopback (unset HOST, or HOST=127.0.0.1), or set demo: false with sha256 token hashes");
  }, 60_000);

  it("is served on loopback only", () => {
    for (const h of ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"]) expect(isLoopback(h)).toBe(true);
    for (const h of ["0.0.0.0", "::", "10.0.0.5", "example.org", "128.0.0.1"]) expect(isLoopback(h)).toBe(false);
    expect(demoRefusal({ demo: true }, "127.0.0.1", "paved.yaml")).toBeUndefined();
    expect(demoRefusal({ demo: false }, "0.0.0.0", "paved.yaml")).toBeUndefined();
  });
});

describe("start-up errors", () => {
  it("name the database file that cannot be opened", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "paved.db"));
    await expect(createService({ config: testConfig(), dataDir: dir, logger: false, startRunner: false })).rejects.toThrow(
      `cannot use the SQLite database ${join(dir, "paved.db")} (is its directory writable?): unable to open database file`,
    );
  });

  it.skipIf(process.getuid?.() === 0)("name a read-only data directory", async () => {
    const dir = tempDir();
    chmodSync(dir, 0o555);
    await expect(createService({ config: testConfig(), dataDir: dir, logger: false, startRunner: false })).rejects.toThrow(
      `cannot use the SQLite database ${join(dir, "paved.db")}`,
    );
  });

  it("name the migration that failed, and the file", async () => {
    const dir = tempDir();
    const db = new Database(join(dir, "paved.db"));
    db.exec("create table runbook_runs (x text)");
    db.close();
    await expect(Store.open({ dataDir: dir })).rejects.toThrow(
      `cannot use the SQLite database ${join(dir, "paved.db")} (is its directory writable?): migration 0002-runbooks failed: table "runbook_runs" already exists`,
    );
  });

  it("say when the migrations could not start at all, instead of an empty migration name", async () => {
    const dir = tempDir();
    const db = new Database(join(dir, "paved.db"));
    db.exec("create table paved_migrations (x text)");
    db.close();
    const err = await Store.open({ dataDir: dir }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(
      new RegExp(`^cannot use the SQLite database ${join(dir, "paved.db")} .*: the migrations could not start \\(paved_migrations tables\\): `),
    );
    expect(err?.message).not.toContain("migration  failed");
  });
});

/** A SQLite store with enough events to span many pages, then one page overwritten with garbage. */
async function damagedDataDir(): Promise<string> {
  const dir = tempDir();
  const store = await Store.open({ dataDir: dir });
  for (let i = 0; i < 400; i++) await store.appendEvent(`req_${i}`, new Date().toISOString(), "progress", { line: "x".repeat(200) });
  await store.close();
  const file = join(dir, "paved.db");
  const pages = statSync(file).size / 4096;
  const fd = openSync(file, "r+");
  writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, (pages - 3) * 4096);
  closeSync(fd);
  return dir;
}

describe("/healthz", () => {
  it("answers 503 with the error shape when the SQLite file fails quick_check at start", async () => {
    const service = await createService({ config: testConfig(), dataDir: await damagedDataDir(), logger: false, startRunner: false });
    try {
      const res = await service.app.inject({ method: "GET", url: "/healthz" });
      expect(res.statusCode).toBe(503);
      expect(res.json().error.code).toBe("store_damaged");
      expect(res.json().error.message).toMatch(/^the store failed its integrity check at .*: sqlite:.*paved\.db failed quick_check: /);
    } finally {
      await service.close(0);
    }
  });

  it("finds damage on its timer, logs it once, and recovers when a check passes", async () => {
    const healthy = await Store.open({ sqliteFile: ":memory:" });
    const damaged = await Store.open({ dataDir: await damagedDataDir() });
    try {
      let current = healthy;
      // The store as the timer sees it: its file is damaged between two checks.
      const store = {
        dialect: "sqlite",
        description: "sqlite:paved.db",
        get db() {
          return current.db;
        },
      } as unknown as Store;
      const errors: object[] = [];
      const health = new StoreHealth(store, { error: (o) => errors.push(o) });
      expect((await health.start(20)).ok).toBe(true);
      current = damaged;
      await new Promise((r) => setTimeout(r, 150));
      expect(health.integrity.ok).toBe(false);
      expect(health.integrity.problem).toMatch(/^sqlite:paved\.db failed quick_check: /);
      expect(errors).toHaveLength(1);
      current = healthy;
      await new Promise((r) => setTimeout(r, 150));
      health.stop();
      expect(health.integrity.ok).toBe(true);
    } finally {
      await healthy.close();
      await damaged.close();
    }
  });

  it.skipIf(postgresUnavailable())("PostgreSQL: reports whether the database can be reached", async () => {
    const store = await Store.open({ databaseUrl: await freshDatabase() });
    expect((await checkIntegrity(store)).ok).toBe(true);
    await store.close();
    const after = await checkIntegrity(store);
    expect(after.ok).toBe(false);
    expect(after.problem).toMatch(/^postgres cannot be reached: /);
  });
});
