/** Runs a check in a child process and renders its report. */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Violation } from "../../policy-pack/evaluate";
import type { CheckAnswer, CheckRequest, CheckedResource } from "./protocol";

/**
 * How the child is started: this folder's child (.ts in a checkout, .js when built). tsx's
 * loader only where TypeScript is run: the checkout's child, or a program's own files. The
 * built CLI checks a spec in plain Node (tsx's start-up and transforms cost a quarter).
 *
 * A spec's request is written to the child's stdin (`-`), so the child can be started
 * before the spec is parsed: it loads Pulumi and the components (most of a check's fixed
 * cost) while the parent validates the spec, on the other core. A program's request is
 * the argument itself (nothing to validate first).
 */
export function childCommand(mode: CheckRequest["mode"], request?: CheckRequest): { command: string; args: string[] } {
  const ts = join(__dirname, "child.ts");
  const child = existsSync(ts) ? ts : join(__dirname, "child.js");
  const needsTsx = child === ts || mode === "program";
  const loader = needsTsx ? ["--import", pathToFileURL(require.resolve("tsx")).href] : [];
  return { command: process.execPath, args: [...loader, child, ...(request ? [JSON.stringify(request)] : ["-", mode])] };
}

/** A started check process that reads its request on stdin. */
export interface StartedChild {
  /** Writes one message (a JSON line) to its stdin; `last` closes stdin. */
  write(message: unknown, last: boolean): void;
  /** Its answer, once it exits. */
  answer: Promise<CheckAnswer>;
  /** Stops a child whose answer is not wanted (an invalid spec). */
  cancel(): void;
}

/**
 * Starts a check process for `mode` that waits for its request on stdin. `onOutput`
 * receives what the program prints.
 */
export function startChild(mode: CheckRequest["mode"], onOutput: (chunk: string) => void): StartedChild {
  return spawnChild(childCommand(mode), true, onOutput);
}

/** Runs `request` in a child process under mocks. `onOutput` receives what the program prints. */
export function runChild(request: CheckRequest, onOutput: (chunk: string) => void): Promise<CheckAnswer> {
  if (request.mode === "spec") return runSpec(request, startChild("spec", onOutput));
  return spawnChild(childCommand(request.mode, request), false, onOutput).answer;
}

/**
 * Checks a validated spec in a started `child`. One process: a second one, running half of
 * the entries, was measured slower at every size up to 200 entries on two cores once the
 * child stopped paying for Pulumi's debugging aids (pulumiDebugAids.ts): each process
 * loads Pulumi and warms its own code.
 */
export function runSpec(request: CheckRequest & { mode: "spec" }, child: StartedChild): Promise<CheckAnswer> {
  child.write(request, true);
  return child.answer;
}

function spawnChild({ command, args }: { command: string; args: string[] }, viaStdin: boolean, onOutput: (chunk: string) => void): StartedChild {
  const child = spawn(command, args, { stdio: [viaStdin ? "pipe" : "ignore", "pipe", "pipe", "pipe"], env: { ...process.env, PULUMI_CONFIG: undefined } });
  let result = "";
  let stderr = "";
  let cancelled = false;
  child.stdout!.on("data", (d: Buffer) => onOutput(d.toString()));
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
    onOutput(d.toString());
  });
  (child.stdio[3] as NodeJS.ReadableStream).on("data", (d: Buffer) => (result += d.toString()));
  // A child that exits before reading its request (it failed to start) closes stdin: the
  // answer then says how it exited, not EPIPE.
  child.stdin?.on("error", () => undefined);
  const answer = new Promise<CheckAnswer>((resolvePromise) => {
    child.on("close", (code) => {
      if (result) {
        resolvePromise(JSON.parse(result) as CheckAnswer);
      } else {
        resolvePromise({
          ok: false,
          error: `the check process exited with code ${code}${stderr ? `: ${stderr.trim().split("\n").slice(-5).join("\n")}` : ""}`,
        });
      }
    });
  });
  return {
    write(message, last) {
      if (!viaStdin || cancelled) return;
      const line = `${JSON.stringify(message)}\n`;
      if (last) child.stdin!.end(line);
      else child.stdin!.write(line);
    },
    answer,
    cancel() {
      if (cancelled) return;
      cancelled = true;
      child.stdin?.destroy();
      child.kill();
    },
  };
}

/** The resource tree, components with their children indented under them. */
export function renderTree(resources: CheckedResource[]): string[] {
  const children = new Map<string | undefined, CheckedResource[]>();
  const urns = new Set(resources.map((r) => r.urn));
  for (const r of resources) {
    const key = r.parent && urns.has(r.parent) ? r.parent : undefined;
    children.set(key, [...(children.get(key) ?? []), r]);
  }
  const lines: string[] = [];
  const walk = (parent: string | undefined, prefix: string) => {
    // Registration order varies from run to run: sort for a stable report.
    const list = [...(children.get(parent) ?? [])].sort((a, b) => a.name.localeCompare(b.name) || a.type.localeCompare(b.type));
    list.forEach((r, i) => {
      const last = i === list.length - 1;
      const branch = parent === undefined ? "" : last ? "└─ " : "├─ ";
      lines.push(`${prefix}${branch}${r.type} ${r.name}`);
      walk(r.urn, parent === undefined ? prefix : prefix + (last ? "   " : "│  "));
    });
  };
  walk(undefined, "");
  return lines;
}

/** The policy results, grouped by enforcement level, mandatory first. */
export function renderViolations(violations: Violation[]): string[] {
  if (violations.length === 0) return ["Policies: no violations."];
  const lines: string[] = [];
  for (const level of ["mandatory", "advisory"] as const) {
    const list = violations.filter((v) => v.enforcementLevel === level);
    if (list.length === 0) continue;
    lines.push(`${level} (${list.length}):`);
    for (const v of list) {
      lines.push(`  ${v.policyName}: ${v.resourceType ?? ""} ${v.resourceName ?? "(stack)"}`.trimEnd());
      lines.push(`    ${v.message}`);
    }
  }
  return lines;
}
