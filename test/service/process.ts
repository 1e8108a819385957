/** The service as a real process (`automation/service/main.ts`), for crash and shutdown suites. */
import { ChildProcess, spawn } from "node:child_process";
import { afterAll } from "vitest";
import { freePort } from "../net";
import { ROOT } from "./harness";

export interface Started {
  child: ChildProcess;
  base: string;
  output: () => string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string | null>;
}

/** Processes started by the current file; SIGKILLed after its tests. */
export function useProcesses(): (env: Record<string, string>) => Promise<Started> {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  });
  return async (env) => {
    const s = await startService(env);
    children.push(s.child);
    return s;
  };
}

/** Starts the service on a free port with the simulate engine; resolves once /healthz answers. */
export async function startService(env: Record<string, string>): Promise<Started> {
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", "automation/service/main.ts"], {
    cwd: ROOT,
    env: { ...process.env, PAVED_ENGINE: "simulate", PORT: String(port), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string | null>((r) => child.once("exit", (code, signal) => r(code ?? signal)));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      // not yet
    }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no start:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, base, output: () => out, exited };
}

export const ALICE = { authorization: "Bearer alice-dev-token", "content-type": "application/json" };

/** Polls GET /requests/:id until `until` holds. */
export async function waitFor(base: string, id: string, until: (r: any) => boolean, timeoutMs = 30_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await (await fetch(`${base}/requests/${id}`, { headers: ALICE })).json();
    if (until(r)) return r;
    if (Date.now() > deadline) throw new Error(`timed out; last: ${JSON.stringify(r).slice(0, 300)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}
