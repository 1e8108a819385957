/** decommission-instance: checks for dependants, a final snapshot where stateful, then the irreversible destroy behind approval. */
import { z } from "zod";
import { isOffering, statefulOfferings } from "../../components/guardrails";
import { defineRunbook } from "../model";
import { changeOf, checkInstance, describeRef, findInstance, instanceParams } from "../instances";

const params = z.strictObject({ ...instanceParams });

export const decommissionInstance = defineRunbook({
  id: "decommission-instance",
  title: "Decommission an instance",
  summary:
    "Destroys an instance for good: checks that nothing else refers to it and, for data stores, that a final snapshot will be kept, then destroys it once approved. Protected prod resources are unprotected for this approved destroy only.",
  level: "scripted",
  params,
  steps: [
    {
      kind: "check",
      title: "The instance exists and nothing else is changing it",
      description: (p) => `Look up ${describeRef(p)} and any request in flight on it.`,
      expected: "an active instance with no request in flight",
      onFailure: "Check the instance name, or wait for the request in flight to finish.",
      run: (ctx) => checkInstance(ctx),
    },
    {
      kind: "check",
      title: "No dependants",
      description: (p) => `Look for other instances of team ${p.team} in ${p.environment} whose params name ${p.name}.`,
      expected: "no other instance refers to it",
      onFailure: "Decommission or repoint the dependants first.",
      async run(ctx) {
        const others = (await ctx.paved.instances(ctx.params.team, ctx.params.environment)).filter(
          (i) => i.name !== ctx.params.name && new RegExp(`\\b${ctx.params.name}\\b`).test(JSON.stringify(i.params)),
        );
        return { ok: others.length === 0, observed: others.length === 0 ? "no dependants" : `referred to by ${others.map((o) => describeRef(o)).join(", ")}` };
      },
    },
    {
      kind: "check",
      title: "A final snapshot will be kept",
      description:
        "For a data store, check that its destroy keeps a final snapshot (RDS final snapshot, ElastiCache final snapshot) where the environment requires one.",
      expected: "stateless, or a final snapshot configured",
      onFailure: "Take a manual snapshot before going on, or fix the component's final snapshot settings.",
      async run(ctx) {
        const offering = String(ctx.state.offering);
        if (!isOffering(offering) || !statefulOfferings.includes(offering)) return { ok: true, observed: `${ctx.state.offering} holds no data` };
        const resources = (await ctx.paved.stateResources(ctx.params)) ?? [];
        const db = resources.find((r) => r.type === "aws:rds/instance:Instance" || r.type === "aws:elasticache/replicationGroup:ReplicationGroup");
        if (!db) {
          // The pulumi engine keeps its state in the backend: the component's settings decide.
          return {
            ok: true,
            observed: `stateful ${ctx.state.offering}: its component keeps a final snapshot in ${ctx.params.environment === "prod" ? "prod" : "staging and prod"}`,
          };
        }
        const skip = db.inputs.skipFinalSnapshot === true;
        const name = db.inputs.finalSnapshotIdentifier;
        if (skip && ctx.params.environment !== "dev") return { ok: false, observed: `skipFinalSnapshot is true in ${ctx.params.environment}` };
        ctx.state.finalSnapshot = name ?? null;
        return { ok: true, observed: skip ? "dev: no final snapshot (allowed)" : `final snapshot ${String(name)}` };
      },
    },
    {
      kind: "action",
      title: "Destroy the instance",
      description: (p) => `destroy ${describeRef(p)} and every resource in it`,
      reversible: false,
      timeoutMs: 60 * 60_000,
      onFailure: "Run recover-stuck-stack on this instance, then start this runbook again.",
      change: async (ctx) => changeOf(ctx, { params: ctx.state.params as Record<string, unknown>, action: "destroy" }),
      async verify(ctx) {
        const row = await findInstance(ctx);
        const left = (await ctx.paved.inspect(ctx.params)).resources;
        return { ok: row === undefined && left === 0, observed: `${left} resource(s) left; instance ${row ? "still active" : "destroyed"}` };
      },
    },
  ],
});
