/**
 * The `simulate` engine: runs the same program as the `pulumi` engine, `deploy(spec)`, in a
 * worker process under Pulumi mocks. Nothing is provisioned: each stack's simulated state
 * lives in the store, previews diff it against what the program registers now, and an
 * apply writes the new state. Outputs are the mocks' deterministic values.
 *
 * Like Pulumi, it refuses to delete or replace a protected resource, unless the service
 * unprotects the stack first for a destroy it approved.
 */
import { ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { canonicalJson, previewDigest, summarize } from "../../digest";
import type { ApplyOptions, Engine, EngineApplyResult, EngineOperation, EnginePreview, StackStateStore } from "../types";
import { PreviewChangedError } from "../types";
import type { EnvironmentSpec } from "../../../stacks/spec";
import { EMPTY_STATE, SimResource, SimState, diffStates, protectedViolations } from "./diff";
import type { SimulateAnswer, SimulateRequest } from "./protocol";

export interface SimulateEngineOptions {
  /** Where the simulated stacks' state is kept (the service's store). */
  state: StackStateStore;
  /** Longest a single program run may take before the worker is killed. Default 120 s. */
  timeoutMs?: number;
  now?: () => Date;
  /** The policy pack's config (paved.yaml `policies`). Default: the pack's defaults. */
  policyConfig?: Record<string, unknown>;
  /**
   * How long each changing step of an apply takes (`PAVED_SIMULATE_STEP_MS`). Default 0.
   * Real providers take minutes; a delay lets demos, benchmarks and crash tests see an
   * apply in flight.
   */
  stepDelayMs?: number;
}

type Ok = Extract<SimulateAnswer, { ok: true }>;

/** Starts the worker: worker.ts under tsx's loader in a checkout, worker.js in plain Node in a build. */
function workerCommand(): { command: string; args: string[] } {
  const ts = join(__dirname, "worker.ts");
  if (!existsSync(ts)) return { command: process.execPath, args: [join(__dirname, "worker.js")] };
  return { command: process.execPath, args: ["--import", pathToFileURL(require.resolve("tsx")).href, ts] };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(t);
      reject(new Error("cancelled"));
    };
    // One listener per step would pile up on a long apply's signal: remove it when done.
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * The stack of the start-up preview: not `<team>.<environment>.<name>`, nor an earlier
 * `<team>-<environment>-<name>` (no environment is called `warm`), so no instance has it.
 */
export const WARM_UP_STACK = "paved-warm-up";

/** One instance of every offering, with the parameters a request would give. */
export const WARM_UP_SPEC: EnvironmentSpec = {
  team: "paved",
  environment: "dev",
  network: { vpcId: "vpc-0000000000000000a", subnetIds: ["subnet-0000000000000000a", "subnet-0000000000000000b"] },
  kubernetes: { namespace: "paved-warm-up" },
  resources: [
    { offering: "postgres", name: "warm-db", params: {} },
    { offering: "redis", name: "warm-cache", params: {} },
    { offering: "queue", name: "warm-queue", params: {} },
    { offering: "bucket", name: "warm-bucket", params: {} },
    { offering: "namespace", name: "paved-warm-up", params: { tier: "small" } },
    {
      offering: "web-service",
      name: "warm-web",
      params: { image: "ghcr.io/paved/warm-up@sha256:0000000000000000000000000000000000000000000000000000000000000000", port: 8080 },
    },
  ],
};

/** A protected resource in the way of a delete or replace. */
export class ProtectedResourceError extends Error {
  constructor(readonly urns: string[]) {
    super(
      `refusing to ${urns.length === 1 ? "delete or replace a protected resource" : "delete or replace protected resources"}: ${urns.join(", ")}` +
        " (unprotect it first: a destroy approved through the service does)",
    );
    this.name = "ProtectedResourceError";
  }
}

/**
 * The worker process and the requests waiting for its answers (started on the first
 * request). One per service: a rehearsal's engine shares it with the service's own.
 */
class SimulateWorker {
  private child?: ChildProcess;
  private nextId = 1;
  private pending = new Map<number, { resolve: (a: SimulateAnswer) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  /** The program is deterministic: the same input registers the same resources. */
  readonly runs = new Map<string, Ok>();

  constructor(private readonly timeoutMs: number) {}

  private start(): ChildProcess {
    const { command, args } = workerCommand();
    const child = spawn(command, args, { stdio: ["pipe", "ignore", "pipe", "pipe"], env: { ...process.env, PULUMI_CONFIG: undefined } });
    let buffer = "";
    (child.stdio[3] as NodeJS.ReadableStream).on("data", (d: Buffer) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const a = JSON.parse(line) as SimulateAnswer;
        const p = this.pending.get(a.id);
        if (p) {
          clearTimeout(p.timer);
          this.pending.delete(a.id);
          p.resolve(a);
        }
      }
    });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    child.on("exit", (code, signal) => {
      if (this.child === child) this.child = undefined;
      const reason = `the simulate worker exited (${signal ?? `code ${code}`})${stderr.trim() ? `: ${stderr.trim().split("\n").slice(-3).join(" | ")}` : ""}`;
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        this.pending.delete(id);
        p.reject(new Error(reason));
      }
    });
    return child;
  }

  /** Sends `request` to the worker (started when there is none) and waits for its answer. */
  ask(request: Omit<SimulateRequest, "id">): Promise<SimulateAnswer> {
    if (!this.child) this.child = this.start();
    const worker = this.child;
    const id = this.nextId++;
    return new Promise<SimulateAnswer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`the program did not finish within ${this.timeoutMs} ms`));
        worker.kill("SIGKILL");
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      worker.stdin!.write(JSON.stringify({ ...request, id } satisfies SimulateRequest) + "\n");
    });
  }

  async close(): Promise<void> {
    const worker = this.child;
    this.child = undefined;
    if (worker && worker.exitCode === null) {
      await new Promise<void>((resolve) => {
        worker.once("exit", () => resolve());
        worker.stdin!.end();
        setTimeout(() => worker.kill("SIGKILL"), 2000).unref();
      });
    }
  }
}

export class SimulateEngine implements Engine {
  readonly name = "simulate" as const;
  private readonly worker: SimulateWorker;
  /** Whether `close` stops the worker (not in a rehearsal's engine, which shares it). */
  private readonly ownsWorker: boolean;
  private readonly now: () => Date;

  constructor(
    private readonly options: SimulateEngineOptions,
    shared?: SimulateWorker,
  ) {
    this.worker = shared ?? new SimulateWorker(options.timeoutMs ?? 120_000);
    this.ownsWorker = !shared;
    this.now = options.now ?? (() => new Date());
  }

  /**
   * The same engine with its stacks' state in `state`: the rehearsal's store, whose writes
   * are rolled back. It shares this engine's worker and the runs it remembers. Its applies
   * take no time per step (`stepDelayMs` stands for a provider's wait, and a rehearsal is
   * not there to wait).
   */
  rehearsal(state: StackStateStore): SimulateEngine {
    return new SimulateEngine({ ...this.options, state, stepDelayMs: 0 }, this.worker);
  }

  /**
   * Starts the worker and has it load the program's modules and Pulumi's runtime (1-3 s),
   * so that the first request does not wait for them: the service awaits this before it
   * listens, so `/healthz` answers only once the worker is warm.
   */
  async warm(): Promise<void> {
    const answer = await this.worker.ask({ warm: true, project: "paved", stack: "warm-up", spec: null });
    if (!answer.ok) throw new Error(`the simulate worker could not start: ${answer.error}`);
    // Then a preview of one instance of every offering, on a stack no instance can have:
    // each component's code and the policies run once, in the worker and here, before the
    // first request (it competed for the CPU with the request's own work: on PostgreSQL the
    // first request's overhead was ~2x a later one's). A preview reads the stack's state
    // and writes nothing.
    await this.preview({ stack: WARM_UP_STACK, spec: WARM_UP_SPEC, action: "create" });
  }

  /** Runs the program for `op` (or answers from the runs remembered); `unknownUrns`: see `SimulateRequest`. */
  private async run(op: EngineOperation, unknownUrns: string[] = []): Promise<Ok> {
    const key = canonicalJson({ stack: op.stack, spec: op.spec, unknownUrns });
    const runs = this.worker.runs;
    const cached = runs.get(key);
    if (cached) return cached;
    if (op.signal?.aborted) throw new Error("cancelled");
    const answer = await this.worker.ask({
      project: "paved",
      stack: op.stack,
      spec: op.spec,
      policyConfig: this.options.policyConfig,
      ...(unknownUrns.length > 0 ? { unknownUrns } : {}),
    });
    if (!answer.ok) throw new Error(answer.error);
    if (runs.size > 200) runs.delete(runs.keys().next().value as string);
    runs.set(key, answer);
    return answer;
  }

  private async current(stack: string): Promise<SimState> {
    const text = await this.options.state.getStackState(stack);
    return text ? (JSON.parse(text) as SimState) : EMPTY_STATE;
  }

  /** The target state for `op`: what the program registers, or nothing for a destroy. */
  private async target(op: EngineOperation): Promise<{ resources: SimResource[]; outputs: Record<string, unknown>; violations: Ok["violations"] }> {
    if (op.action === "destroy") return { resources: [], outputs: {}, violations: [] };
    const run = await this.run(op);
    return { resources: run.resources, outputs: run.outputs, violations: run.violations };
  }

  async preview(op: EngineOperation): Promise<EnginePreview> {
    op.onProgress?.(`simulate: previewing ${op.stack} (nothing is provisioned)`);
    const [state, target] = await Promise.all([this.current(op.stack), this.target(op)]);
    const steps = diffStates(state.resources, target.resources);
    const digest = previewDigest(steps, { action: op.action, spec: op.spec });
    for (const s of steps) if (s.op !== "same") op.onProgress?.(`simulate: would ${s.op} ${s.type} ${s.name}`);
    // What the preview creates or replaces has no id or computed outputs yet: the policies
    // see those values unknown, as the engine shows them (a first preview, a rotated token).
    const renewed = steps.filter((s) => s.op === "create" || s.op === "replace").map((s) => s.urn);
    const violations = op.action !== "destroy" && renewed.length > 0 ? (await this.run(op, renewed)).violations : target.violations;
    return { steps, violations, changeSummary: summarize(steps), digest };
  }

  async apply(op: EngineOperation, options: ApplyOptions): Promise<EngineApplyResult> {
    const [state, target] = await Promise.all([this.current(op.stack), this.target(op)]);
    let current = state.resources;
    if (options.unprotect && op.action === "destroy") {
      const guarded = current.filter((r) => r.protect);
      if (guarded.length > 0) op.onProgress?.(`simulate: unprotecting ${guarded.length} resource(s) for the approved destroy`);
      current = current.map((r) => ({ ...r, protect: false }));
    }
    const steps = diffStates(state.resources, target.resources);
    const digest = previewDigest(steps, { action: op.action, spec: op.spec });
    // The second guard: apply exactly the approved preview, as `pulumi up --plan` would.
    if (digest !== options.digest) throw new PreviewChangedError(options.digest, digest);
    const blocked = protectedViolations(diffStates(current, target.resources));
    if (blocked.length > 0) throw new ProtectedResourceError(blocked.map((s) => s.urn));
    // Until the apply completes, its changing steps are pending operations, as in Pulumi's
    // state: a crash mid-apply leaves them for a refresh to clear.
    const changing = steps.filter((s) => s.op !== "same").map((s) => s.urn);
    if (changing.length > 0) {
      await this.options.state.putStackState(op.stack, JSON.stringify({ ...state, pending: changing } satisfies SimState), this.now().toISOString());
    }
    for (const s of steps) {
      if (op.signal?.aborted) throw new Error("cancelled");
      if (s.op === "same") continue;
      op.onProgress?.(`simulate: ${s.op} ${s.type} ${s.name}`);
      if (this.options.stepDelayMs) await sleep(this.options.stepDelayMs, op.signal);
    }
    await this.options.state.putStackState(
      op.stack,
      JSON.stringify({ resources: target.resources, outputs: target.outputs } satisfies SimState),
      this.now().toISOString(),
    );
    return { outputs: target.outputs, changeSummary: summarize(steps) };
  }

  async inspect(stack: string): Promise<{ resources: number; pendingOperations: string[] }> {
    const state = await this.current(stack);
    return { resources: state.resources.length, pendingOperations: state.pending ?? [] };
  }

  async refresh(op: EngineOperation): Promise<{ pendingCleared: number }> {
    // Nothing real exists: the simulated state is the truth, only pending operations go.
    const state = await this.current(op.stack);
    const pending = state.pending ?? [];
    op.onProgress?.(`simulate: refresh ${op.stack}: ${state.resources.length} resource(s), ${pending.length} pending operation(s) cleared`);
    if (pending.length > 0) {
      await this.options.state.putStackState(
        op.stack,
        JSON.stringify({ resources: state.resources, outputs: state.outputs } satisfies SimState),
        this.now().toISOString(),
      );
    }
    return { pendingCleared: pending.length };
  }

  async cancel(_stack: string): Promise<{ cancelled: boolean }> {
    // A simulated apply holds no lock outside the job that runs it.
    return { cancelled: false };
  }

  async close(): Promise<void> {
    if (this.ownsWorker) await this.worker.close();
  }
}
