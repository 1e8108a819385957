/**
 * Crash safety with a real process: the service is SIGKILLed in the middle of an apply,
 * restarted on the same data directory, and finds the request `failed` (`interrupted`),
 * the stack flagged for a refresh, and everything recorded before the crash still there.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ALICE as headers, useProcesses, waitFor } from "./process";

const startService = useProcesses();

describe("SIGKILL mid-apply", () => {
  it("the restarted service marks the request failed (interrupted), flags the stack, and keeps the record", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-crash-"));
    try {
      // Each step of an apply takes 2 s, and a lease lasts 1.5 s without a heartbeat.
      const env = { PAVED_DATA_DIR: dataDir, PAVED_SIMULATE_STEP_MS: "2000", PAVED_LEASE_MS: "1500" };
      const first = await startService(env);
      const res = await fetch(`${first.base}/requests`, {
        method: "POST",
        headers,
        body: JSON.stringify({ team: "payments", environment: "dev", offering: "bucket", name: "exports", params: {} }),
      });
      const { id } = (await res.json()) as { id: string };
      await waitFor(first.base, id, (r) => r.status === "applying");
      first.child.kill("SIGKILL");
      await new Promise((r) => first.child.once("exit", r));

      const second = await startService(env);
      const failed = await waitFor(second.base, id, (r) => r.status === "failed");
      expect(failed.error).toBe("interrupted");
      expect(failed.preview.digest).toMatch(/^sha256:/);

      const instances = (await (await fetch(`${second.base}/instances`, { headers })).json()) as any;
      expect(instances.instances.find((i: any) => i.stack === "payments.dev.exports")).toMatchObject({ status: "interrupted", needsRefresh: true });

      const audit = (await (await fetch(`${second.base}/audit?requestId=${id}`, { headers })).json()) as any;
      expect(audit.entries.map((e: any) => e.action)).toEqual(["request.create", "request.auto-approved", "engine.up", "request.interrupted"]);

      // The stack is usable again: a new request on it is accepted.
      const again = await fetch(`${second.base}/requests`, {
        method: "POST",
        headers,
        body: JSON.stringify({ team: "payments", environment: "dev", offering: "bucket", name: "exports", params: {} }),
      });
      expect(again.status).toBe(202);
      second.child.kill("SIGTERM");
      await new Promise((r) => second.child.once("exit", r));
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);
});

describe("SIGTERM mid-apply", () => {
  it("stops claiming, lets the running apply finish within the grace period, then exits 0", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-sigterm-"));
    try {
      const env = { PAVED_DATA_DIR: dataDir, PAVED_SIMULATE_STEP_MS: "700", PAVED_SHUTDOWN_GRACE_MS: "20000" };
      const first = await startService(env);
      const res = await fetch(`${first.base}/requests`, {
        method: "POST",
        headers,
        body: JSON.stringify({ team: "payments", environment: "dev", offering: "queue", name: "graceful", params: {} }),
      });
      const { id } = (await res.json()) as { id: string };
      await waitFor(first.base, id, (r) => r.status === "applying");
      const exited = new Promise<number | null>((r) => first.child.once("exit", (code) => r(code)));
      first.child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(first.output()).toContain("paved: stopped\n");

      const second = await startService(env);
      const done = await waitFor(second.base, id, (r) => r.status !== "applying");
      expect(done.status).toBe("succeeded");
      second.child.kill("SIGTERM");
      await new Promise((r) => second.child.once("exit", r));
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);
});
