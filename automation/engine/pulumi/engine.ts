/**
 * The `pulumi` engine: the Automation API with the inline program `deploy(spec)`, one work
 * directory per job (workspace files are not safe to share between parallel operations),
 * stacks named `<team>-<environment>-<name>`, and the policy pack on every preview and up.
 *
 * Steps, diffs and policy results come from the engine events (`resourcePreEvent`,
 * `policyEvent`, `diagnosticEvent`), read by the same parser as the PR comment, and hashed
 * into the same digest as the simulate engine's. With `usePlans`, a preview saves an update
 * plan and `up` applies it: a second guard on top of the digest check, never the only one.
 *
 * Needs the `pulumi` CLI on PATH (the tests that use it are skipped without it).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { EngineEvent, Stack } from "@pulumi/pulumi/automation";
import { policies as pavedPolicies } from "../../../policy-pack/policies";
import { PolicyPackConfig, Violation, resolvePolicyConfig } from "../../../policy-pack/evaluate";
import { deploy } from "../../../stacks/deploy";
import { previewDigest, summarize } from "../../digest";
import { maskSecrets } from "../secrets";
import { parseEventLog } from "../../preview/parse";
import { stripColors } from "../../preview/text";
import type { PlannedStep } from "../../steps";
import type { ApplyOptions, Engine, EngineApplyResult, EngineOperation, EnginePreview } from "../types";
import { ConcurrentOperationError, PreviewChangedError } from "../types";

export interface PulumiEngineOptions {
  /** Work directories (`<dataDir>/work`) and the default file backend (`<dataDir>/state`). */
  dataDir: string;
  /** Any Pulumi backend URL (`s3://...`, `https://api.pulumi.com`). Default `file://<dataDir>/state`. */
  backendUrl?: string;
  /**
   * The policy pack's directory. Default: this package's pack directory (`dist/policy-pack`
   * in the npm package; `policy-pack/` in a clone, which runs the build's output).
   */
  policyPackDir?: string;
  /** The pack's config (paved.yaml `policies:`), passed to every preview and up. Default: the pack's defaults. */
  policyConfig?: PolicyPackConfig;
  /** Save an update plan at preview and apply it at up. Default false (plans are experimental). */
  usePlans?: boolean;
  /** Longest a single preview, up or destroy may run. Default 30 minutes. */
  timeoutMs?: number;
  /** Environment for the CLI; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** The inline program. Default `deploy(spec)`; tests pass a cloud-free one. */
  program?: (spec: EngineOperation["spec"]) => unknown;
}

/** Engine events that end a line of progress worth showing (resource steps, diagnostics). */
export function progressLine(event: EngineEvent): string | undefined {
  if (event.resOutputsEvent) {
    const m = event.resOutputsEvent.metadata;
    return m.op === "same" ? undefined : `${m.op} ${m.type} ${m.urn.split("::").pop()}: done`;
  }
  if (event.resourcePreEvent) {
    const m = event.resourcePreEvent.metadata;
    return m.op === "same" ? undefined : `${m.op} ${m.type} ${m.urn.split("::").pop()}`;
  }
  if (
    event.diagnosticEvent &&
    !event.diagnosticEvent.ephemeral &&
    (event.diagnosticEvent.severity === "error" || event.diagnosticEvent.severity === "warning")
  ) {
    return `${event.diagnosticEvent.severity}: ${stripColors(event.diagnosticEvent.message).trim()}`;
  }
  if (event.policyEvent) {
    return `policy ${event.policyEvent.policyName} (${event.policyEvent.enforcementLevel}): ${event.policyEvent.message.trim()}`;
  }
  return undefined;
}

const descriptions = new Map(pavedPolicies.map((p) => [p.name, p.description ?? ""]));

/**
 * A Paved policy's engine text (`<description>\n<message>`) split as `evaluate()` gives it:
 * the message without the description. Other text (a "can't run" advisory, another pack's
 * policy) is kept whole.
 */
function messageOf(policyName: string, text: string): string {
  const description = descriptions.get(policyName);
  return description && text.startsWith(`${description}\n`) ? text.slice(description.length + 1) : text;
}

/** The file the Automation API's `policyPackConfigs` points at, in the job's work directory. */
export const POLICY_CONFIG_FILE = "paved-policy-config.json";

/**
 * The Automation API options that run the pack on a preview or an up: the pack directory
 * and, when paved.yaml configures policies, that config as a JSON file in the job's work
 * directory (what `--policy-pack-config` reads).
 */
export function policyPackOptions(packDir: string, workDir: string, config?: PolicyPackConfig): { policyPacks: string[]; policyPackConfigs?: string[] } {
  if (!config || Object.keys(config).length === 0) return { policyPacks: [packDir] };
  const file = join(workDir, POLICY_CONFIG_FILE);
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
  return { policyPacks: [packDir], policyPackConfigs: [file] };
}

/**
 * Checks that `dir` is a pack directory the CLI can start: PulumiPolicy.yaml, a package.json
 * with a version (read by `new PolicyPack()`), and its entry, compiled (a clone's
 * `policy-pack/` runs `dist/policy-pack`, written by `npm run build`).
 */
export function checkPolicyPackDir(dir: string): void {
  for (const file of ["PulumiPolicy.yaml", "package.json"]) {
    if (!existsSync(join(dir, file))) throw new Error(`${dir} is not a policy pack directory: it has no ${file}`);
  }
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version?: string; main?: string };
  if (!manifest.version) throw new Error(`${join(dir, "package.json")} has no version: the policy pack cannot start without one`);
  const entry = join(dir, manifest.main ?? "index.js");
  if (!existsSync(entry)) throw new Error(`the policy pack's entry ${entry} does not exist`);
  const compiled = resolve(dir, "..", "dist", "policy-pack", "index.js");
  if (manifest.main === "pack.js" && !existsSync(compiled)) {
    throw new Error(`the policy pack in ${dir} is not built: run \`npm run build\` (it compiles the pack to ${compiled})`);
  }
}

/** Steps and policy results from a list of engine events (what `onEvent` received). */
export function previewFromEvents(events: EngineEvent[]): { steps: PlannedStep[]; violations: Violation[]; errors: string[] } {
  const parsed = parseEventLog(events.map((e) => JSON.stringify(e)).join("\n"), "engine events");
  const violations: Violation[] = parsed.violations.map((v) => ({
    policyName: v.policyName,
    enforcementLevel: v.enforcementLevel === "mandatory" ? "mandatory" : "advisory",
    message: messageOf(v.policyName, v.message),
    description: descriptions.get(v.policyName) ?? "",
    ...(v.resourceName ? { resourceName: v.resourceName } : {}),
    ...(v.urn ? { urn: v.urn, resourceType: v.urn.split("::")[2]?.split("$").pop() } : {}),
  }));
  // A parsed step is a PlannedStep plus its detailed diff, which the service does not keep.
  const steps: PlannedStep[] = parsed.steps.filter((s) => s.type !== "pulumi:pulumi:Stack").map(({ diff: _diff, ...step }) => step);
  return { steps, violations, errors: parsed.diagnostics.filter((d) => d.severity === "error").map((d) => d.message) };
}

function hasMandatory(violations: Violation[]): boolean {
  return violations.some((v) => v.enforcementLevel === "mandatory");
}

function isConcurrentUpdate(err: unknown): boolean {
  const e = err as { name?: string; message?: string; constructor?: { name?: string } };
  return (
    e?.constructor?.name === "ConcurrentUpdateError" ||
    /\[409\] Conflict|Another update is currently in progress|the stack is currently locked/i.test(e?.message ?? "")
  );
}

function isPlanViolation(err: unknown): boolean {
  return /violates plan|plan for resource|resource .* violates/i.test((err as Error)?.message ?? "");
}

export class PulumiEngine implements Engine {
  readonly name = "pulumi" as const;
  private readonly backendUrl: string;
  private readonly policyPackDir: string;
  private readonly timeoutMs: number;
  private readonly workRoot: string;
  private readonly plans = new Map<string, string>();

  private constructor(private readonly options: PulumiEngineOptions) {
    const dataDir = resolve(options.dataDir);
    this.backendUrl = options.backendUrl ?? `file://${join(dataDir, "state")}`;
    this.policyPackDir = options.policyPackDir ?? resolve(__dirname, "..", "..", "..", "policy-pack");
    this.timeoutMs = options.timeoutMs ?? 30 * 60_000;
    this.workRoot = join(dataDir, "work");
  }

  /**
   * Checks what the engine needs before the service starts: the CLI, and with a file
   * backend a passphrase for the stacks' secrets.
   */
  static async create(options: PulumiEngineOptions): Promise<PulumiEngine> {
    const env = options.env ?? process.env;
    // The CLI would stop on bad config at every preview: refuse it at start-up instead.
    if (options.policyConfig) resolvePolicyConfig(pavedPolicies, options.policyConfig);
    const engine = new PulumiEngine(options);
    if (engine.backendUrl.startsWith("file://")) {
      if (env.PULUMI_CONFIG_PASSPHRASE === undefined && env.PULUMI_CONFIG_PASSPHRASE_FILE === undefined) {
        throw new Error(
          "PULUMI_CONFIG_PASSPHRASE is not set: the file backend encrypts each stack's secrets with it (set it, or PULUMI_CONFIG_PASSPHRASE_FILE, or use another backend)",
        );
      }
      mkdirSync(engine.backendUrl.slice("file://".length), { recursive: true });
    }
    mkdirSync(engine.workRoot, { recursive: true });
    const { PulumiCommand } = await import("@pulumi/pulumi/automation");
    try {
      await PulumiCommand.get();
    } catch (err) {
      throw new Error(`the pulumi CLI cannot be run: ${(err as Error).message}`);
    }
    checkPolicyPackDir(engine.policyPackDir);
    return engine;
  }

  /** A fresh work directory and the stack in it; the directory is removed after `fn`. */
  private async withStack<T>(op: EngineOperation, fn: (stack: Stack, workDir: string) => Promise<T>): Promise<T> {
    const { LocalWorkspace } = await import("@pulumi/pulumi/automation");
    const workDir = mkdtempSync(join(this.workRoot, `${op.stack}-`));
    try {
      const stack = await LocalWorkspace.createOrSelectStack(
        { stackName: op.stack, projectName: "paved", program: async () => (this.options.program ?? deploy)(op.spec) as Record<string, unknown> | void },
        {
          workDir,
          projectSettings: { name: "paved", runtime: "nodejs", backend: { url: this.backendUrl } },
          envVars: Object.fromEntries(Object.entries(this.options.env ?? process.env).filter(([, v]) => v !== undefined)) as Record<string, string>,
        },
      );
      return await fn(stack, workDir);
    } finally {
      rmSync(workDir, { recursive: true, force: true });
    }
  }

  /** Aborts after the timeout or when the caller's signal fires. */
  private signalFor(op: EngineOperation): { signal: AbortSignal; done: () => void } {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
    const onAbort = () => controller.abort(op.signal?.reason);
    op.signal?.addEventListener("abort", onAbort);
    return {
      signal: controller.signal,
      done: () => {
        clearTimeout(timer);
        op.signal?.removeEventListener("abort", onAbort);
      },
    };
  }

  private async run<T>(
    op: EngineOperation,
    fn: (stack: Stack, events: EngineEvent[], signal: AbortSignal, workDir: string) => Promise<T>,
  ): Promise<{ result: T; events: EngineEvent[] }> {
    const events: EngineEvent[] = [];
    const { signal, done } = this.signalFor(op);
    try {
      const result = await this.withStack(op, (stack, workDir) => fn(stack, events, signal, workDir));
      return { result, events };
    } catch (err) {
      if (isConcurrentUpdate(err)) throw new ConcurrentOperationError(op.stack);
      throw err;
    } finally {
      done();
    }
  }

  private onEvent(op: EngineOperation, events: EngineEvent[]) {
    return (event: EngineEvent) => {
      events.push(event);
      const line = progressLine(event);
      if (line) op.onProgress?.(line);
    };
  }

  async preview(op: EngineOperation): Promise<EnginePreview> {
    const planFile = this.options.usePlans ? join(this.workRoot, `${op.stack}.plan.json`) : undefined;
    const { events } = await this.run(op, async (stack, events, signal, workDir) => {
      if (op.action === "destroy") {
        // A destroy preview: every resource of the stack, deleted.
        return stack.previewDestroy({ onEvent: this.onEvent(op, events), signal });
      }
      const policy = policyPackOptions(this.policyPackDir, workDir, this.options.policyConfig);
      try {
        return await stack.preview({ onEvent: this.onEvent(op, events), ...policy, signal, ...(planFile ? { plan: planFile } : {}) });
      } catch (err) {
        // A mandatory violation fails the CLI's preview: the violations are the answer (the
        // request is blocked), not an engine error.
        if (hasMandatory(previewFromEvents(events).violations)) return undefined;
        throw err;
      }
    });
    const { steps, violations, errors } = previewFromEvents(events);
    if (errors.length > 0 && !hasMandatory(violations)) throw new Error(`the preview failed: ${errors.join("; ")}`);
    const digest = previewDigest(steps, { action: op.action, spec: op.spec });
    if (planFile) this.plans.set(digest, planFile);
    return { steps, violations, changeSummary: summarize(steps), digest };
  }

  async apply(op: EngineOperation, options: ApplyOptions): Promise<EngineApplyResult> {
    const plan = this.plans.get(options.digest);
    try {
      const { result, events } = await this.run(op, async (stack, events, signal, workDir) => {
        if (op.action === "destroy") {
          if (options.unprotect) {
            // The destroy was approved through the service: lift `protect` for it.
            const state = await stack.exportStack();
            const resources = (state.deployment as { resources?: { protect?: boolean }[] }).resources ?? [];
            if (resources.some((r) => r.protect)) {
              op.onProgress?.(`unprotecting ${resources.filter((r) => r.protect).length} resource(s) for the approved destroy`);
              for (const r of resources) r.protect = false;
              await stack.importStack(state);
            }
          }
          await stack.destroy({ onEvent: this.onEvent(op, events), signal });
          return {};
        }
        const policy = policyPackOptions(this.policyPackDir, workDir, this.options.policyConfig);
        await stack.up({ onEvent: this.onEvent(op, events), ...policy, signal, ...(plan ? { plan } : {}) });
        const outputs = await stack.outputs();
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(outputs)) out[k] = v.secret ? "[secret]" : maskSecrets(v.value, "hide");
        return out;
      });
      const steps = previewFromEvents(events).steps;
      return { outputs: result, changeSummary: summarize(steps) };
    } catch (err) {
      if (plan && isPlanViolation(err)) throw new PreviewChangedError(options.digest, "an update that violates the saved plan");
      throw err;
    } finally {
      if (plan) {
        this.plans.delete(options.digest);
        rmSync(plan, { force: true });
      }
    }
  }

  async inspect(stack: string): Promise<{ resources: number; pendingOperations: string[] }> {
    const op: EngineOperation = { stack, action: "update", spec: { team: "", environment: "dev", resources: [] } };
    const { result } = await this.run(op, async (st) => {
      const deployment = (await st.exportStack()).deployment as { resources?: { type: string }[]; pending_operations?: { resource: { urn: string } }[] };
      return {
        resources: (deployment.resources ?? []).filter((r) => r.type !== "pulumi:pulumi:Stack" && !r.type.startsWith("pulumi:providers:")).length,
        pendingOperations: (deployment.pending_operations ?? []).map((p) => p.resource.urn),
      };
    });
    return result;
  }

  async refresh(op: EngineOperation): Promise<{ pendingCleared: number }> {
    const before = await this.inspect(op.stack);
    await this.run(op, (stack, events, signal) => stack.refresh({ onEvent: this.onEvent(op, events), signal, clearPendingCreates: true }));
    const after = await this.inspect(op.stack);
    return { pendingCleared: before.pendingOperations.length - after.pendingOperations.length };
  }

  async cancel(stack: string): Promise<{ cancelled: boolean }> {
    const op: EngineOperation = { stack, action: "update", spec: { team: "", environment: "dev", resources: [] } };
    try {
      await this.run(op, (st) => st.cancel());
      return { cancelled: true };
    } catch (err) {
      if (/no stack update|not currently being updated|no update/i.test((err as Error).message)) return { cancelled: false };
      throw err;
    }
  }

  async close(): Promise<void> {
    // Work directories are removed after each job; nothing else is held.
  }
}
