/** recover-stuck-stack: diagnose a stack left locked or with pending operations, then cancel and refresh, each gated by its risk. */
import { z } from "zod";
import { defineRunbook } from "../model";
import { instanceParams, stackOf, withStackLock } from "../instances";

const params = z.strictObject({ ...instanceParams });

export const recoverStuckStack = defineRunbook({
  id: "recover-stuck-stack",
  title: "Recover a stuck stack",
  summary:
    "For a stack an interrupted operation left locked, with pending operations or flagged for a refresh: diagnoses it, cancels what still holds it (irreversible: approved first), then refreshes the state from the real resources.",
  level: "scripted",
  params,
  steps: [
    {
      kind: "check",
      title: "Diagnose",
      description: (p) => `Read ${stackOf(p)}: running jobs and their leases, requests in flight, pending operations, the refresh flag.`,
      expected: "the stack is stuck: a dead job, pending operations, or a refresh flag",
      onFailure: "Nothing is stuck: no recovery needed.",
      async run(ctx) {
        const stack = stackOf(ctx.params);
        const now = ctx.now().toISOString();
        const running = (await ctx.store.jobs()).filter((j) => j.stack === stack && j.status === "running");
        const dead = running.filter((j) => (j.lease_until ?? "") < now);
        const inspection = await ctx.engine.inspect(stack);
        const instance = await ctx.store.getInstance(stack);
        ctx.state.deadJobs = dead.map((j) => j.id);
        ctx.state.offering = instance?.offering;
        ctx.state.params = instance ? JSON.parse(instance.params) : {};
        const facts = [
          `${running.length} running job(s), ${dead.length} with an expired lease`,
          `${inspection.pendingOperations.length} pending operation(s)`,
          `refresh flag ${instance?.needs_refresh ? "set" : "clear"}`,
          `${inspection.resources} resource(s) in state`,
        ];
        const alive = running.length - dead.length;
        if (alive > 0) return { ok: false, observed: `${facts.join("; ")}: a live operation holds the stack, wait for it` };
        const stuck = dead.length > 0 || inspection.pendingOperations.length > 0 || instance?.needs_refresh === 1;
        return { ok: stuck, observed: facts.join("; ") };
      },
    },
    {
      kind: "action",
      title: "Cancel the interrupted operation",
      description: (p) => `fail the interrupted jobs of ${stackOf(p)} and cancel any update still holding its lock`,
      // Cancelling an update cuts it off where it is: it cannot be resumed.
      reversible: false,
      risk: "medium",
      onFailure: "Check the backend's lock by hand (pulumi cancel -s <stack>), then run again.",
      async plan(ctx) {
        const ids = (ctx.state.deadJobs as number[]) ?? [];
        return { description: [`mark ${ids.length} job(s) with an expired lease as interrupted (${ids.join(", ") || "none"})`, `pulumi cancel on ${stackOf(ctx.params)}`] };
      },
      async run(ctx) {
        const reaped = await ctx.store.reapExpiredJobs(ctx.now().toISOString());
        for (const job of reaped) await ctx.workflow.interrupted(job);
        const { cancelled } = await ctx.engine.cancel(stackOf(ctx.params));
        return `${reaped.length} job(s) marked interrupted; ${cancelled ? "an update was cancelled" : "no update held the lock"}`;
      },
      async verify(ctx) {
        const stack = stackOf(ctx.params);
        const running = (await ctx.store.jobs()).filter((j) => j.stack === stack && j.status === "running");
        return { ok: running.length === 0, observed: `${running.length} running job(s)` };
      },
    },
    {
      kind: "action",
      title: "Refresh the stack",
      description: (p) => `refresh ${stackOf(p)} from the real resources and clear pending operations`,
      // A refresh only reads the resources back into the state.
      reversible: true,
      timeoutMs: 30 * 60_000,
      onFailure: "Look at the pending operations in `pulumi stack export` and resolve them by hand.",
      async run(ctx) {
        const stack = stackOf(ctx.params);
        const offering = (ctx.state.offering as string | undefined) ?? "queue";
        const { pendingCleared } = await withStackLock(ctx, stack, () =>
          ctx.engine.refresh({
            stack,
            action: "update",
            spec: ctx.workflow.specFor(ctx.params.team, ctx.params.environment, offering, ctx.params.name, ctx.state.params as Record<string, unknown>),
            signal: ctx.signal,
            onProgress: ctx.log,
          }),
        );
        if (await ctx.store.getInstance(stack)) await ctx.store.setNeedsRefresh(stack, false, ctx.now().toISOString());
        return `${pendingCleared} pending operation(s) cleared`;
      },
      async verify(ctx) {
        const stack = stackOf(ctx.params);
        const inspection = await ctx.engine.inspect(stack);
        const instance = await ctx.store.getInstance(stack);
        return {
          ok: inspection.pendingOperations.length === 0 && instance?.needs_refresh !== 1,
          observed: `${inspection.pendingOperations.length} pending operation(s); refresh flag ${instance?.needs_refresh ? "set" : "clear"}`,
        };
      },
    },
  ],
});
