/** scale-instance: change an instance's tier; checks, a decision, the update. */
import { z } from "zod";
import { TIERS } from "../../components/guardrails";
import { defineRunbook } from "../model";
import { changeOf, checkInstance, describeRef, findInstance, instanceParams } from "../instances";

const params = z.strictObject({ ...instanceParams, tier: z.enum(TIERS) });

export const scaleInstance = defineRunbook({
  id: "scale-instance",
  title: "Change an instance's tier",
  summary:
    "Moves a postgres or redis instance to another tier from the guardrails table. The engine applies it in place, with the approvals the same update would need as a request; the old tier can be restored the same way.",
  level: "scripted",
  params,
  steps: [
    {
      kind: "check",
      title: "The instance exists and has tiers",
      description: (p) => `Look up ${describeRef(p)}: a postgres or redis instance, no request in flight.`,
      expected: "an active postgres or redis instance with no request in flight",
      onFailure: "Check the instance name, or wait for the request in flight to finish.",
      run: (ctx) => checkInstance(ctx, ["postgres", "redis"]),
    },
    {
      kind: "check",
      title: "The tier changes",
      description: (p) => `Compare the current tier of ${describeRef(p)} with ${p.tier}.`,
      expected: (p) => `a tier other than ${p.tier}`,
      onFailure: "Nothing to do: the instance already has this tier.",
      async run(ctx) {
        const current = (ctx.state.params as { tier?: string }).tier ?? "small";
        ctx.state.previousTier = current;
        return { ok: current !== ctx.params.tier, observed: `current tier ${current}` };
      },
    },
    {
      kind: "decision",
      title: "Confirm the maintenance window",
      question: (p) => `Resizing ${p.name} restarts it (a few minutes; multi-AZ instances fail over). Go ahead now?`,
      options: ["proceed", "stop"],
      stopOn: ["stop"],
      onFailure: "Start the runbook again in the maintenance window.",
    },
    {
      kind: "action",
      title: "Apply the new tier",
      description: (p) => `update ${describeRef(p)} to tier ${p.tier}`,
      reversible: true,
      onFailure: "Read the step's output: where the change went through, its rollback put the previous tier back. Then run again.",
      async change(ctx) {
        return changeOf(ctx, { action: "update", params: { ...(ctx.state.params as object), tier: ctx.params.tier } });
      },
      async verify(ctx) {
        const row = await findInstance(ctx);
        const tier = row?.params.tier as string | undefined;
        return { ok: tier === ctx.params.tier, observed: `tier ${tier ?? "unknown"}` };
      },
      async rollback(ctx) {
        return changeOf(ctx, { action: "update", params: ctx.state.params as Record<string, unknown> });
      },
    },
  ],
});
