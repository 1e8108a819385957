/** restore-database-from-snapshot: a new PostgresDatabase from a snapshot, then a decision to switch over. */
import { z } from "zod";
import { NAME_PATTERN } from "../../components/guardrails";
import { defineRunbook } from "../model";
import { changeOf, checkInstance, describeRef, findInstance, instanceParams } from "../instances";

const params = z.strictObject({
  ...instanceParams,
  snapshotIdentifier: z.string().min(1),
  newName: z.string().regex(NAME_PATTERN, { message: `must match ${NAME_PATTERN.source}` }),
});

const restored = (p: z.output<typeof params>) => ({ team: p.team, environment: p.environment, name: p.newName });

export const restoreDatabaseFromSnapshot = defineRunbook({
  id: "restore-database-from-snapshot",
  title: "Restore a PostgreSQL database from a snapshot",
  summary:
    "Creates a new PostgresDatabase from an RDS snapshot beside the original (nothing is overwritten), verifies it, then asks whether to switch the application over.",
  level: "scripted",
  params,
  steps: [
    {
      kind: "check",
      title: "The original database exists",
      description: (p) => `Look up the postgres instance ${describeRef(p)}.`,
      expected: "an active postgres instance",
      onFailure: "Check the team, environment and name of the original database.",
      run: (ctx) => checkInstance(ctx, ["postgres"]),
    },
    {
      kind: "check",
      title: "The new name is free",
      description: (p) => `Make sure no instance ${describeRef(restored(p))} exists.`,
      expected: "no instance with the new name",
      onFailure: "Pick another newName.",
      async run(ctx) {
        const row = await findInstance(ctx, restored(ctx.params));
        return { ok: row === undefined, observed: row ? `${row.stack} exists` : `${describeRef(restored(ctx.params))} is free` };
      },
    },
    {
      kind: "action",
      title: "Create the restored database",
      description: (p) => `create postgres ${describeRef(restored(p))} from snapshot ${p.snapshotIdentifier}`,
      // A new database beside the original: deleting it undoes the step. Its gate is the
      // create's risk; a snapshot the team does not own raises it to at least high.
      reversible: true,
      timeoutMs: 60 * 60_000,
      onFailure: "Nothing was switched: check the snapshot identifier and the error, then run again.",
      async change(ctx) {
        const source = ctx.state.params as { tier?: string; engineVersion?: string };
        const p = {
          ...(source.tier ? { tier: source.tier } : {}),
          ...(source.engineVersion ? { engineVersion: source.engineVersion } : {}),
          snapshotIdentifier: ctx.params.snapshotIdentifier,
        };
        return changeOf(ctx, { ref: restored(ctx.params), offering: "postgres", params: p, action: "create" });
      },
      async verify(ctx) {
        const row = await findInstance(ctx, restored(ctx.params));
        const outputs = (row?.outputs ?? {}) as { endpoint?: string };
        return { ok: typeof outputs.endpoint === "string", observed: row ? `endpoint ${outputs.endpoint}` : "no restored instance" };
      },
      async rollback(ctx) {
        const row = await findInstance(ctx, restored(ctx.params));
        return changeOf(ctx, { ref: restored(ctx.params), offering: "postgres", params: row?.params ?? {}, action: "destroy" });
      },
    },
    {
      kind: "decision",
      title: "Switch over?",
      question: (p) => `The restored database ${p.newName} is ready. Switch the application from ${p.name} to it, or keep both for now?`,
      options: ["switch", "keep-both"],
      stopOn: ["keep-both"],
      onFailure: "Both databases stay; decide later.",
    },
    {
      kind: "manual",
      title: "Point the application at the restored database",
      instructions: (p) =>
        `Change the application's database endpoint from ${p.name} to ${p.newName} (its endpoint and secret are in GET /instances), deploy, and watch the error rate.`,
      command: (p) =>
        `curl -s localhost:8080/instances?team=${p.team} -H "authorization: Bearer $PAVED_TOKEN" | jq '.instances[] | select(.name=="${p.newName}") | .outputs'`,
      expected: '{ "endpoint": "...", "port": 5432, "secretArn": "..." }',
      onFailure: "Point the application back at the original database; it was never changed.",
    },
  ],
});
