/**
 * What runbook steps do to instances, through the same engine, store and audit as the
 * service's requests: find an instance, plan a change (the engine's preview), apply it
 * exactly as planned.
 */
import { z } from "zod";
import { ENVIRONMENTS, Environment, NAME_PATTERN, TEAM_PATTERN } from "../components/guardrails";
import { stackName, TERMINAL_STATUSES } from "../automation/workflow";
import type { EnginePreview } from "../automation/engine/types";
import type { InstanceRow } from "../automation/store/store";
import type { ActionPlan, Observation, StepContext } from "./model";

/** The params every instance runbook starts from. */
export const instanceParams = {
  team: z.string().regex(TEAM_PATTERN, { message: "must be a DNS label" }),
  environment: z.enum(ENVIRONMENTS),
  name: z.string().regex(NAME_PATTERN, { message: `must match ${NAME_PATTERN.source}` }),
};

export interface InstanceRef {
  team: string;
  environment: Environment;
  name: string;
}

export function stackOf(p: InstanceRef): string {
  return stackName(p.team, p.environment, p.name);
}

export async function findInstance(ctx: StepContext<InstanceRef>, ref: InstanceRef = ctx.params): Promise<InstanceRow | undefined> {
  const row = await ctx.store.getInstance(stackOf(ref));
  return row?.status === "active" ? row : undefined;
}

/** A check: the instance exists, is of one of `offerings`, and nothing else is changing it. */
export async function checkInstance(ctx: StepContext<InstanceRef>, offerings?: string[]): Promise<Observation> {
  const stack = stackOf(ctx.params);
  const row = await findInstance(ctx);
  if (!row) return { ok: false, observed: `no active instance ${stack}` };
  if (offerings && !offerings.includes(row.offering)) return { ok: false, observed: `${stack} is a ${row.offering}, not a ${offerings.join(" or ")}` };
  const busy = await ctx.store.inFlight(stack, TERMINAL_STATUSES);
  if (busy.length > 0) return { ok: false, observed: `request ${busy[0].id} on ${stack} is still ${busy[0].status}` };
  ctx.state.params = JSON.parse(row.params);
  ctx.state.offering = row.offering;
  return { ok: true, observed: `${row.offering} ${stack}, params ${row.params}${row.needs_refresh ? ", flagged for a refresh" : ""}` };
}

function operation(ctx: StepContext<InstanceRef>, ref: InstanceRef, offering: string, params: Record<string, unknown>, action: "create" | "update" | "destroy") {
  return {
    stack: stackOf(ref),
    action,
    spec: ctx.workflow.specFor(ref.team, ref.environment, offering, ref.name, params),
    signal: ctx.signal,
    onProgress: ctx.log,
  };
}

/**
 * Runs `fn` holding `stack` as a job would (a running `lock` job row): no request's job
 * runs on the stack meanwhile, on any replica. Fails when something already runs on it.
 */
export async function withStackLock<T>(ctx: StepContext<unknown>, stack: string, fn: () => Promise<T>): Promise<T> {
  const owner = `runbook:${ctx.runId}`;
  const lock = await ctx.store.lockStack(stack, owner, ctx.runId, ctx.now().toISOString(), new Date(ctx.now().getTime() + 2 * 60 * 60_000).toISOString());
  if (!lock) throw new Error(`another operation is running on stack ${stack}`);
  try {
    return await fn();
  } finally {
    await ctx.store.finishJob(lock.id, owner, "done", ctx.now().toISOString());
  }
}

/** The engine's preview of a change, as the plan an approval binds to. */
export async function planChange(
  ctx: StepContext<InstanceRef>,
  change: { ref?: InstanceRef; offering: string; params: Record<string, unknown>; action: "create" | "update" | "destroy" },
): Promise<ActionPlan & { preview: EnginePreview }> {
  const ref = change.ref ?? ctx.params;
  const preview = await ctx.engine.preview(operation(ctx, ref, change.offering, change.params, change.action));
  const changing = preview.steps.filter((s) => s.op !== "same");
  return {
    preview,
    digest: preview.digest,
    steps: preview.steps,
    description: [
      `${change.action} ${change.offering} ${stackOf(ref)} with params ${JSON.stringify(change.params)} (engine ${ctx.engine.name})`,
      ...changing.map((s) => `${s.op} ${s.type} ${s.name}${s.changedKeys.length ? ` (${s.changedKeys.join(", ")})` : ""}`),
    ],
  };
}

/**
 * Plans and applies a change, then records the instance as the service does. A mandatory
 * policy violation stops it before anything changes.
 */
export async function applyChange(
  ctx: StepContext<InstanceRef>,
  change: { ref?: InstanceRef; offering: string; params: Record<string, unknown>; action: "create" | "update" | "destroy" },
): Promise<string> {
  const ref = change.ref ?? ctx.params;
  const stack = stackOf(ref);
  const busy = await ctx.store.inFlight(stack, TERMINAL_STATUSES);
  if (busy.length > 0) throw new Error(`request ${busy[0].id} on ${stack} is still ${busy[0].status}`);
  const { plan, result } = await withStackLock(ctx, stack, async () => {
    const plan = await planChange(ctx, change);
    const blocking = plan.preview.violations.filter((v) => v.enforcementLevel === "mandatory");
    if (blocking.length > 0) throw new Error(`blocked by policy ${blocking.map((v) => `${v.policyName}: ${v.message}`).join("; ")}`);
    const result = await ctx.engine.apply(operation(ctx, ref, change.offering, change.params, change.action), { digest: plan.digest!, unprotect: change.action === "destroy" });
    return { plan, result };
  });
  const at = ctx.now().toISOString();
  const existing = await ctx.store.getInstance(stack);
  await ctx.store.upsertInstance({
    stack,
    team: ref.team,
    environment: ref.environment,
    name: ref.name,
    offering: change.offering,
    params: JSON.stringify(change.params),
    outputs: JSON.stringify(change.action === "destroy" ? {} : (result.outputs[ref.name] ?? {})),
    status: change.action === "destroy" ? "destroyed" : "active",
    needs_refresh: 0,
    created_at: existing?.created_at ?? at,
    updated_at: at,
  });
  await ctx.store.audit({ at, actor: ctx.actor, action: `runbook.engine.${change.action === "destroy" ? "destroy" : "up"}`, request_id: ctx.runId, stack, digest: plan.digest, detail: { changeSummary: result.changeSummary } });
  return `${change.action} ${stack}: ${Object.entries(result.changeSummary)
    .map(([op, n]) => `${op} ${n}`)
    .join(", ")}`;
}
