/**
 * End to end: `npm start` on the embedded defaults (a SQLite file in a temporary data
 * directory, the simulate engine, the shipped paved.yaml), driven over real HTTP.
 */
import { ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { freePort } from "../net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "./harness";

function npmStart(env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  // `npm start` as a user types it; PAVED_ENGINE is left unset so the default choice runs.
  const child = spawn("npm", ["start", "--silent"], {
    cwd: ROOT,
    env: { ...process.env, PAVED_ENGINE: "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  // "close": every process holding the pipes (npm, the service) has gone. npm re-raises a
  // signal it got; the service itself exits 0 after a clean stop.
  const exited = new Promise<number | null>((resolve) => child.on("close", (code, signal) => resolve(code ?? (signal === "SIGTERM" ? 0 : -1))));
  return { child, output: () => out, exited };
}

const pulumiOnPath = (process.env.PATH ?? "").split(":").some((d) => d && existsSync(join(d, "pulumi")));

describe("npm start", () => {
  let dataDir: string;
  let port: number;
  let server: ReturnType<typeof npmStart>;
  const base = () => `http://127.0.0.1:${port}`;
  const as = (token: string) => ({ authorization: `Bearer ${token}`, "content-type": "application/json" });

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "paved-e2e-"));
    port = await freePort();
    server = npmStart({ PORT: String(port), PAVED_DATA_DIR: dataDir });
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const res = await fetch(`${base()}/healthz`);
        if (res.ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`the service did not start:\n${server.output()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 70_000);

  afterAll(async () => {
    if (server.child.exitCode === null) process.kill(-server.child.pid!, "SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("serves on its defaults: SQLite under PAVED_DATA_DIR, the simulate engine without a pulumi CLI", async () => {
    const health = await (await fetch(`${base()}/healthz`)).json();
    expect(health).toEqual({ status: "ok", engine: pulumiOnPath ? "pulumi" : "simulate", store: "sqlite" });
    expect(existsSync(join(dataDir, "paved.db"))).toBe(true);
  });

  it("takes a prod request through approval to success over HTTP, with its events streamed", async () => {
    if (pulumiOnPath) {
      console.log("skipped: a pulumi CLI is on PATH, so npm start chose the pulumi engine and this test would provision");
      return;
    }
    const created = await fetch(`${base()}/requests`, {
      method: "POST",
      headers: as("alice-dev-token"),
      body: JSON.stringify({ team: "payments", environment: "prod", offering: "queue", name: "payouts", params: {} }),
    });
    expect(created.status).toBe(202);
    expect(created.headers.get("x-paved-engine")).toBe("simulate");
    const { id } = (await created.json()) as { id: string };
    expect(created.headers.get("location")).toBe(`/requests/${id}`);

    let request: any;
    for (let i = 0; i < 150; i++) {
      request = await (await fetch(`${base()}/requests/${id}`, { headers: as("bob-dev-token") })).json();
      if (request.status !== "previewing") break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(request.status).toBe("awaiting_approval");
    expect(request.risk.requiredApprovals.description).toBe("1 approval");

    // Listen to the events before approving: the stream ends at the terminal status.
    const events = fetch(`${base()}/requests/${id}/events`, { headers: as("alice-dev-token") }).then((r) => r.text());
    const approved = await fetch(`${base()}/requests/${id}/approve`, {
      method: "POST",
      headers: as("bob-dev-token"),
      body: JSON.stringify({ digest: request.preview.digest }),
    });
    expect(approved.status).toBe(200);
    const text = await events;
    const statuses = [...text.matchAll(/^event: status\ndata: (.*)$/gm)].map((m) => JSON.parse(m[1]).status);
    expect(statuses).toEqual(["previewing", "awaiting_approval", "awaiting_approval", "approved", "applying", "succeeded"]);
    const done = (await (await fetch(`${base()}/requests/${id}`, { headers: as("alice-dev-token") })).json()) as any;
    expect(done.status).toBe("succeeded");
    expect(done.outputs.url).toMatch(/^https:\/\/sqs\.us-east-1\.amazonaws\.com\/123456789012\//);
  }, 60_000);

  it("stops cleanly on SIGTERM", async () => {
    process.kill(-server.child.pid!, "SIGTERM");
    expect(await server.exited).toBe(0);
    expect(server.output()).toContain("stopping: no new jobs, waiting for running ones");
    expect(server.output()).toContain("paved: stopped\n");
  }, 40_000);
});

describe("a bad paved.yaml", () => {
  it("stops start-up with the file, position, path and reason", async () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-badconfig-"));
    const file = join(dir, "paved.yaml");
    writeFileSync(file, "demo: true\npeople:\n  alice: { token: alice-dev-token }\nteams:\n  payments:\n    members: [alice]\n    autonomy: always\n");
    const run = npmStart({ PORT: String(await freePort()), PAVED_DATA_DIR: dir, PAVED_CONFIG: file });
    expect(await run.exited).toBe(2);
    expect(run.output()).toContain(
      `${file} is not a valid Paved configuration:\n  ${file}:7:15 teams.payments.autonomy: "always" is not one of none, low, medium, high, critical`,
    );
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});
