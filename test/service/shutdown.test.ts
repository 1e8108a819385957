/**
 * SIGTERM with real processes: open event streams are ended with a `shutdown` event, no
 * job is claimed after the signal, running jobs finish within the grace, the process
 * exits 0; a job the grace cuts off is recorded exactly as after SIGKILL.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { ALICE, useProcesses, waitFor } from "./process";

const startService = useProcesses();

async function submit(base: string, body: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${base}/requests`, { method: "POST", headers: ALICE, body: JSON.stringify({ params: {}, ...body }) });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

/** Reads an SSE stream to its end; resolves with everything received. */
async function readStream(res: Response): Promise<string> {
  const reader = res.body!.getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text;
    text += Buffer.from(value).toString();
  }
}

describe("SIGTERM", () => {
  it("ends open event streams with a shutdown event, claims no job after the signal, finishes the running one and exits 0", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-term-"));
    try {
      const first = await startService({ PAVED_DATA_DIR: dataDir, PAVED_SIMULATE_STEP_MS: "1500", PAVED_WORKERS: "1", PAVED_SHUTDOWN_GRACE_MS: "20000" });
      // A prod request waits for approval: its stream stays open.
      const waiting = await submit(first.base, { team: "payments", environment: "prod", offering: "queue", name: "held" });
      await waitFor(first.base, waiting, (r) => r.status === "awaiting_approval");
      const stream = await fetch(`${first.base}/requests/${waiting}/events`, { headers: ALICE });
      expect(stream.status).toBe(200);
      const received = readStream(stream);
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) ids.push(await submit(first.base, { team: "payments", environment: "dev", offering: "queue", name: `q${i}` }));
      await waitFor(first.base, ids[0], (r) => r.status === "applying");

      const t0 = Date.now();
      first.child.kill("SIGTERM");
      const text = await received;
      expect(text).toContain("event: shutdown\ndata: ");
      expect(text).toMatch(/"reconnect":true/);
      expect(await first.exited).toBe(0);
      // The running apply (two 1.5 s steps at most) finished; nothing waited on the stream.
      expect(Date.now() - t0).toBeLessThan(12_000);

      const db = new Database(join(dataDir, "paved.db"), { readonly: true });
      const statuses = db.prepare("select name, status from requests order by created_at").all() as { name: string; status: string }[];
      const ups = (db.prepare("select count(*) as n from audit where action = 'engine.up'").get() as { n: number }).n;
      const running = (db.prepare("select count(*) as n from jobs where status = 'running'").get() as { n: number }).n;
      db.close();
      // One worker, one apply in progress at the signal: exactly one apply ever started.
      expect(ups).toBe(1);
      expect(running).toBe(0);
      expect(statuses.find((s) => s.name === "q0")?.status).toBe("succeeded");
      expect(statuses.filter((s) => s.status === "applying")).toEqual([]);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);

  it("records an apply the grace cut off as interrupted, with the stack flagged, exactly as after SIGKILL", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-grace-"));
    try {
      const env = { PAVED_DATA_DIR: dataDir, PAVED_SIMULATE_STEP_MS: "4000", PAVED_SHUTDOWN_GRACE_MS: "500" };
      const first = await startService(env);
      const id = await submit(first.base, { team: "payments", environment: "dev", offering: "bucket", name: "exports" });
      await waitFor(first.base, id, (r) => r.status === "applying");
      first.child.kill("SIGTERM");
      expect(await first.exited).toBe(0);
      expect(first.output()).toContain("job interrupted: the shutdown grace ran out");

      // Recorded before the process exited, not left for a lease to run out.
      const db = new Database(join(dataDir, "paved.db"), { readonly: true });
      const row = db.prepare("select status, error from requests where id = ?").get(id);
      const state = JSON.parse((db.prepare("select state from stack_state where stack = 'payments.dev.exports'").get() as { state: string }).state) as {
        pending?: string[];
      };
      db.close();
      expect(row).toEqual({ status: "failed", error: "interrupted" });
      expect(state.pending?.length).toBeGreaterThan(0);

      const second = await startService(env);
      const failed = await waitFor(second.base, id, (r) => r.status === "failed");
      expect(failed.error).toBe("interrupted");
      const instances = (await (await fetch(`${second.base}/instances`, { headers: ALICE })).json()) as any;
      expect(instances.instances.find((i: any) => i.stack === "payments.dev.exports")).toMatchObject({ status: "interrupted", needsRefresh: true });
      const audit = (await (await fetch(`${second.base}/audit?requestId=${id}`, { headers: ALICE })).json()) as any;
      expect(audit.entries.map((e: any) => e.action)).toEqual(["request.create", "request.auto-approved", "engine.up", "request.interrupted"]);
      second.child.kill("SIGTERM");
      expect(await second.exited).toBe(0);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
