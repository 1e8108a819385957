/**
 * What runbook steps share about instances: their params, finding the team's own instance,
 * and describing it. Changes are `Change` values the executor gates and applies.
 */
import { z } from "zod";
import { ENVIRONMENTS, Environment, NAME_PATTERN, TEAM_PATTERN } from "../components/guardrails";
import type { Change, Instance, InstanceRef, Observation, StepContext } from "./model";

/** The params every instance runbook starts from. */
export const instanceParams = {
  team: z.string().regex(TEAM_PATTERN, { message: "must be a DNS label" }),
  environment: z.enum(ENVIRONMENTS),
  name: z.string().regex(NAME_PATTERN, { message: `must match ${NAME_PATTERN.source}` }),
};

export type { InstanceRef };

/** `team/environment/name`: how documents and outputs name an instance. */
export function describeRef(p: InstanceRef): string {
  return `${p.team}/${p.environment}/${p.name}`;
}

/** The team's active instance `ref` (the run's own by default). */
export async function findInstance(ctx: StepContext<InstanceRef>, ref: InstanceRef = ctx.params): Promise<Instance | undefined> {
  const row = await ctx.paved.instance(ref);
  return row?.status === "active" ? row : undefined;
}

/** A check: the instance exists, is of one of `offerings`, and nothing else is changing it. */
export async function checkInstance(ctx: StepContext<InstanceRef>, offerings?: string[]): Promise<Observation> {
  const what = describeRef(ctx.params);
  const row = await findInstance(ctx);
  if (!row) return { ok: false, observed: `no active instance ${what}` };
  if (offerings && !offerings.includes(row.offering)) return { ok: false, observed: `${what} is a ${row.offering}, not a ${offerings.join(" or ")}` };
  const busy = await ctx.paved.requestInFlight(ctx.params);
  if (busy) return { ok: false, observed: `request ${busy.id} on ${what} is still ${busy.status}` };
  ctx.state.params = row.params;
  ctx.state.offering = row.offering;
  return { ok: true, observed: `${row.offering} ${what}, params ${JSON.stringify(row.params)}${row.needsRefresh ? ", flagged for a refresh" : ""}` };
}

/** The change `action` with `params` to the instance the run found (or `ref`). */
export function changeOf(
  ctx: StepContext<InstanceRef>,
  change: { action: Change["action"]; params: Record<string, unknown>; offering?: string; ref?: InstanceRef },
): Change {
  return {
    ref: change.ref ?? { team: ctx.params.team, environment: ctx.params.environment as Environment, name: ctx.params.name },
    offering: change.offering ?? (ctx.state.offering as string),
    params: change.params,
    action: change.action,
  };
}
