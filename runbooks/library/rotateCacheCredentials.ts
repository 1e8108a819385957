/** rotate-cache-credentials: a new AUTH token for a RedisCache, applied through the engine, then verified. */
import { z } from "zod";
import { redisAuthTokenDefaults } from "../../components/guardrails";
import { defineRunbook } from "../model";
import { changeOf, checkInstance, describeRef, findInstance, instanceParams } from "../instances";

const params = z.strictObject({ ...instanceParams });

export const rotateCacheCredentials = defineRunbook({
  id: "rotate-cache-credentials",
  title: "Rotate a Redis cache's AUTH token",
  summary:
    "Raises the cache's authTokenVersion, so the engine generates a new token and stores it in the cache's Secrets Manager secret; ElastiCache keeps the old token valid (ROTATE strategy) until clients have the new one.",
  level: "scripted",
  params,
  steps: [
    {
      kind: "check",
      title: "The cache exists and nothing else is changing it",
      description: (p) => `Look up the redis instance ${describeRef(p)} and any request in flight on it.`,
      expected: "an active redis instance with no request in flight",
      onFailure: "Check the instance name, or wait for the request in flight to finish.",
      run: (ctx) => checkInstance(ctx, ["redis"]),
    },
    {
      kind: "action",
      title: "Apply a new token version",
      description: (p) => `raise authTokenVersion of ${describeRef(p)} by one and apply it`,
      // A new token can be rotated again, and the old one stays valid meanwhile. Its gate is
      // the update's risk (the secret and the cache's AUTH token change).
      reversible: true,
      onFailure: "The old token is still valid: read the error, fix it, and run the runbook again.",
      async change(ctx) {
        const current = ctx.state.params as { authTokenVersion?: number };
        const version = (current.authTokenVersion ?? redisAuthTokenDefaults.initialVersion) + 1;
        ctx.state.newVersion = version;
        return changeOf(ctx, { offering: "redis", params: { ...current, authTokenVersion: version }, action: "update" });
      },
      async verify(ctx) {
        const row = await findInstance(ctx);
        const version = row?.params.authTokenVersion as number | undefined;
        return { ok: version === ctx.state.newVersion, observed: `authTokenVersion ${version ?? "unset"} on ${describeRef(ctx.params)}` };
      },
    },
    {
      kind: "manual",
      title: "Restart the cache's clients",
      instructions: (p) => `Restart the services that use ${p.name}, so they read the new token from its secret.`,
      command: (p) => `kubectl -n ${p.team}-${p.environment} rollout restart deployment -l paved.dev/uses=${p.name}`,
      expected: "deployment.apps/... restarted",
      onFailure: "The old token stays valid until the next rotation: restart the clients, then confirm.",
    },
  ],
});
