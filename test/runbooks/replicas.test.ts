/**
 * Runbook runs on two replicas sharing one database (SQLite file, PostgreSQL): a replica
 * that starts never takes a run another live replica is advancing, and after a replica
 * dies (its store gone, its lease run out) the other takes the run over: an irreversible
 * step in flight is reported, never run a second time.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { RunbookExecutor } from "../../automation/runbooks/executor";
import { SimulateEngine } from "../../automation/engine/simulate/engine";
import { Store } from "../../automation/store/store";
import { Workflow } from "../../automation/workflow";
import { defineRunbook } from "../../runbooks/model";
import { freshDatabase, postgresUnavailable } from "../postgres";
import { testConfig } from "../service/harness";

let calls: string[] = [];
let release: () => void = () => undefined;
let hold = new Promise<void>((r) => (release = r));

const slow = defineRunbook({
  id: "two-replicas",
  title: "Two replicas",
  summary: "A check, then an irreversible action that holds until released.",
  level: "scripted",
  params: z.strictObject({ team: z.string(), environment: z.enum(["dev", "staging", "prod"]) }),
  steps: [
    { kind: "check", title: "Look", description: "look", expected: "ok", onFailure: "-", run: async () => (calls.push("check"), { ok: true, observed: "ok" }) },
    {
      kind: "action",
      title: "Drop",
      description: "drop a thing",
      reversible: false,
      risk: "low",
      onFailure: "-",
      plan: async () => ({ description: ["drop the thing"] }),
      run: async () => {
        calls.push("drop");
        await hold;
        return "dropped";
      },
      verify: async () => ({ ok: true, observed: "gone" }),
    },
  ],
});

const dirs: string[] = [];
afterAll(() => {
  release();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function replica(where: { databaseUrl?: string; sqliteFile?: string }, owner: string) {
  const config = testConfig();
  const store = await Store.open(where);
  const engine = new SimulateEngine({ state: store });
  const workflow = new Workflow({ store, engine, config });
  const executor = new RunbookExecutor(workflow, [slow], { owner, leaseMs: 300 });
  return { store, engine, executor, person: (n: string) => config.person(n)! };
}

for (const kind of ["sqlite", "postgres"] as const) {
  const skip = kind === "postgres" ? postgresUnavailable() : undefined;
  if (skip) console.log(`runbook replicas on postgres skipped: ${skip}`);
  describe.skipIf(skip !== undefined)(`on ${kind}`, () => {
    it("a live replica's run is left alone; a dead one's in-flight irreversible step is reported, not re-run", async () => {
      calls = [];
      hold = new Promise<void>((r) => (release = r));
      let where: { databaseUrl?: string; sqliteFile?: string };
      if (kind === "postgres") where = { databaseUrl: await freshDatabase() };
      else {
        const dir = mkdtempSync(join(tmpdir(), "paved-replicas-"));
        dirs.push(dir);
        where = { sqliteFile: join(dir, "paved.db") };
      }
      const a = await replica(where, "replica-a");
      const b = await replica(where, "replica-b");
      try {
        const started = await a.executor.start(a.person("alice"), "two-replicas", { team: "payments", environment: "dev" });
        let run = await a.executor.settle(started.id);
        expect(run.status).toBe("awaiting_approval");
        // Approved on replica A: A advances the run into the held step.
        await a.executor.approve(a.person("bob"), run.id, 2, { digest: (run.steps[1].awaiting as any).approval.digest });
        for (let i = 0; i < 100 && !calls.includes("drop"); i++) await new Promise((r) => setTimeout(r, 20));
        expect(calls).toEqual(["check", "drop"]);

        // B starts while A is alive: it leaves A's run alone, however long the step takes.
        for (let i = 0; i < 3; i++) {
          expect(await b.executor.recover()).toEqual({ resumed: [], interrupted: [] });
          await new Promise((r) => setTimeout(r, 300));
        }
        run = await b.executor.view(run.id);
        expect(run.status).toBe("running");
        expect(run.steps[1].status).toBe("running");

        // A dies: its store is gone, so its heartbeat stops and its lease runs out.
        await a.store.close();
        await new Promise((r) => setTimeout(r, 700));
        const taken = await b.executor.recover();
        expect(taken).toEqual({ resumed: [], interrupted: [run.id] });
        run = await b.executor.view(run.id);
        expect(run.status).toBe("failed");
        expect(run.steps[1].status).toBe("interrupted");
        // The held step ran once, on A; B never ran it again.
        release();
        await new Promise((r) => setTimeout(r, 100));
        expect(calls).toEqual(["check", "drop"]);
        expect((await b.executor.view(run.id)).status).toBe("failed");
      } finally {
        release();
        await b.engine.close();
        await b.store.close();
        await a.engine.close().catch(() => undefined);
      }
    }, 60_000);
  });
}
