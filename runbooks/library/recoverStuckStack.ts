/** recover-stuck-stack: diagnose a stack left locked or with pending operations, then cancel and refresh, each gated by its risk. */
import { z } from "zod";
import { defineRunbook } from "../model";
import { describeRef, instanceParams } from "../instances";

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
      description: (p) => `Read ${describeRef(p)}: running jobs and their leases, requests in flight, pending operations, the refresh flag.`,
      expected: "the stack is stuck: a dead job, pending operations, or a refresh flag",
      onFailure: "Nothing is stuck: no recovery needed.",
      async run(ctx) {
        const running = await ctx.paved.stackJobs(ctx.params);
        const dead = running.filter((j) => j.expired);
        const inspection = await ctx.paved.inspect(ctx.params);
        const instance = await ctx.paved.instance(ctx.params);
        ctx.state.deadJobs = dead.map((j) => j.id);
        const facts = [
          `${running.length} running job(s), ${dead.length} with an expired lease`,
          `${inspection.pendingOperations.length} pending operation(s)`,
          `refresh flag ${instance?.needsRefresh ? "set" : "clear"}`,
          `${inspection.resources} resource(s) in state`,
        ];
        const alive = running.length - dead.length;
        if (alive > 0) return { ok: false, observed: `${facts.join("; ")}: a live operation holds the stack, wait for it` };
        const stuck = dead.length > 0 || inspection.pendingOperations.length > 0 || instance?.needsRefresh === true;
        return { ok: stuck, observed: facts.join("; ") };
      },
    },
    {
      kind: "action",
      title: "Cancel the interrupted operation",
      description: (p) => `fail the interrupted jobs of ${describeRef(p)} and cancel any update still holding its lock`,
      // Cancelling an update cuts it off where it is: it cannot be resumed.
      reversible: false,
      risk: "medium",
      onFailure: "Check the backend's lock by hand (pulumi cancel -s <stack>), then run again.",
      async plan(ctx) {
        const ids = (ctx.state.deadJobs as number[]) ?? [];
        return {
          description: [
            `mark ${ids.length} job(s) with an expired lease as interrupted (${ids.join(", ") || "none"})`,
            `pulumi cancel on ${describeRef(ctx.params)}`,
          ],
        };
      },
      async run(ctx) {
        const reaped = await ctx.paved.interruptDeadJobs();
        const { cancelled } = await ctx.paved.cancelUpdate(ctx.params);
        return `${reaped} job(s) marked interrupted; ${cancelled ? "an update was cancelled" : "no update held the lock"}`;
      },
      async verify(ctx) {
        const running = await ctx.paved.stackJobs(ctx.params);
        return { ok: running.length === 0, observed: `${running.length} running job(s)` };
      },
    },
    {
      kind: "action",
      title: "Refresh the stack",
      description: (p) => `refresh ${describeRef(p)} from the real resources and clear pending operations`,
      // A refresh only reads the resources back into the state.
      reversible: true,
      risk: "low",
      timeoutMs: 30 * 60_000,
      onFailure: "Look at the pending operations in `pulumi stack export` and resolve them by hand.",
      async plan(ctx) {
        return { description: [`pulumi refresh on ${describeRef(ctx.params)}: read the resources back into the state, clear pending operations`] };
      },
      async run(ctx) {
        const { pendingCleared } = await ctx.paved.refresh(ctx.params);
        return `${pendingCleared} pending operation(s) cleared`;
      },
      async verify(ctx) {
        const inspection = await ctx.paved.inspect(ctx.params);
        const instance = await ctx.paved.instance(ctx.params);
        return {
          ok: inspection.pendingOperations.length === 0 && instance?.needsRefresh !== true,
          observed: `${inspection.pendingOperations.length} pending operation(s); refresh flag ${instance?.needsRefresh ? "set" : "clear"}`,
        };
      },
    },
  ],
});
