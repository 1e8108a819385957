/**
 * Runs runbooks, step by step, persisting each step before and after it runs, so a run
 * resumes after a restart or on another replica. A run is advanced by one replica at a
 * time: it claims the run (owner + lease, kept alive by a heartbeat) and every change of
 * the run is a compare-and-set, so a replica that starts never takes a run another live
 * replica is advancing.
 *
 * Checks run on their own; manual steps and decisions wait for a person's answer. Every
 * action goes through the one gate (`../gate.ts`), exactly as a request does:
 *
 * - a `change` action is previewed by the engine; the preview's risk, the team's autonomy
 *   and `approvals.rules` decide whether it runs alone or waits for approvers; the approved
 *   digest is what the engine applies (a different preview at apply time goes back for
 *   approval);
 * - a `run` action is gated by its declared risk (prod one level higher) and its plan;
 * - `reversible: false` raises the gate: a person approves whatever the autonomy.
 *
 * An irreversible step that was in flight at a crash is reported, never run again.
 */
import { createHash, randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Environment } from "../../components/guardrails";
import { validateOfferingInstance } from "../../components/offerings";
import type { Change, Runbook, Step, StepContext } from "../../runbooks/model";
import { DEFAULT_STEP_TIMEOUT_MS, text } from "../../runbooks/model";
import { describeZodIssue, formatPath } from "../../stacks/spec";
import type { Person } from "../config";
import { canonicalJson } from "../digest";
import type { EnginePreview } from "../engine/types";
import { PreviewChangedError } from "../engine/types";
import { DomainError } from "../errors";
import { Assessment, GateSubject } from "../gate";
import { ApprovalRequirement, RISK_LEVELS, RiskLevel, riskRank } from "../risk";
import type { RunRow, RunStepRow, Store } from "../store/store";
import type { Workflow } from "../workflow";
import { RunServices, withStackLock } from "./services";

export const RUN_STATUSES = ["running", "awaiting_answer", "awaiting_approval", "succeeded", "failed", "rejected", "cancelled"] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export interface StepView {
  n: number;
  title: string;
  kind: Step<unknown>["kind"];
  reversible?: boolean;
  status: string;
  output: string | null;
  /** What the step waits for, when it waits. */
  awaiting?:
    | { answer: { question: string; options: string[] } }
    | {
        approval: {
          digest: string;
          risk: RiskLevel;
          reasons: string[];
          requiredApprovals: ApprovalRequirement & { description: string };
          /** "1 of 2 from platform: bob". */
          progress: string;
          plan: string[];
        };
      };
  approvals: { by: string; at: string; digest: string; comment: string | null }[];
  startedAt: string | null;
  finishedAt: string | null;
}

export interface RunView {
  id: string;
  runbook: string;
  title: string;
  level: string;
  params: Record<string, unknown>;
  requestedBy: string;
  status: RunStatus;
  dryRun: boolean;
  currentStep: number;
  engine: string;
  steps: StepView[];
  error: string | null;
  createdAt: string;
  updatedAt: string;
}

/** What a step waiting for approval keeps: its risk, requirement and plan. */
interface ApprovalRecord {
  risk: RiskLevel;
  reasons: string[];
  requirement: ApprovalRequirement & { description: string };
  plan: string[];
}

/** An action, gated: what runs, against which digest. */
interface GatedAction {
  digest: string;
  assessment: Assessment;
  plan: string[];
  change?: Change;
  stack?: string;
}

/** An operation that did not finish within the step's timeout. */
class StepTimeout extends Error {}

/** This replica lost its claim on the run (its lease ran out and another took it). */
class LostClaim extends Error {}

function withTimeout<T>(ms: number, controller: AbortController, fn: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => {
      controller.abort();
      reject(new StepTimeout(`did not finish within ${ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`}`));
    }, ms);
    fn().then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

function raiseForProd(level: RiskLevel, environment: Environment): RiskLevel {
  return environment === "prod" ? RISK_LEVELS[Math.min(riskRank(level) + 1, RISK_LEVELS.length - 1)] : level;
}

export interface ExecutorOptions {
  now?: () => Date;
  /** This replica's name in run leases. Default: host, pid and a random suffix. */
  owner?: string;
  /** How long a claim on a run lasts without a heartbeat. Default `PAVED_LEASE_MS` or 60 s. */
  leaseMs?: number;
  log?: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

export class RunbookExecutor {
  private readonly byId: Map<string, Runbook>;
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly now: () => Date;
  readonly owner: string;
  private readonly leaseMs: number;
  private readonly log: NonNullable<ExecutorOptions["log"]>;

  constructor(
    readonly workflow: Workflow,
    runbooks: readonly Runbook[],
    options: ExecutorOptions | (() => Date) = {},
  ) {
    const o: ExecutorOptions = typeof options === "function" ? { now: options } : options;
    this.byId = new Map(runbooks.map((r) => [r.id, r]));
    this.now = o.now ?? (() => new Date());
    this.owner = o.owner ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.leaseMs = o.leaseMs ?? 60_000;
    const quiet = () => undefined;
    this.log = o.log ?? { warn: quiet, error: quiet };
  }

  private get store(): Store {
    return this.workflow.store;
  }

  private get gate() {
    return this.workflow.gate;
  }

  private at(): string {
    return this.now().toISOString();
  }

  private leaseUntil(): string {
    return new Date(this.now().getTime() + this.leaseMs).toISOString();
  }

  list(): Runbook[] {
    return [...this.byId.values()];
  }

  runbook(id: string): Runbook {
    const r = this.byId.get(id);
    if (!r) throw new DomainError("not_found", "runbook_not_found", `there is no runbook ${id}; the runbooks are: ${[...this.byId.keys()].join(", ")}`);
    return r;
  }

  /** Starts a run; its steps go on in the background (`settle` waits for them). */
  async start(person: Person, runbookId: string, rawParams: unknown, options: { dryRun?: boolean } = {}): Promise<RunView> {
    const runbook = this.runbook(runbookId);
    const parsed = runbook.params.safeParse(rawParams ?? {}, { reportInput: true });
    if (!parsed.success) {
      throw new DomainError(
        "invalid",
        "invalid_params",
        `the params are not valid for runbook ${runbookId}`,
        parsed.error.issues.flatMap(describeZodIssue).map((i) => ({ path: formatPath(["params", ...i.path]), message: i.message })),
      );
    }
    const params = parsed.data as Record<string, unknown>;
    const team = typeof params.team === "string" ? params.team : null;
    // A run acts for a team, as a request does: only its members start one. Approvers may
    // dry-run any team's runbook (it changes nothing).
    if (team === null || (!person.teams.includes(team) && !(options.dryRun && person.groups.length > 0))) {
      throw new DomainError("forbidden", "not_a_team_member", `${person.name} is not a member of team ${team ?? "(none)"}`);
    }
    const id = `run_${randomUUID()}`;
    const at = this.at();
    await this.store.insertRun({
      id,
      runbook_id: runbookId,
      team,
      params: JSON.stringify(params),
      requested_by: person.name,
      status: "running",
      current_step: 1,
      dry_run: options.dryRun ? 1 : 0,
      state: "{}",
      answers: "{}",
      error: null,
      lease_owner: this.owner,
      lease_until: this.leaseUntil(),
      created_at: at,
      updated_at: at,
    });
    await this.store.audit({
      at,
      actor: person.name,
      action: options.dryRun ? "runbook.dry-run" : "runbook.start",
      request_id: id,
      detail: { runbook: runbookId, params },
    });
    this.kick(id);
    return this.view(id);
  }

  /**
   * Waits, at most `graceMs`, for every run's background work to stop (shutdown). Runs
   * still going then are let go of at once, so another replica takes them over without
   * waiting for the lease (an irreversible step in flight is reported there, not re-run).
   */
  async idle(graceMs = 30_000): Promise<void> {
    const all = Promise.all([...this.inFlight.values()]);
    await Promise.race([all, new Promise((r) => setTimeout(r, graceMs).unref())]);
    for (const runId of this.inFlight.keys()) await this.store.releaseRun(runId, this.owner).catch(() => undefined);
  }

  /** Waits until this replica's background work on the run stops (finished, or waiting for a person). */
  async settle(runId: string): Promise<RunView> {
    while (this.inFlight.has(runId)) await this.inFlight.get(runId);
    return this.view(runId);
  }

  private kick(runId: string): void {
    if (this.inFlight.has(runId)) return;
    const p = this.advance(runId)
      .catch(async (err: Error) => {
        if (err instanceof LostClaim) {
          this.log.warn({ runId }, `runbook run ${runId}: another replica took it over`);
          return;
        }
        this.log.error({ runId, err: err.message }, `runbook run ${runId} failed: ${err.message}`);
        await this.finish(runId, "failed", `internal error: ${err.message}`, { owner: this.owner }).catch(() => undefined);
      })
      .finally(async () => {
        this.inFlight.delete(runId);
        await this.store.releaseRun(runId, this.owner).catch(() => undefined);
      });
    this.inFlight.set(runId, p);
  }

  private async row(runId: string): Promise<RunRow> {
    const row = await this.store.getRun(runId);
    if (!row) throw new DomainError("not_found", "run_not_found", `there is no runbook run ${runId}`);
    return row;
  }

  /** Changes the run while this replica holds it; throws LostClaim when it does not. */
  private async setRun(runId: string, patch: Partial<RunRow>): Promise<void> {
    if (!(await this.store.updateRun(runId, { ...patch, updated_at: this.at() }, { owner: this.owner }))) throw new LostClaim();
  }

  private async finish(runId: string, status: RunStatus, error: string | null, guard: { owner?: string; from?: string[] }): Promise<boolean> {
    const ok = await this.store.updateRun(runId, { status, error, lease_owner: null, lease_until: null, updated_at: this.at() }, guard);
    if (ok) await this.store.audit({ at: this.at(), actor: "paved", action: `runbook.${status}`, request_id: runId, detail: error ? { error } : undefined });
    return ok;
  }

  /**
   * Stops advancing: the run waits for a person (it holds no lease while it waits). A new
   * wait (`notify`) writes `answer_needed` or `approval_needed` to the outbox with the change.
   */
  private async wait(
    runId: string,
    status: "awaiting_answer" | "awaiting_approval",
    notify?: { step: number; requirement?: ApprovalRecord["requirement"] },
  ): Promise<void> {
    const patch = { status, lease_owner: null, lease_until: null, updated_at: this.at() };
    const event = status === "awaiting_answer" ? "answer_needed" : "approval_needed";
    const outbox = notify && this.workflow.outbox.forRun(event, { ...(await this.row(runId)), ...patch }, notify.step, this.at(), notify.requirement);
    if (!(await this.store.updateRun(runId, patch, { owner: this.owner }, outbox))) throw new LostClaim();
  }

  private context(run: RunRow, state: Record<string, unknown>, signal: AbortSignal, outputLines: string[]): { ctx: StepContext<any>; services: RunServices } {
    const log = (line: string) => outputLines.push(line);
    const services = new RunServices(this.workflow, run, this.now, signal, log);
    return {
      services,
      ctx: {
        params: JSON.parse(run.params),
        runId: run.id,
        answers: JSON.parse(run.answers),
        state,
        paved: services,
        actor: run.requested_by,
        now: this.now,
        log,
        signal,
      },
    };
  }

  /** The digest of a `run` action's plan. */
  planDigest(runbookId: string, n: number, params: unknown, plan: string[]): string {
    return `sha256:${createHash("sha256")
      .update(canonicalJson({ runbook: runbookId, step: n, params, plan }))
      .digest("hex")}`;
  }

  /** The engine's preview of `change` (read only). */
  private async preview(
    services: RunServices,
    change: Change,
    signal: AbortSignal,
    log: (l: string) => void,
  ): Promise<{ preview: EnginePreview; stack: string }> {
    const stack = await services.stackOf(change.ref);
    const preview = await this.workflow.engine.preview({
      stack,
      action: change.action,
      spec: this.workflow.specFor(change.ref.team, change.ref.environment, change.offering, change.ref.name, change.params),
      signal,
      onProgress: log,
    });
    return { preview, stack };
  }

  /** The preview of `change` and the gate's assessment of it, as for a request with the same preview. */
  private async assessChange(services: RunServices, change: Change, signal: AbortSignal, log: (l: string) => void, raise?: "human", requestedBy?: string) {
    const { preview, stack } = await this.preview(services, change, signal, log);
    const extra = await this.workflow.snapshotRisk(change.ref.team, change.offering, change.params);
    const assessment = this.gate.assess({
      team: change.ref.team,
      environment: change.ref.environment,
      steps: preview.steps,
      violations: preview.violations,
      extra,
      raise,
      // An agent's run is held to the agent's ceiling, as its requests are.
      requester: requestedBy === undefined ? undefined : this.workflow.config.person(requestedBy),
    });
    return { preview, stack, assessment };
  }

  /** Previews and assesses an action, as the gate would a request with the same preview. */
  private async gateAction(
    run: RunRow,
    runbook: Runbook,
    n: number,
    step: Extract<Step<unknown>, { kind: "action" }>,
    ctx: StepContext<any>,
    services: RunServices,
    log: (l: string) => void,
  ): Promise<GatedAction> {
    const params = ctx.params as Record<string, unknown>;
    const raise = step.reversible ? undefined : ("human" as const);
    if (step.change) {
      const change = await step.change(ctx);
      if (change.action !== "destroy") {
        // What the door refuses, a runbook's change cannot do either: said before any preview.
        const valid = validateOfferingInstance({
          offering: change.offering,
          team: change.ref.team,
          environment: change.ref.environment,
          name: change.ref.name,
          params: change.params,
        });
        if (!valid.ok) throw new Error(`the change is not valid: ${valid.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join("; ")}`);
      }
      const { preview, stack, assessment } = await this.assessChange(services, change, ctx.signal, log, raise, run.requested_by);
      const changing = preview.steps.filter((s) => s.op !== "same");
      const plan = [
        `${change.action} ${change.offering} ${change.ref.team}/${change.ref.environment}/${change.ref.name} with params ${JSON.stringify(change.params)} (engine ${this.workflow.engine.name})`,
        ...changing.map((s) => `${s.op} ${s.type} ${s.name}${s.changedKeys.length ? ` (${s.changedKeys.join(", ")})` : ""}`),
      ];
      return { digest: preview.digest, assessment, plan, change, stack };
    }
    const plan = (await step.plan!(ctx)).description;
    const environment = (typeof params.environment === "string" ? params.environment : "prod") as Environment;
    const declared = step.risk ?? "high";
    const level = raiseForProd(declared, environment);
    const reason = `${text(step.description, params)}: declared ${declared} risk${level !== declared ? ", one level higher in prod" : ""}`;
    const assessment = this.gate.assess({ team: run.team!, environment, steps: [], extra: [{ atLeast: level, reason }], raise });
    return { digest: this.planDigest(runbook.id, n, params, plan), assessment, plan };
  }

  private subject(run: RunRow, stepRow: RunStepRow): GateSubject {
    const record = JSON.parse(stepRow.approval!) as ApprovalRecord;
    return {
      noun: "runbook step",
      team: run.team ?? "",
      requestedBy: run.requested_by,
      requirement: record.requirement,
      digest: stepRow.digest!,
      awaitingSince: stepRow.awaiting_since!,
    };
  }

  private async given(runId: string, n: number, floor: number) {
    return (await this.store.runApprovals(runId)).filter((a) => a.n === n && a.id > floor);
  }

  /**
   * Whether the gated action may run now: within the team's autonomy, or approved for this
   * very digest in the current wait. Otherwise the step (re)starts waiting for approval.
   */
  private async admitted(run: RunRow, n: number, gated: GatedAction): Promise<boolean> {
    if (gated.assessment.requirement.auto) {
      await this.store.audit({
        at: this.at(),
        actor: "paved",
        action: "runbook.auto-approved",
        request_id: run.id,
        digest: gated.digest,
        detail: { step: n, risk: gated.assessment.level },
      });
      return true;
    }
    const current = await this.store.getRunStep(run.id, n);
    if (current?.status === "awaiting_approval" && current.digest === gated.digest && current.approval) {
      const subject = this.subject(run, current);
      if (!this.gate.expired(subject)) {
        if (this.gate.count(subject, await this.given(run.id, n, current.approval_floor)).satisfied) return true;
        await this.wait(run.id, "awaiting_approval");
        return false;
      }
    }
    // A new wait: first time, a different plan, or the earlier wait expired. Approvals given
    // before it count no more.
    // `pending` with a digest: the engine's guard refused the admitted plan at apply time.
    const reason = !current?.digest ? "first" : current.digest !== gated.digest || current.status !== "awaiting_approval" ? "changed" : "expired";
    const record: ApprovalRecord = {
      risk: gated.assessment.level,
      reasons: gated.assessment.reasons,
      requirement: gated.assessment.requirement,
      plan: gated.plan,
    };
    await this.store.setRunStep(run.id, n, {
      status: "awaiting_approval",
      digest: gated.digest,
      approval: JSON.stringify(record),
      awaiting_since: this.at(),
      approval_floor: await this.store.lastRunApprovalId(),
      started_at: current?.started_at ?? this.at(),
      output:
        reason === "changed"
          ? "the plan changed since it was approved: approve the new plan"
          : reason === "expired"
            ? "the approval wait expired: planned again, approve the new plan"
            : null,
    });
    await this.wait(run.id, "awaiting_approval", { step: n, requirement: record.requirement });
    await this.store.audit({
      at: this.at(),
      actor: "paved",
      action: reason === "changed" ? "runbook.plan-changed" : "runbook.awaiting-approval",
      request_id: run.id,
      digest: gated.digest,
      detail: { step: n, risk: gated.assessment.level, needs: gated.assessment.requirement.description },
    });
    return false;
  }

  /** Applies an admitted change with its approved digest and records the instance. */
  private async applyChange(run: RunRow, gated: GatedAction, signal: AbortSignal, log: (l: string) => void): Promise<string> {
    const change = gated.change!;
    const stack = gated.stack!;
    const busy = await this.store.inFlight(stack, ["succeeded", "failed", "blocked", "rejected", "cancelled", "expired"]);
    if (busy.length > 0) throw new Error(`request ${busy[0].id} on ${stack} is still ${busy[0].status}`);
    const result = await withStackLock(this.store, stack, run.id, this.now, () =>
      this.workflow.engine.apply(
        {
          stack,
          action: change.action,
          spec: this.workflow.specFor(change.ref.team, change.ref.environment, change.offering, change.ref.name, change.params),
          signal,
          onProgress: log,
        },
        // The digest the gate admitted: the engine refuses anything else.
        { digest: gated.digest, unprotect: change.action === "destroy" },
      ),
    );
    const at = this.at();
    const existing = await this.store.getInstance(stack);
    await this.store.upsertInstance({
      stack,
      team: change.ref.team,
      environment: change.ref.environment,
      name: change.ref.name,
      offering: change.offering,
      params: JSON.stringify(change.params),
      outputs: JSON.stringify(change.action === "destroy" ? {} : (result.outputs[change.ref.name] ?? {})),
      status: change.action === "destroy" ? "destroyed" : "active",
      needs_refresh: 0,
      created_at: existing?.created_at ?? at,
      updated_at: at,
    });
    await this.store.audit({
      at,
      actor: run.requested_by,
      action: `runbook.engine.${change.action === "destroy" ? "destroy" : "up"}`,
      request_id: run.id,
      stack,
      digest: gated.digest,
      detail: { changeSummary: result.changeSummary },
    });
    return `${change.action} ${change.ref.team}/${change.ref.environment}/${change.ref.name}: ${Object.entries(result.changeSummary)
      .map(([op, k]) => `${op} ${k}`)
      .join(", ")}`;
  }

  /** A rollback: previewed and gated like any change; applied only when it needs nobody. */
  private async rollback(
    run: RunRow,
    step: Extract<Step<unknown>, { kind: "action" }>,
    ctx: StepContext<any>,
    services: RunServices,
    log: (l: string) => void,
  ): Promise<string> {
    const change = await step.rollback!(ctx);
    // A run action's own undo (it can change no resource).
    if (typeof change === "string") return change;
    if (step.run) throw new Error("a run action's rollback cannot change an instance");
    // A change of this offering had to be undone: what the team earned for it is lost.
    await this.workflow.trackRollback(change.ref.team, change.offering, run.requested_by);
    const { preview, stack, assessment } = await this.assessChange(services, change, ctx.signal, log, undefined, run.requested_by);
    if (assessment.blocked || !assessment.requirement.auto) {
      return `not applied: it is ${assessment.level} risk and needs ${assessment.requirement.description}; request it (${change.action} ${change.offering} ${change.ref.name} with params ${JSON.stringify(change.params)})`;
    }
    return this.applyChange(run, { digest: preview.digest, assessment, plan: [], change, stack }, ctx.signal, log);
  }

  /** Runs steps until the run ends or waits for a person. */
  private async advance(runId: string): Promise<void> {
    if (!(await this.store.claimRun(runId, this.owner, this.at(), this.leaseUntil()))) return;
    const controller = new AbortController();
    const beat = setInterval(
      () => {
        this.store.heartbeatRun(runId, this.owner, this.leaseUntil()).then(
          (ok) => {
            if (!ok) controller.abort();
          },
          () => undefined,
        );
      },
      Math.max(Math.floor(this.leaseMs / 3), 50),
    );
    beat.unref();
    try {
      await this.steps(runId, controller.signal);
    } finally {
      clearInterval(beat);
    }
  }

  private async steps(runId: string, lease: AbortSignal): Promise<void> {
    let applyRetries = 0;
    for (;;) {
      if (lease.aborted) throw new LostClaim();
      const run = await this.row(runId);
      if (run.status !== "running" || run.lease_owner !== this.owner) return;
      const runbook = this.runbook(run.runbook_id);
      const n = run.current_step;
      const step = runbook.steps[n - 1];
      if (!step) {
        await this.finish(runId, "succeeded", null, { owner: this.owner });
        return;
      }
      const params = JSON.parse(run.params) as Record<string, unknown>;
      const answers = JSON.parse(run.answers) as Record<string, string>;
      const state = JSON.parse(run.state) as Record<string, unknown>;
      const dryRun = run.dry_run === 1;
      const documented = runbook.level === "documented";
      const next = async (status: string, output: string) => {
        await this.store.setRunStep(runId, n, { status, output, finished_at: this.at() });
        await this.setRun(runId, { current_step: n + 1, state: JSON.stringify(state) });
      };

      // Steps a person answers: manual steps, decisions, and every step of a documented runbook.
      if (!dryRun && (step.kind === "manual" || step.kind === "decision" || documented)) {
        const answer = answers[n];
        if (answer === undefined) {
          await this.store.setRunStep(runId, n, { status: "awaiting_answer", started_at: this.at(), awaiting_since: this.at() });
          await this.wait(runId, "awaiting_answer", { step: n });
          return;
        }
        if (step.kind === "decision") {
          if (step.stopOn?.includes(answer)) {
            await this.store.setRunStep(runId, n, { status: "succeeded", output: `answered "${answer}": the run stops here`, finished_at: this.at() });
            await this.finish(runId, "succeeded", null, { owner: this.owner });
            return;
          }
          await next("succeeded", `answered "${answer}"`);
        } else if (answer === "failed") {
          await this.store.setRunStep(runId, n, { status: "failed", output: "reported as failed", finished_at: this.at() });
          await this.finish(runId, "failed", `step ${n} (${step.title}) failed. Next: ${text(step.onFailure, params)}`, { owner: this.owner });
          return;
        } else {
          await next("succeeded", "confirmed done");
        }
        continue;
      }

      const lines: string[] = [];
      const controller = new AbortController();
      const onLease = () => controller.abort();
      lease.addEventListener("abort", onLease);
      const { ctx, services } = this.context(run, state, controller.signal, lines);
      const log = (l: string) => lines.push(l);
      const timeout = step.timeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
      try {
        if (dryRun && step.kind !== "check") {
          let what: string;
          if (step.kind === "action") {
            // A dry run previews (read only) and says what the gate would ask.
            let gate = step.reversible ? "" : " (irreversible: waits for approval)";
            try {
              const gated = await withTimeout(timeout, controller, () => this.gateAction(run, runbook, n, step, ctx, services, log));
              gate = `: ${gated.assessment.level} risk, ${gated.assessment.requirement.description}`;
            } catch (err) {
              gate = `${gate} (not previewed: ${(err as Error).message})`;
            }
            what = `would ${text(step.description, params)}${gate}`;
          } else {
            what = step.kind === "decision" ? `would ask: ${text(step.question, params)}` : `would ask a person to: ${text(step.instructions, params)}`;
          }
          await next("skipped", `dry run: ${what}`);
          continue;
        }

        if (step.kind === "check") {
          await this.store.setRunStep(runId, n, { status: "running", started_at: this.at() });
          let obs;
          try {
            obs = await withTimeout(timeout, controller, () => step.run(ctx));
          } catch (err) {
            obs = { ok: false, observed: `error: ${(err as Error).message}` };
          }
          const output = [...lines, `expected: ${text(step.expected, params)}`, `observed: ${obs.observed}`].join("\n");
          if (!obs.ok) {
            await this.store.setRunStep(runId, n, { status: "failed", output, finished_at: this.at() });
            await this.finish(
              runId,
              "failed",
              `step ${n} (${step.title}): expected ${text(step.expected, params)}, observed ${obs.observed}. Next: ${text(step.onFailure, params)}`,
              {
                owner: this.owner,
              },
            );
            return;
          }
          await next("succeeded", output);
          continue;
        }

        if (step.kind !== "action") throw new Error(`unexpected step kind ${step.kind}`);
        // An action: through the gate, as a request with the same preview.
        let gated: GatedAction;
        try {
          gated = await withTimeout(timeout, controller, () => this.gateAction(run, runbook, n, step, ctx, services, log));
        } catch (err) {
          if (err instanceof LostClaim) throw err;
          await this.store.setRunStep(runId, n, {
            status: "failed",
            output: [...lines, `error: ${(err as Error).message}`].join("\n"),
            finished_at: this.at(),
          });
          await this.finish(
            runId,
            "failed",
            `step ${n} (${step.title}) could not be planned: ${(err as Error).message}. Next: ${text(step.onFailure, params)}`,
            { owner: this.owner },
          );
          return;
        }
        if (gated.assessment.blocked) {
          const output = [...lines, ...gated.assessment.reasons.filter((r) => r.startsWith("policy "))].join("\n");
          await this.store.setRunStep(runId, n, { status: "failed", output, finished_at: this.at() });
          await this.finish(runId, "failed", `step ${n} (${step.title}) is blocked by a mandatory policy. Next: ${text(step.onFailure, params)}`, {
            owner: this.owner,
          });
          return;
        }
        if (!(await this.admitted(run, n, gated))) return;

        // Recorded before it runs: a crash now leaves a step `running`, found at restart.
        await this.store.setRunStep(runId, n, { status: "running", started_at: this.at() });
        try {
          lines.push(await withTimeout(timeout, controller, () => (gated.change ? this.applyChange(run, gated, controller.signal, log) : step.run!(ctx))));
          const obs = await withTimeout(timeout, controller, () => step.verify(ctx));
          lines.push(`verify: ${obs.observed}`);
          if (!obs.ok) throw new Error(`verification failed: ${obs.observed}`);
        } catch (err) {
          if (err instanceof PreviewChangedError && applyRetries < 3) {
            // The engine's guard: what it would apply is not what was admitted. Plan again
            // (and, above the autonomy, approve again).
            applyRetries++;
            await this.store.setRunStep(runId, n, { status: "pending", output: `${err.message}: planned again` });
            await this.store.audit({
              at: this.at(),
              actor: "paved",
              action: "runbook.preview-changed",
              request_id: runId,
              detail: { step: n, reason: err.message },
            });
            continue;
          }
          lines.push(`error: ${(err as Error).message}`);
          if (step.rollback && !lease.aborted) {
            try {
              lines.push(`rollback: ${await this.rollback(run, step, ctx, services, log)}`);
            } catch (rollbackErr) {
              lines.push(`rollback failed: ${(rollbackErr as Error).message}`);
            }
          }
          if (lease.aborted) throw new LostClaim();
          await this.store.setRunStep(runId, n, { status: "failed", output: lines.join("\n"), finished_at: this.at() });
          await this.setRun(runId, { state: JSON.stringify(state) });
          await this.finish(runId, "failed", `step ${n} (${step.title}) failed: ${(err as Error).message}. Next: ${text(step.onFailure, params)}`, {
            owner: this.owner,
          });
          return;
        }
        await this.store.audit({
          at: this.at(),
          actor: "paved",
          action: "runbook.action",
          request_id: runId,
          digest: gated.digest,
          detail: { step: n, title: step.title, reversible: step.reversible },
        });
        applyRetries = 0;
        await next("succeeded", lines.join("\n"));
      } finally {
        lease.removeEventListener("abort", onLease);
      }
    }
  }

  /** Who may see a run and answer it: who started it, the team it acts for, any approver. */
  canSee(person: Person, run: { requested_by: string; team: string | null }): boolean {
    return person.name === run.requested_by || this.gate.canSee(person, run.team);
  }

  private async visible(person: Person, runId: string): Promise<RunRow> {
    const run = await this.store.getRun(runId);
    // Someone who may not see it learns nothing, not even that it exists.
    if (!run || !this.canSee(person, run)) throw new DomainError("not_found", "run_not_found", `there is no runbook run ${runId}`);
    return run;
  }

  /** Answers the manual step or decision the run waits on. */
  async answer(person: Person, runId: string, n: number, answer: string): Promise<RunView> {
    const run = await this.visible(person, runId);
    const step = this.runbook(run.runbook_id).steps[n - 1];
    if (run.status !== "awaiting_answer" || run.current_step !== n || !step) {
      throw new DomainError("conflict", "invalid_state", `run ${runId} is ${run.status} at step ${run.current_step}, not waiting for an answer to step ${n}`);
    }
    const documented = this.runbook(run.runbook_id).level === "documented";
    const options = step.kind === "decision" ? [...step.options] : ["done", "failed"];
    if (!options.includes(answer) || (documented && step.kind !== "decision" && !["done", "failed"].includes(answer))) {
      throw new DomainError("invalid", "invalid_answer", `"${answer}" is not one of ${options.join(", ")}`);
    }
    const answers = { ...(JSON.parse(run.answers) as Record<string, string>), [n]: answer };
    const ok = await this.store.updateRun(
      runId,
      { answers: JSON.stringify(answers), status: "running", lease_owner: this.owner, lease_until: this.leaseUntil(), updated_at: this.at() },
      { from: ["awaiting_answer"] },
    );
    if (!ok) throw new DomainError("conflict", "invalid_state", `run ${runId} is ${(await this.row(runId)).status}: it no longer waits for an answer`);
    await this.store.audit({ at: this.at(), actor: person.name, action: "runbook.answer", request_id: runId, detail: { step: n, answer } });
    this.kick(runId);
    return this.view(runId);
  }

  private async waitingStep(run: RunRow, n: number): Promise<RunStepRow> {
    const step = await this.store.getRunStep(run.id, n);
    if (run.status !== "awaiting_approval" || run.current_step !== n || step?.status !== "awaiting_approval" || !step.approval) {
      throw new DomainError("conflict", "invalid_state", `run ${run.id} is ${run.status} at step ${run.current_step}, not waiting for approval of step ${n}`);
    }
    return step;
  }

  /** Approves the action the run waits on, for the plan digest shown. */
  async approve(person: Person, runId: string, n: number, input: { digest: string; comment?: string }): Promise<RunView> {
    const run = await this.visible(person, runId);
    const step = await this.waitingStep(run, n);
    const subject = this.subject(run, step);
    if (this.gate.expired(subject)) {
      // The plan is too old to approve: plan it again now, so the next approval can count.
      await this.replan(run);
      const fresh = await this.store.getRunStep(runId, n);
      throw new DomainError(
        "conflict",
        "expired",
        `the plan waited longer than the approval expiry: it was planned again${fresh?.status === "awaiting_approval" ? `; approve digest ${fresh.digest} after reviewing it` : ""}`,
      );
    }
    this.gate.checkApprover(person, subject, input.digest, await this.given(runId, n, step.approval_floor));
    const at = this.at();
    await this.store.addRunApproval({ run_id: runId, n, by: person.name, at, digest: input.digest, comment: input.comment ?? null });
    await this.store.audit({ at, actor: person.name, action: "runbook.approve", request_id: runId, digest: input.digest, detail: { step: n } });
    if (this.gate.count(subject, await this.given(runId, n, step.approval_floor)).satisfied) {
      const ok = await this.store.updateRun(
        runId,
        { status: "running", lease_owner: this.owner, lease_until: this.leaseUntil(), updated_at: this.at() },
        { from: ["awaiting_approval"] },
      );
      if (ok) this.kick(runId);
    }
    return this.view(runId);
  }

  /** Sends a waiting run back to planning its step (an expired wait). */
  private async replan(run: RunRow): Promise<void> {
    const ok = await this.store.updateRun(
      run.id,
      { status: "running", lease_owner: this.owner, lease_until: this.leaseUntil(), updated_at: this.at() },
      { from: ["awaiting_approval"] },
    );
    if (ok) {
      this.kick(run.id);
      await this.settle(run.id);
    }
  }

  async reject(person: Person, runId: string, n: number, reason: string): Promise<RunView> {
    const run = await this.visible(person, runId);
    const step = await this.waitingStep(run, n);
    this.gate.checkRejecter(person, this.subject(run, step));
    if (!(await this.finish(runId, "rejected", `step ${n} rejected by ${person.name}: ${reason}`, { from: ["awaiting_approval"] }))) {
      throw new DomainError("conflict", "invalid_state", `run ${runId} no longer waits for approval of step ${n}`);
    }
    await this.store.setRunStep(runId, n, { status: "failed", output: `rejected by ${person.name}: ${reason}`, finished_at: this.at() });
    await this.store.audit({ at: this.at(), actor: person.name, action: "runbook.reject", request_id: runId, detail: { step: n, reason } });
    return this.view(runId);
  }

  async cancel(person: Person, runId: string): Promise<RunView> {
    const run = await this.visible(person, runId);
    if (person.name !== run.requested_by) throw new DomainError("forbidden", "not_requester", "only the person who started the run can cancel it");
    if (!(await this.finish(runId, "cancelled", `cancelled by ${person.name}`, { from: ["awaiting_answer", "awaiting_approval"] }))) {
      throw new DomainError("conflict", "invalid_state", `run ${runId} is ${(await this.row(runId)).status}: only a run waiting for a person can be cancelled`);
    }
    return this.view(runId);
  }

  /**
   * Goes on with a run: one whose replica died is taken over (see `recover`), and a step
   * whose approval wait expired is planned again, so it can be approved afresh.
   */
  async resume(person: Person, runId: string): Promise<RunView> {
    const run = await this.visible(person, runId);
    if (run.status === "awaiting_approval") {
      const step = await this.store.getRunStep(runId, run.current_step);
      if (step?.approval && this.gate.expired(this.subject(run, step))) await this.replan(run);
    } else if (run.status === "running") {
      await this.recoverRun(run);
    }
    return this.settle(runId);
  }

  private async recoverRun(run: RunRow): Promise<"resumed" | "interrupted" | undefined> {
    if (this.inFlight.has(run.id)) return undefined;
    if (!(await this.store.claimRun(run.id, this.owner, this.at(), this.leaseUntil()))) return undefined;
    const step = this.runbook(run.runbook_id).steps[run.current_step - 1];
    const row = await this.store.getRunStep(run.id, run.current_step);
    if (row?.status === "running" && step?.kind === "action" && !step.reversible) {
      await this.store.setRunStep(run.id, run.current_step, {
        status: "interrupted",
        output: "the service stopped while this step ran",
        finished_at: this.at(),
      });
      await this.finish(
        run.id,
        "failed",
        `step ${run.current_step} (${step.title}) was in flight when the service stopped; it is irreversible, so it is not run again: check what it did (the recover-stuck-stack runbook diagnoses the stack) before starting a new run`,
        { owner: this.owner },
      );
      return "interrupted";
    }
    if (row?.status === "running") await this.store.setRunStep(run.id, run.current_step, { status: "pending", output: "in flight at a restart: run again" });
    this.kick(run.id);
    return "resumed";
  }

  /**
   * At start-up, and periodically: runs that are `running` with no live holder (their
   * replica died) go on here. A check or a reversible action that was in flight runs again
   * (planned and gated afresh); an irreversible one is reported and the run fails, for a
   * person to look at the stack. Runs a live replica holds are left alone.
   */
  async recover(): Promise<{ resumed: string[]; interrupted: string[] }> {
    const resumed: string[] = [];
    const interrupted: string[] = [];
    for (const run of await this.store.orphanedRuns(this.at())) {
      const outcome = await this.recoverRun(run);
      if (outcome === "resumed") resumed.push(run.id);
      if (outcome === "interrupted") interrupted.push(run.id);
    }
    return { resumed, interrupted };
  }

  /** The run, for someone who may see it (anyone else learns nothing, not even that it exists). */
  async viewFor(person: Person, runId: string): Promise<RunView> {
    await this.visible(person, runId);
    return this.view(runId);
  }

  async view(runId: string): Promise<RunView> {
    const run = await this.row(runId);
    const runbook = this.runbook(run.runbook_id);
    const params = JSON.parse(run.params) as Record<string, unknown>;
    const rows = await this.store.runSteps(runId);
    const approvals = await this.store.runApprovals(runId);
    const steps: StepView[] = runbook.steps.map((s, i) => {
      const n = i + 1;
      const row = rows.find((r) => r.n === n);
      let awaiting: StepView["awaiting"];
      if (row?.status === "awaiting_answer") {
        awaiting = {
          answer: {
            question: s.kind === "decision" ? text(s.question, params)! : s.kind === "manual" ? text(s.instructions, params)! : `Did you complete: ${s.title}?`,
            options: s.kind === "decision" ? [...s.options] : ["done", "failed"],
          },
        };
      } else if (row?.status === "awaiting_approval" && row.approval) {
        const a = JSON.parse(row.approval) as ApprovalRecord;
        const given = approvals.filter((x) => x.n === n && x.id > row.approval_floor);
        const progress = this.gate.progress(this.subject(run, row), given).summary;
        awaiting = { approval: { digest: row.digest!, risk: a.risk, reasons: a.reasons ?? [], requiredApprovals: a.requirement, progress, plan: a.plan } };
      }
      return {
        n,
        title: s.title,
        kind: s.kind,
        ...(s.kind === "action" ? { reversible: s.reversible } : {}),
        status: row?.status ?? "pending",
        output: row?.output ?? null,
        ...(awaiting ? { awaiting } : {}),
        approvals: approvals.filter((a) => a.n === n).map((a) => ({ by: a.by, at: a.at, digest: a.digest, comment: a.comment })),
        startedAt: row?.started_at ?? null,
        finishedAt: row?.finished_at ?? null,
      };
    });
    return {
      id: run.id,
      runbook: run.runbook_id,
      title: runbook.title,
      level: runbook.level,
      params,
      requestedBy: run.requested_by,
      status: run.status as RunStatus,
      dryRun: run.dry_run === 1,
      currentStep: run.current_step,
      engine: this.workflow.engine.name,
      steps,
      error: run.error,
      createdAt: run.created_at,
      updatedAt: run.updated_at,
    };
  }
}
