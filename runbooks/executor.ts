/**
 * Runs runbooks, step by step, persisting each step before and after it runs, so a run
 * resumes after a restart. Checks and reversible actions run on their own; manual steps
 * and decisions wait for a person's answer; an irreversible action waits for approval,
 * with the same rules as requests (risk level -> approvals needed, the requester never
 * counts, each person once, approvals bound to the plan's digest and expiring), and is
 * planned again right before it runs. A step that was in flight at a crash is reported;
 * an irreversible one is never silently run again.
 */
import { createHash, randomUUID } from "node:crypto";
import { canonicalJson } from "../automation/digest";
import type { Person } from "../automation/config";
import {
  ApprovalRequirement,
  checkApprovals,
  classifyPreview,
  describeRequirement,
  requiredApprovals,
  RiskLevel,
} from "../automation/risk";
import type { Workflow } from "../automation/workflow";
import { WorkflowError } from "../automation/workflow";
import { describeZodIssue, formatPath } from "../stacks/spec";
import type { Environment } from "../components/guardrails";
import { ActionPlan, DEFAULT_STEP_TIMEOUT_MS, Runbook, Step, StepContext, text } from "./model";

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
    | { approval: { digest: string; risk: RiskLevel; requiredApprovals: ApprovalRequirement & { description: string }; plan: string[] } };
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

interface ApprovalRecord {
  risk: RiskLevel;
  requirement: ApprovalRequirement & { description: string };
  plan: string[];
}

/** An operation that did not finish within the step's timeout. */
class StepTimeout extends Error {}

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

export class RunbookExecutor {
  private readonly byId: Map<string, Runbook>;
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(
    readonly workflow: Workflow,
    runbooks: readonly Runbook[],
    private readonly now: () => Date = () => new Date(),
  ) {
    this.byId = new Map(runbooks.map((r) => [r.id, r]));
  }

  private get db() {
    return this.workflow.store.db;
  }

  private at(): string {
    return this.now().toISOString();
  }

  list(): Runbook[] {
    return [...this.byId.values()];
  }

  runbook(id: string): Runbook {
    const r = this.byId.get(id);
    if (!r) throw new WorkflowError(404, "runbook_not_found", `there is no runbook ${id}; the runbooks are: ${[...this.byId.keys()].join(", ")}`);
    return r;
  }

  /** Starts a run; its steps go on in the background (`settle` waits for them). */
  async start(person: Person, runbookId: string, rawParams: unknown, options: { dryRun?: boolean } = {}): Promise<RunView> {
    const runbook = this.runbook(runbookId);
    const parsed = runbook.params.safeParse(rawParams ?? {}, { reportInput: true });
    if (!parsed.success) {
      throw new WorkflowError(
        400,
        "invalid_params",
        `the params are not valid for runbook ${runbookId}`,
        parsed.error.issues.flatMap(describeZodIssue).map((i) => ({ path: formatPath(["params", ...i.path]), message: i.message })),
      );
    }
    const params = parsed.data as Record<string, unknown>;
    if (typeof params.team === "string" && !person.teams.includes(params.team) && person.groups.length === 0) {
      throw new WorkflowError(403, "not_a_team_member", `${person.name} is not a member of team ${params.team}`);
    }
    const id = `run_${randomUUID()}`;
    const at = this.at();
    await this.db
      .insertInto("runbook_runs")
      .values({
        id,
        runbook_id: runbookId,
        team: typeof params.team === "string" ? params.team : null,
        params: JSON.stringify(params),
        requested_by: person.name,
        status: "running",
        current_step: 1,
        dry_run: options.dryRun ? 1 : 0,
        state: "{}",
        answers: "{}",
        error: null,
        created_at: at,
        updated_at: at,
      })
      .execute();
    await this.workflow.store.audit({ at, actor: person.name, action: options.dryRun ? "runbook.dry-run" : "runbook.start", request_id: id, detail: { runbook: runbookId, params } });
    this.kick(id);
    return this.view(id);
  }

  /** Waits, at most `graceMs`, for every run's background work to stop (shutdown). */
  async idle(graceMs = 30_000): Promise<void> {
    const all = Promise.all([...this.inFlight.values()]);
    await Promise.race([all, new Promise((r) => setTimeout(r, graceMs).unref())]);
  }

  /** Waits until the run's background work stops (finished, or waiting for a person). */
  async settle(runId: string): Promise<RunView> {
    while (this.inFlight.has(runId)) await this.inFlight.get(runId);
    return this.view(runId);
  }

  private kick(runId: string): void {
    if (this.inFlight.has(runId)) return;
    const p = this.advance(runId)
      .catch(async (err: Error) => {
        this.workflow.log.error({ requestId: runId, err }, "runbook run failed");
        await this.finish(runId, "failed", `internal error: ${err.message}`).catch(() => undefined);
      })
      .finally(() => this.inFlight.delete(runId));
    this.inFlight.set(runId, p);
  }

  private async row(runId: string) {
    const row = await this.db.selectFrom("runbook_runs").selectAll().where("id", "=", runId).executeTakeFirst();
    if (!row) throw new WorkflowError(404, "run_not_found", `there is no runbook run ${runId}`);
    return row;
  }

  private async stepRow(runId: string, n: number) {
    return this.db.selectFrom("runbook_steps").selectAll().where("run_id", "=", runId).where("n", "=", n).executeTakeFirst();
  }

  private async setStep(runId: string, n: number, patch: Partial<{ status: string; output: string | null; digest: string | null; approval: string | null; awaiting_since: string | null; started_at: string | null; finished_at: string | null }>) {
    const existing = await this.stepRow(runId, n);
    if (existing) {
      await this.db.updateTable("runbook_steps").set(patch).where("run_id", "=", runId).where("n", "=", n).execute();
    } else {
      await this.db
        .insertInto("runbook_steps")
        .values({ run_id: runId, n, status: "pending", output: null, digest: null, approval: null, awaiting_since: null, started_at: null, finished_at: null, ...patch })
        .execute();
    }
  }

  private async setRun(runId: string, patch: Partial<{ status: string; current_step: number; state: string; answers: string; error: string | null }>) {
    await this.db.updateTable("runbook_runs").set({ ...patch, updated_at: this.at() }).where("id", "=", runId).execute();
  }

  private async finish(runId: string, status: RunStatus, error: string | null): Promise<void> {
    await this.setRun(runId, { status, error });
    await this.workflow.store.audit({ at: this.at(), actor: "paved", action: `runbook.${status}`, request_id: runId, detail: error ? { error } : undefined });
  }

  private context(run: Awaited<ReturnType<RunbookExecutor["row"]>>, state: Record<string, unknown>, signal: AbortSignal, outputLines: string[]): StepContext<any> {
    return {
      params: JSON.parse(run.params),
      runId: run.id,
      answers: JSON.parse(run.answers),
      state,
      workflow: this.workflow,
      store: this.workflow.store,
      engine: this.workflow.engine,
      config: this.workflow.config,
      actor: run.requested_by,
      now: this.now,
      log: (line) => outputLines.push(line),
      signal,
    };
  }

  /** The digest of an action's plan: the engine's digest when there is one, else the plan's text. */
  planDigest(runbookId: string, n: number, params: unknown, plan: ActionPlan): string {
    if (plan.digest) return plan.digest;
    return `sha256:${createHash("sha256").update(canonicalJson({ runbook: runbookId, step: n, params, plan: plan.description })).digest("hex")}`;
  }

  private approvalFor(plan: ActionPlan, step: Extract<Step<unknown>, { kind: "action" }>, params: Record<string, unknown>): ApprovalRecord {
    const environment = (typeof params.environment === "string" ? params.environment : "prod") as Environment;
    const risk: RiskLevel = plan.steps && plan.steps.length > 0 ? classifyPreview(plan.steps, environment).level : (step.risk ?? "high");
    // Irreversible: a person always approves, whatever the team's autonomy.
    const requirement = requiredApprovals(risk, { autonomy: "none", rules: this.workflow.config.rules });
    return { risk, requirement: { ...requirement, description: describeRequirement(requirement) }, plan: plan.description };
  }

  /** Runs steps until the run ends or waits for a person. */
  private async advance(runId: string): Promise<void> {
    for (;;) {
      const run = await this.row(runId);
      if (run.status !== "running") return;
      const runbook = this.runbook(run.runbook_id);
      const n = run.current_step;
      const step = runbook.steps[n - 1];
      if (!step) {
        await this.finish(runId, "succeeded", null);
        return;
      }
      const params = JSON.parse(run.params) as Record<string, unknown>;
      const answers = JSON.parse(run.answers) as Record<string, string>;
      const state = JSON.parse(run.state) as Record<string, unknown>;
      const dryRun = run.dry_run === 1;
      const documented = runbook.level === "documented";
      const next = async (status: string, output: string) => {
        await this.setStep(runId, n, { status, output, finished_at: this.at() });
        await this.setRun(runId, { current_step: n + 1, state: JSON.stringify(state) });
      };

      // Steps a person answers: manual steps, decisions, and every step of a documented runbook.
      if (!dryRun && (step.kind === "manual" || step.kind === "decision" || documented)) {
        const answer = answers[n];
        if (answer === undefined) {
          await this.setStep(runId, n, { status: "awaiting_answer", started_at: this.at(), awaiting_since: this.at() });
          await this.setRun(runId, { status: "awaiting_answer" });
          return;
        }
        if (step.kind === "decision") {
          if (step.stopOn?.includes(answer)) {
            await this.setStep(runId, n, { status: "succeeded", output: `answered "${answer}": the run stops here`, finished_at: this.at() });
            await this.finish(runId, "succeeded", null);
            return;
          }
          await next("succeeded", `answered "${answer}"`);
        } else if (answer === "failed") {
          await this.setStep(runId, n, { status: "failed", output: "reported as failed", finished_at: this.at() });
          await this.finish(runId, "failed", `step ${n} (${step.title}) failed. Next: ${text(step.onFailure, params)}`);
          return;
        } else {
          await next("succeeded", "confirmed done");
        }
        continue;
      }

      if (dryRun && step.kind !== "check") {
        const what = step.kind === "action" ? `would ${text(step.description, params)}${step.reversible ? "" : " (irreversible: waits for approval)"}` : step.kind === "decision" ? `would ask: ${text(step.question, params)}` : `would ask a person to: ${text(step.instructions, params)}`;
        await next("skipped", `dry run: ${what}`);
        continue;
      }

      const lines: string[] = [];
      const controller = new AbortController();
      const ctx = this.context(run, state, controller.signal, lines);
      const timeout = step.timeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;

      if (step.kind === "check") {
        await this.setStep(runId, n, { status: "running", started_at: this.at() });
        let obs;
        try {
          obs = await withTimeout(timeout, controller, () => step.run(ctx));
        } catch (err) {
          obs = { ok: false, observed: `error: ${(err as Error).message}` };
        }
        const output = [...lines, `expected: ${text(step.expected, params)}`, `observed: ${obs.observed}`].join("\n");
        if (!obs.ok) {
          await this.setStep(runId, n, { status: "failed", output, finished_at: this.at() });
          await this.finish(runId, "failed", `step ${n} (${step.title}): expected ${text(step.expected, params)}, observed ${obs.observed}. Next: ${text(step.onFailure, params)}`);
          return;
        }
        await next("succeeded", output);
        continue;
      }

      // An action.
      if (step.kind !== "action") throw new Error(`unexpected step kind ${step.kind}`);
      if (!step.reversible) {
        const plan = await step.plan!(ctx);
        const digest = this.planDigest(runbook.id, n, params, plan);
        const current = await this.stepRow(runId, n);
        const approval = this.approvalFor(plan, step, params);
        const approvals = await this.db.selectFrom("runbook_approvals").selectAll().where("run_id", "=", runId).where("n", "=", n).execute();
        const check = checkApprovals(approval.requirement, approvals, {
          requester: run.requested_by,
          digest,
          now: this.now(),
          expiryMs: this.workflow.config.expiryMs,
          groupsOf: (p) => this.workflow.config.groupsOf(p),
        });
        if (!check.satisfied) {
          const changed = current?.digest && current.digest !== digest;
          await this.setStep(runId, n, {
            status: "awaiting_approval",
            digest,
            approval: JSON.stringify(approval),
            awaiting_since: this.at(),
            started_at: current?.started_at ?? this.at(),
            output: changed ? `the plan changed since it was approved: approve the new plan` : null,
          });
          await this.setRun(runId, { status: "awaiting_approval" });
          await this.workflow.store.audit({ at: this.at(), actor: "paved", action: changed ? "runbook.plan-changed" : "runbook.awaiting-approval", request_id: runId, digest, detail: { step: n, risk: approval.risk, needs: approval.requirement.description } });
          return;
        }
      }
      // Recorded before it runs: a crash now leaves a step `running`, found at restart.
      await this.setStep(runId, n, { status: "running", started_at: this.at() });
      try {
        lines.push(await withTimeout(timeout, controller, () => step.run(ctx)));
        const obs = await withTimeout(timeout, controller, () => step.verify(ctx));
        lines.push(`verify: ${obs.observed}`);
        if (!obs.ok) throw new Error(`verification failed: ${obs.observed}`);
      } catch (err) {
        lines.push(`error: ${(err as Error).message}`);
        if (step.rollback) {
          try {
            lines.push(`rollback: ${await step.rollback(ctx)}`);
          } catch (rollbackErr) {
            lines.push(`rollback failed: ${(rollbackErr as Error).message}`);
          }
        }
        await this.setStep(runId, n, { status: "failed", output: lines.join("\n"), finished_at: this.at() });
        await this.setRun(runId, { state: JSON.stringify(state) });
        await this.finish(runId, "failed", `step ${n} (${step.title}) failed: ${(err as Error).message}. Next: ${text(step.onFailure, params)}`);
        return;
      }
      await this.workflow.store.audit({ at: this.at(), actor: "paved", action: "runbook.action", request_id: runId, detail: { step: n, title: step.title, reversible: step.reversible } });
      await next("succeeded", lines.join("\n"));
    }
  }

  /** Who may see a run and answer it: who started it, the team it acts for, any approver. */
  canSee(person: Person, run: { requested_by: string; params: string }): boolean {
    const team = (JSON.parse(run.params) as { team?: string }).team;
    return person.name === run.requested_by || person.groups.length > 0 || (team !== undefined && person.teams.includes(team));
  }

  /** Answers the manual step or decision the run waits on. */
  async answer(person: Person, runId: string, n: number, answer: string): Promise<RunView> {
    const run = await this.row(runId);
    if (!this.canSee(person, run)) throw new WorkflowError(404, "run_not_found", `there is no runbook run ${runId}`);
    const step = this.runbook(run.runbook_id).steps[n - 1];
    if (run.status !== "awaiting_answer" || run.current_step !== n || !step) {
      throw new WorkflowError(409, "invalid_state", `run ${runId} is ${run.status} at step ${run.current_step}, not waiting for an answer to step ${n}`);
    }
    const documented = this.runbook(run.runbook_id).level === "documented";
    const options = step.kind === "decision" ? [...step.options] : ["done", "failed"];
    if (!options.includes(answer) || (documented && step.kind !== "decision" && !["done", "failed"].includes(answer))) {
      throw new WorkflowError(400, "invalid_answer", `"${answer}" is not one of ${options.join(", ")}`);
    }
    const answers = { ...(JSON.parse(run.answers) as Record<string, string>), [n]: answer };
    await this.setRun(runId, { answers: JSON.stringify(answers), status: "running" });
    await this.workflow.store.audit({ at: this.at(), actor: person.name, action: "runbook.answer", request_id: runId, detail: { step: n, answer } });
    this.kick(runId);
    return this.view(runId);
  }

  /** Approves the irreversible action the run waits on, for the plan digest shown. */
  async approve(person: Person, runId: string, n: number, input: { digest: string; comment?: string }): Promise<RunView> {
    const run = await this.row(runId);
    if (!this.canSee(person, run)) throw new WorkflowError(404, "run_not_found", `there is no runbook run ${runId}`);
    const step = await this.stepRow(runId, n);
    if (run.status !== "awaiting_approval" || run.current_step !== n || step?.status !== "awaiting_approval") {
      throw new WorkflowError(409, "invalid_state", `run ${runId} is ${run.status} at step ${run.current_step}, not waiting for approval of step ${n}`);
    }
    if (person.name === run.requested_by) throw new WorkflowError(403, "self_approval", "the person who started the run cannot approve its steps");
    const approval = JSON.parse(step.approval!) as ApprovalRecord;
    if (approval.requirement.group && !person.groups.includes(approval.requirement.group)) {
      throw new WorkflowError(403, "not_an_approver", `a ${approval.risk}-risk step needs approval from ${approval.requirement.group}, and ${person.name} is not in it`);
    }
    if (input.digest !== step.digest) throw new WorkflowError(409, "stale_digest", `the plan changed: approve digest ${step.digest} after reviewing it`);
    if (this.now().getTime() - new Date(step.awaiting_since!).getTime() > this.workflow.config.expiryMs) {
      throw new WorkflowError(409, "expired", "the plan is older than the approval expiry: answer again after a fresh plan (resume the run)");
    }
    const earlier = await this.db.selectFrom("runbook_approvals").selectAll().where("run_id", "=", runId).where("n", "=", n).execute();
    if (earlier.some((a) => a.by === person.name && a.digest === input.digest)) throw new WorkflowError(409, "already_approved", `${person.name} already approved this plan`);
    const at = this.at();
    await this.db.insertInto("runbook_approvals").values({ run_id: runId, n, by: person.name, at, digest: input.digest, comment: input.comment ?? null }).execute();
    await this.workflow.store.audit({ at, actor: person.name, action: "runbook.approve", request_id: runId, digest: input.digest, detail: { step: n } });
    const all = [...earlier, { by: person.name, at, digest: input.digest }];
    const check = checkApprovals(approval.requirement, all, { requester: run.requested_by, digest: step.digest!, now: this.now(), expiryMs: this.workflow.config.expiryMs, groupsOf: (p) => this.workflow.config.groupsOf(p) });
    if (check.satisfied) {
      await this.setRun(runId, { status: "running" });
      this.kick(runId);
    }
    return this.view(runId);
  }

  async reject(person: Person, runId: string, n: number, reason: string): Promise<RunView> {
    const run = await this.row(runId);
    if (!this.canSee(person, run)) throw new WorkflowError(404, "run_not_found", `there is no runbook run ${runId}`);
    if (run.status !== "awaiting_approval" || run.current_step !== n) throw new WorkflowError(409, "invalid_state", `run ${runId} is not waiting for approval of step ${n}`);
    if (person.name === run.requested_by) throw new WorkflowError(403, "self_rejection", "the person who started the run cancels it instead");
    const step = await this.stepRow(runId, n);
    const approval = step?.approval ? (JSON.parse(step.approval) as ApprovalRecord) : undefined;
    if (approval?.requirement.group && !person.groups.includes(approval.requirement.group)) {
      throw new WorkflowError(403, "not_an_approver", `a ${approval.risk}-risk step is decided by ${approval.requirement.group}, and ${person.name} is not in it`);
    }
    await this.setStep(runId, n, { status: "failed", output: `rejected by ${person.name}: ${reason}`, finished_at: this.at() });
    await this.workflow.store.audit({ at: this.at(), actor: person.name, action: "runbook.reject", request_id: runId, detail: { step: n, reason } });
    await this.finish(runId, "rejected", `step ${n} rejected by ${person.name}: ${reason}`);
    return this.view(runId);
  }

  async cancel(person: Person, runId: string): Promise<RunView> {
    const run = await this.row(runId);
    if (person.name !== run.requested_by) throw new WorkflowError(403, "not_requester", "only the person who started the run can cancel it");
    if (!["awaiting_answer", "awaiting_approval"].includes(run.status)) throw new WorkflowError(409, "invalid_state", `run ${runId} is ${run.status}: only a run waiting for a person can be cancelled`);
    await this.finish(runId, "cancelled", `cancelled by ${person.name}`);
    return this.view(runId);
  }

  /**
   * After a restart: runs that were `running` go on. A check or a reversible action that
   * was in flight runs again; an irreversible one is reported and the run fails, for a
   * person to look at the stack (never run twice without them).
   */
  async recover(): Promise<{ resumed: string[]; interrupted: string[] }> {
    const runs = await this.db.selectFrom("runbook_runs").selectAll().where("status", "=", "running").execute();
    const resumed: string[] = [];
    const interrupted: string[] = [];
    for (const run of runs) {
      if (this.inFlight.has(run.id)) continue;
      const step = this.runbook(run.runbook_id).steps[run.current_step - 1];
      const row = await this.stepRow(run.id, run.current_step);
      if (row?.status === "running" && step?.kind === "action" && !step.reversible) {
        await this.setStep(run.id, run.current_step, { status: "interrupted", output: "the service stopped while this step ran", finished_at: this.at() });
        await this.finish(
          run.id,
          "failed",
          `step ${run.current_step} (${step.title}) was in flight when the service stopped; it is irreversible, so it is not run again: check what it did (the recover-stuck-stack runbook diagnoses the stack) before starting a new run`,
        );
        interrupted.push(run.id);
        continue;
      }
      if (row?.status === "running") await this.setStep(run.id, run.current_step, { status: "pending", output: "in flight at a restart: run again" });
      resumed.push(run.id);
      this.kick(run.id);
    }
    return { resumed, interrupted };
  }

  /** The run, for someone who may see it (anyone else learns nothing, not even that it exists). */
  async viewFor(person: Person, runId: string): Promise<RunView> {
    if (!this.canSee(person, await this.row(runId))) throw new WorkflowError(404, "run_not_found", `there is no runbook run ${runId}`);
    return this.view(runId);
  }

  async view(runId: string): Promise<RunView> {
    const run = await this.row(runId);
    const runbook = this.runbook(run.runbook_id);
    const params = JSON.parse(run.params) as Record<string, unknown>;
    const rows = await this.db.selectFrom("runbook_steps").selectAll().where("run_id", "=", runId).execute();
    const approvals = await this.db.selectFrom("runbook_approvals").selectAll().where("run_id", "=", runId).orderBy("id").execute();
    const steps: StepView[] = runbook.steps.map((s, i) => {
      const n = i + 1;
      const row = rows.find((r) => r.n === n);
      let awaiting: StepView["awaiting"];
      if (row?.status === "awaiting_answer") {
        awaiting = { answer: { question: s.kind === "decision" ? text(s.question, params)! : s.kind === "manual" ? text(s.instructions, params)! : `Did you complete: ${s.title}?`, options: s.kind === "decision" ? [...s.options] : ["done", "failed"] } };
      } else if (row?.status === "awaiting_approval" && row.approval) {
        const a = JSON.parse(row.approval) as ApprovalRecord;
        awaiting = { approval: { digest: row.digest!, risk: a.risk, requiredApprovals: a.requirement, plan: a.plan } };
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
