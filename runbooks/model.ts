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
 */
import { z } from "zod";
import type { PavedConfig } from "../automation/config";
import type { Engine } from "../automation/engine/types";
import type { RiskLevel } from "../automation/risk";
import type { PlannedStep } from "../automation/steps";
import type { Store } from "../automation/store/store";
import type { Workflow } from "../automation/workflow";

export type RunbookLevel = "documented" | "scripted";

/** Text that may depend on the params. */
export type Text<P> = string | ((params: P) => string);

/** What a step's code gets. */
export interface StepContext<P> {
  params: P;
  runId: string;
  /** Answers given so far, by step number (1-based). */
  answers: Record<number, string>;
  /** Values earlier steps kept for later ones (persisted with the run). */
  state: Record<string, unknown>;
  workflow: Workflow;
  store: Store;
  engine: Engine;
  config: PavedConfig;
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

/** What an action will do, for the approval of an irreversible one. */
export interface ActionPlan {
  /** Lines a reviewer reads. */
  description: string[];
  /** The engine's planned steps, when the action goes through the engine. */
  steps?: PlannedStep[];
  /** The engine's digest, when there is one. */
  digest?: string;
}

export interface ActionStep<P> extends StepBase<P> {
  kind: "action";
  description: Text<P>;
  /** False: the step cannot be undone, so it waits for approval before it runs. */
  reversible: boolean;
  /** For a documented runbook, the command a human runs instead. */
  command?: Text<P>;
  /**
   * What the action will do. Irreversible actions are approved against its digest, and
   * planned again right before they run: a different plan needs a fresh approval.
   */
  plan?(ctx: StepContext<P>): Promise<ActionPlan>;
  /** The risk when the plan has no engine steps. Default `high`. */
  risk?: RiskLevel;
  run(ctx: StepContext<P>): Promise<string>;
  verify(ctx: StepContext<P>): Promise<Observation>;
  rollback?(ctx: StepContext<P>): Promise<string>;
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
    if (definition.level === "scripted" && s.kind === "action" && !s.reversible && !s.plan) {
      throw new Error(`runbook ${definition.id} step ${i + 1}: an irreversible action needs a plan to be approved against`);
    }
  });
  return definition as Runbook<z.output<S>>;
}

/** The text of `t` for `params`. */
export function text<P>(t: Text<P> | undefined, params: P): string | undefined {
  return typeof t === "function" ? t(params) : t;
}

export const DEFAULT_STEP_TIMEOUT_MS = 5 * 60_000;
