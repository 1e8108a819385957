/**
 * Runbooks as code. A runbook is a list of steps with strict params; its level says who
 * does the work:
 *
 * - `documented`: every step is done by a human, following the generated document;
 * - `scripted`: the steps run as code, a human triggers and watches, answers decisions and
 *   confirms manual steps, and approves irreversible actions.
 *
 * Step kinds: `manual` (instructions, the exact command, the expected output), `check`
 * (read-only, compared with the expected result), `action` (changes something through the
 * engine or the store, `reversible` or not, with a `verify` and an optional `rollback`),
 * `decision` (a question only a human answers).
 *
 * This folder holds the runbooks as code and the interface their steps may call; the
 * machinery that runs them (executor, gate, engines, store) is in `automation/`.
 */
import { z } from "zod";
import type { Environment } from "../components/guardrails";

export type RunbookLevel = "documented" | "scripted";

/** Text that may depend on the params. */
export type Text<P> = string | ((params: P) => string);

/** A risk level, as the gate's classifier names them. */
export type RiskLevel = "low" | "medium" | "high" | "critical";

/** An instance, as a team names it. */
export interface InstanceRef {
  team: string;
  environment: Environment;
  name: string;
}

/** A live instance of the team. */
export interface Instance extends InstanceRef {
  /** Its Pulumi stack. */
  stack: string;
  offering: string;
  params: Record<string, unknown>;
  outputs: Record<string, unknown>;
  /** `active`, or `interrupted`: a create cut off mid-apply, to be refreshed. */
  status: "active" | "interrupted";
  /** An interrupted operation left it to be refreshed. */
  needsRefresh: boolean;
}

/**
 * A change to an instance, as a request would make it. A step never applies it itself:
 * the executor previews it, gates it by its risk exactly as it gates a request with the
 * same preview, and applies what was approved.
 */
export interface Change {
  ref: InstanceRef;
  offering: string;
  params: Record<string, unknown>;
  action: "create" | "update" | "destroy";
}

/**
 * What step code may call: reads of the team's own instances and stacks, and the few
 * operations that change no resource (cancel a stuck update, refresh the state), which run
 * only from an action's `run`, behind the action's gate. Nothing here changes a resource:
 * that takes a `Change`.
 */
export interface StepServices {
  /** The engine's name (`simulate` or `pulumi`). */
  readonly engine: string;
  /** The team's live (active or interrupted) instance `ref`; undefined when there is none (another team's never matches). */
  instance(ref: InstanceRef): Promise<Instance | undefined>;
  /** The team's live instances, in one environment when given. */
  instances(team: string, environment?: Environment): Promise<Instance[]>;
  /** The request still in flight on the instance, if any. */
  requestInFlight(ref: InstanceRef): Promise<{ id: string; status: string } | undefined>;
  /** The resources in the instance's state, when the engine keeps it in the store (simulate); else undefined. */
  stateResources(ref: InstanceRef): Promise<{ type: string; inputs: Record<string, unknown> }[] | undefined>;
  /** The instance stack's state, read only. */
  inspect(ref: InstanceRef): Promise<{ resources: number; pendingOperations: string[] }>;
  /** Jobs running on the instance's stack, and whether their lease ran out (their replica died). */
  stackJobs(ref: InstanceRef): Promise<{ id: number; expired: boolean }[]>;
  /** Marks jobs whose replica died as interrupted (requests `failed`, stacks flagged); how many. */
  interruptDeadJobs(): Promise<number>;
  /** Cancels an update still holding the stack's lock (`pulumi cancel`). */
  cancelUpdate(ref: InstanceRef): Promise<{ cancelled: boolean }>;
  /** Reads the resources back into the state and clears the refresh flag (`pulumi refresh`). */
  refresh(ref: InstanceRef): Promise<{ pendingCleared: number }>;
}

/** What a step's code gets. */
export interface StepContext<P> {
  params: P;
  runId: string;
  /** Answers given so far, by step number (1-based). */
  answers: Record<number, string>;
  /** Values earlier steps kept for later ones (persisted with the run). */
  state: Record<string, unknown>;
  /** Reads, and the operations that change no resource. */
  paved: StepServices;
  /** The person who started the run. */
  actor: string;
  now(): Date;
  /** A progress line for the run's record. */
  log(line: string): void;
  signal: AbortSignal;
}

/** What a check or a verify observed, compared with what was expected. */
export interface Observation {
  ok: boolean;
  observed: string;
}

interface StepBase<P> {
  title: string;
  /** Longest the step may take. Default 5 minutes. */
  timeoutMs?: number;
  /** What to do when the step fails. */
  onFailure: Text<P>;
}

export interface ManualStep<P> extends StepBase<P> {
  kind: "manual";
  instructions: Text<P>;
  /** The exact command to run. */
  command?: Text<P>;
  /** What the command prints when all is well. */
  expected?: Text<P>;
}

export interface CheckStep<P> extends StepBase<P> {
  kind: "check";
  description: Text<P>;
  /** The result that lets the run go on. */
  expected: Text<P>;
  /** For a documented runbook, the command a human runs instead. */
  command?: Text<P>;
  run(ctx: StepContext<P>): Promise<Observation>;
}

/** What a `run` action will do, for its approval. */
export interface ActionPlan {
  /** Lines a reviewer reads. */
  description: string[];
}

/**
 * An action changes something. Two kinds:
 *
 * - `change`: a change to an instance through the engine. The executor previews it and
 *   gates it by the preview's risk, the team's autonomy and `approvals.rules`, exactly as a
 *   request with the same preview; it applies only the approved preview (a different one
 *   goes back for approval) and records the instance. A runbook can do nothing with it that
 *   a request could not.
 * - `run` with a `plan`: work that changes no resource (cancel a stuck update, refresh the
 *   state), gated by the declared `risk` the same way.
 *
 * `reversible: false` raises the gate (a person always approves, whatever the team's
 * autonomy); nothing lowers it.
 */
export interface ActionStep<P> extends StepBase<P> {
  kind: "action";
  description: Text<P>;
  /** False: the step cannot be undone, so a person approves it even within the team's autonomy. */
  reversible: boolean;
  /** For a documented runbook, the command a human runs instead. */
  command?: Text<P>;
  /** The change to an instance this action makes (exclusive with `run`). */
  change?(ctx: StepContext<P>): Promise<Change>;
  /** What a `run` action will do: approvals bind to its digest; it is planned again before it runs. */
  plan?(ctx: StepContext<P>): Promise<ActionPlan>;
  /** The risk of a `run` action (prod raises it one level, as for any change). Default `high`. */
  risk?: RiskLevel;
  /** Work that changes no resource (exclusive with `change`). */
  run?(ctx: StepContext<P>): Promise<string>;
  verify(ctx: StepContext<P>): Promise<Observation>;
  /**
   * Undoes the step when its verify fails. A `Change` is previewed and gated like the step:
   * applied only when its preview needs no approval; otherwise the run says what to
   * request. A `run` action may instead undo its own work and describe it (a string).
   */
  rollback?(ctx: StepContext<P>): Promise<Change | string>;
}

export interface DecisionStep<P> extends StepBase<P> {
  kind: "decision";
  question: Text<P>;
  /** The answers allowed; the first that is not `stop` goes on. */
  options: readonly string[];
  /** Answers that end the run, successfully, here. Default none. */
  stopOn?: readonly string[];
}

export type Step<P> = ManualStep<P> | CheckStep<P> | ActionStep<P> | DecisionStep<P>;

export interface Runbook<P = any> {
  id: string;
  title: string;
  summary: string;
  level: RunbookLevel;
  params: z.ZodType<P>;
  steps: readonly Step<P>[];
}

/** What a runbook id looks like. */
export const RUNBOOK_ID = /^[a-z][a-z0-9-]{2,62}$/;

/** Validates a definition (ids, step titles, decision options) and returns it typed. */
export function defineRunbook<S extends z.ZodType>(definition: {
  id: string;
  title: string;
  summary: string;
  level: RunbookLevel;
  params: S;
  steps: readonly Step<z.output<S>>[];
}): Runbook<z.output<S>> {
  if (!RUNBOOK_ID.test(definition.id)) throw new Error(`runbook id "${definition.id}" must match ${RUNBOOK_ID.source}`);
  if (definition.steps.length === 0) throw new Error(`runbook ${definition.id} has no steps`);
  definition.steps.forEach((s, i) => {
    if (!s.title.trim()) throw new Error(`runbook ${definition.id} step ${i + 1} has no title`);
    if (s.kind === "decision" && s.options.length < 2) throw new Error(`runbook ${definition.id} step ${i + 1}: a decision needs at least two options`);
    if (s.kind === "action" && Boolean(s.change) === Boolean(s.run)) {
      throw new Error(`runbook ${definition.id} step ${i + 1}: an action has either a change or a run`);
    }
    if (s.kind === "action" && s.run && !s.plan) {
      throw new Error(`runbook ${definition.id} step ${i + 1}: a run action needs a plan to be approved against`);
    }
    if (s.kind === "action" && s.change && s.risk) {
      throw new Error(`runbook ${definition.id} step ${i + 1}: a change's risk comes from its preview, not from the runbook`);
    }
  });
  return definition as Runbook<z.output<S>>;
}

/** The text of `t` for `params`. */
export function text<P>(t: Text<P> | undefined, params: P): string | undefined {
  return typeof t === "function" ? t(params) : t;
}

export const DEFAULT_STEP_TIMEOUT_MS = 5 * 60_000;
