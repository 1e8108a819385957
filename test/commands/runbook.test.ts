/** `paved runbook`: list, show, dry runs, interactive runs, a pause for approval, approve and resume. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../automation/commands/runbook";
import { createService } from "../../automation/service/main";
import { runbooks } from "../../runbooks";
import { renderRunbook } from "../../runbooks/markdown";
import { ROOT, testConfig } from "../service/harness";

let dir: string;

async function paved(args: string[], input = "", token: string | null = "alice-dev-token") {
  let stdout = "";
  let stderr = "";
  if (token === null) delete process.env.PAVED_TOKEN;
  else process.env.PAVED_TOKEN = token;
  const code = await run(args, {
    stdout: { write: (c: string) => (stdout += c) },
    stderr: { write: (c: string) => (stderr += c) },
    stdin: Readable.from([input]),
  });
  return { code, stdout, stderr };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "paved-cli-runbook-"));
  process.env.PAVED_DATA_DIR = dir;
  process.env.PAVED_ENGINE = "simulate";
  process.env.PAVED_CONFIG = join(ROOT, "paved.yaml");
  // Two instances to work on, created through the service on the same data directory.
  const service = await createService({ config: testConfig(), dataDir: dir, engine: "simulate", logger: false });
  const alice = service.config.person("alice")!;
  for (const [environment, name] of [
    ["dev", "cli-db"],
    ["prod", "old-db"],
  ] as const) {
    const view = await service.workflow.submit(alice, {
      action: "create",
      team: "payments",
      environment,
      offering: "postgres",
      name,
      params: { tier: "small" },
    });
    for (;;) {
      const row = (await service.store.getRequest(view.id))!;
      if (row.status === "awaiting_approval")
        await service.workflow.approve(service.config.person("bob")!, view.id, { digest: JSON.parse(row.preview!).digest });
      if (row.status === "succeeded") break;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await service.close(2000);
}, 60_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("paved runbook", () => {
  it("lists the runbooks and shows one as its generated document", async () => {
    const list = await paved(["list"]);
    expect(list.code).toBe(0);
    expect(
      list.stdout
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split(/\s+/)[0]),
    ).toEqual(runbooks.map((r) => r.id));
    const show = await paved(["show", "scale-instance"]);
    expect(show.stdout).toBe(renderRunbook(runbooks.find((r) => r.id === "scale-instance")!));
    const missing = await paved(["show", "nope"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(
      'paved runbook: no runbook "nope"; the runbooks are: rotate-cache-credentials, scale-instance, restore-database-from-snapshot, decommission-instance, recover-stuck-stack\n',
    );
  });

  it("refuses to run without a token, and with bad params", async () => {
    const anonymous = await paved(["run", "scale-instance", "--param", "team=payments"], "", null);
    expect(anonymous.code).toBe(2);
    expect(anonymous.stderr).toBe("paved runbook: who are you? set PAVED_TOKEN or pass --token\n");
    const bad = await paved([
      "run",
      "scale-instance",
      "--param",
      "team=payments",
      "--param",
      "environment=dev",
      "--param",
      "name=cli-db",
      "--param",
      "tier=huge",
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('paved runbook: the params are not valid for runbook scale-instance\n  params.tier: "huge" is not one of small, medium, large\n');
  });

  it("--dry-run prints every step and runs only the checks", async () => {
    const res = await paved([
      "run",
      "scale-instance",
      "--param",
      "team=payments",
      "--param",
      "environment=dev",
      "--param",
      "name=cli-db",
      "--param",
      "tier=medium",
      "--dry-run",
    ]);
    expect(res.code).toBe(0);
    const lines = res.stdout.split("\n");
    expect(lines.filter((l) => /^. \d\./.test(l))).toEqual([
      "✓ 1. The instance exists and has tiers [check]: succeeded",
      "✓ 2. The tier changes [check]: succeeded",
      "- 3. Confirm the maintenance window [decision]: skipped",
      "- 4. Apply the new tier [action, reversible]: skipped",
    ]);
    expect(res.stdout).toContain("    dry run: would update payments/dev/cli-db to tier medium: medium risk, 1 approval\n");
    expect(res.stdout).toMatch(/run run_[0-9a-f-]+: succeeded \(dry run: nothing changed\)\n$/);
  });

  it("asks at the decision, waits for the approval the same request would need, then applies", async () => {
    const res = await paved(
      ["run", "scale-instance", "--param", "team=payments", "--param", "environment=dev", "--param", "name=cli-db", "--param", "tier=large"],
      "proceed\n",
    );
    expect(res.code).toBe(3);
    expect(res.stdout).toContain(
      "? 3. Confirm the maintenance window\n    Resizing cli-db restarts it (a few minutes; multi-AZ instances fail over). Go ahead now?\n    [proceed/stop] > ",
    );
    expect(res.stdout).toContain("⏸ 4. Apply the new tier: waiting for approval (medium risk: 1 approval; not from alice; so far 0 of 1)\n");
    expect(res.stdout).toContain("engine simulate: nothing real is changed\n");
    const runId = /run (run_[0-9a-f-]+):/.exec(res.stdout)![1];
    const digest = /digest (sha256:[0-9a-f]{64})/.exec(res.stdout)![1];
    expect((await paved(["approve", runId, "4", "--digest", digest], "", "bob-dev-token")).code).toBe(0);
    const resumed = await paved(["resume", runId]);
    expect(resumed.stdout).toContain("✓ 4. Apply the new tier [action, reversible]: succeeded\n");
    expect(resumed.code).toBe(0);
  }, 60_000);

  it("pauses an irreversible step (exit 3) until another person approves; then resume finishes", async () => {
    const started = await paved(["run", "decommission-instance", "--param", "team=payments", "--param", "environment=prod", "--param", "name=old-db"]);
    expect(started.code).toBe(3);
    const runId = /run (run_[0-9a-f-]+):/.exec(started.stdout)![1];
    const digest = /digest (sha256:[0-9a-f]{64})/.exec(started.stdout)![1];
    expect(started.stdout).toContain(
      "⏸ 4. Destroy the instance: irreversible, waiting for approval (critical risk: 2 approvals from platform; not from alice; so far 0 of 2 from platform)\n",
    );
    expect(started.stdout).toContain(`Approve: PAVED_TOKEN=<approver token> paved runbook approve ${runId} 4 --digest ${digest}\n`);

    const self = await paved(["approve", runId, "4", "--digest", digest]);
    expect(self.code).toBe(1);
    expect(self.stderr).toBe("paved runbook: the requester cannot approve their own runbook step\n");
    const bob = await paved(["approve", runId, "4", "--digest", digest], "", "bob-dev-token");
    expect(bob.stdout).toBe(`run ${runId}: step 4 approved by bob; the run is awaiting_approval\n`);
    const carol = await paved(["approve", runId, "4", "--digest", digest], "", "carol-dev-token");
    expect(carol.code).toBe(0);

    const resumed = await paved(["resume", runId]);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain("✓ 4. Destroy the instance [action, irreversible]: succeeded\n");
    expect(resumed.stdout).toContain(`run ${runId}: succeeded\n`);
  }, 60_000);
});
