/**
 * Runs survive a restart: a run waiting for an answer goes on in a new service on the
 * same data; a check in flight at a crash runs again; an irreversible action in flight is
 * reported and never run twice.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createService, Service } from "../../automation/service/main";
import { testConfig } from "../service/harness";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "paved-runbooks-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const open = () => createService({ config: testConfig(), dataDir: dir, engine: "simulate", logger: false, workers: 1 });
const person = (s: Service, name: string) => s.config.person(name)!;

async function createInstance(s: Service, name: string, environment = "dev") {
  const view = await s.workflow.submit(person(s, "alice"), {
    action: "create",
    team: "payments",
    environment: environment as "dev",
    offering: "postgres",
    name,
    params: { tier: "small" },
  });
  for (let i = 0; i < 1200; i++) {
    const row = (await s.store.getRequest(view.id))!;
    if (row.status === "awaiting_approval") {
      await s.workflow.approve(person(s, "bob"), view.id, { digest: JSON.parse(row.preview!).digest });
    } else if (row.status === "succeeded") return;
    else if (["failed", "blocked"].includes(row.status)) throw new Error(row.error ?? row.status);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("instance not created");
}

describe("runbook runs across a restart", () => {
  it("a run waiting for an answer is answered in the next service and finishes", async () => {
    const first = await open();
    await createInstance(first, "resume-db");
    const started = await first.runbooks.start(person(first, "alice"), "scale-instance", {
      team: "payments",
      environment: "dev",
      name: "resume-db",
      tier: "large",
    });
    const waiting = await first.runbooks.settle(started.id);
    expect(waiting.status).toBe("awaiting_answer");
    await first.close(2000);

    const second = await open();
    try {
      await second.runbooks.answer(person(second, "alice"), started.id, 3, "proceed");
      const gated = await second.runbooks.settle(started.id);
      expect(gated.status).toBe("awaiting_approval");
      await second.runbooks.approve(person(second, "bob"), started.id, 4, { digest: (gated.steps[3].awaiting as any).approval.digest });
      const done = await second.runbooks.settle(started.id);
      expect(done.status).toBe("succeeded");
      expect(done.steps.map((s) => s.status)).toEqual(["succeeded", "succeeded", "succeeded", "succeeded"]);
      expect(JSON.parse((await second.store.getInstance("payments.dev.resume-db"))!.params).tier).toBe("large");
    } finally {
      await second.close(2000);
    }
  }, 120_000);

  it("at restart, a check in flight runs again and an irreversible action in flight is reported, not re-run", async () => {
    const first = await open();
    await createInstance(first, "gone-db", "prod");
    // Two runs as a crash leaves them: `running`, their current step recorded as running.
    const check = await first.runbooks.start(
      person(first, "alice"),
      "scale-instance",
      { team: "payments", environment: "prod", name: "gone-db", tier: "medium" },
      { dryRun: true },
    );
    await first.runbooks.settle(check.id);
    const destroy = await first.runbooks.start(person(first, "alice"), "decommission-instance", { team: "payments", environment: "prod", name: "gone-db" });
    const paused = await first.runbooks.settle(destroy.id);
    expect(paused.status).toBe("awaiting_approval");
    const db = first.store.db;
    await db.updateTable("runbook_runs").set({ status: "running", current_step: 1 }).where("id", "=", check.id).execute();
    await db.updateTable("runbook_steps").set({ status: "running", output: null }).where("run_id", "=", check.id).where("n", "=", 1).execute();
    await db.updateTable("runbook_runs").set({ status: "running" }).where("id", "=", destroy.id).execute();
    await db.updateTable("runbook_steps").set({ status: "running" }).where("run_id", "=", destroy.id).where("n", "=", 4).execute();
    await first.close(2000);

    const second = await open();
    try {
      const rerun = await second.runbooks.settle(check.id);
      expect(rerun.status).toBe("succeeded");
      expect(rerun.steps[0].status).toBe("succeeded");
      const reported = await second.runbooks.view(destroy.id);
      expect(reported.status).toBe("failed");
      expect(reported.steps[3].status).toBe("interrupted");
      expect(reported.error).toBe(
        "step 4 (Destroy the instance) was in flight when the service stopped; it is irreversible, so it is not run again: check what it did (the recover-stuck-stack runbook diagnoses the stack) before starting a new run",
      );
      // The instance was not destroyed a second time behind anyone's back.
      expect((await second.store.getInstance("payments.prod.gone-db"))!.status).toBe("active");
    } finally {
      await second.close(2000);
    }
  }, 120_000);
});
