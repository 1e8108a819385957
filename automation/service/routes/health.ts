/** `GET /healthz`: public; 503 while the store's last integrity check failed. */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { StoreHealth } from "../../store/health";
import type { Workflow } from "../../workflow";
import { errorSchema, healthSchema } from "../schemas";

export interface HealthRouteOptions {
  workflow: Workflow;
  health?: StoreHealth;
}

export const healthRoutes: FastifyPluginAsyncZod<HealthRouteOptions> = async (app, { workflow, health }) => {
  app.get(
    "/healthz",
    { config: { public: true }, schema: { response: { 200: healthSchema, 500: errorSchema, 503: errorSchema } } },
    async (_request, reply) => {
      const integrity = health?.integrity;
      if (integrity && !integrity.ok) {
        return reply
          .status(503)
          .send({ error: { code: "store_damaged", message: `the store failed its integrity check at ${integrity.checkedAt}: ${integrity.problem}` } });
      }
      await workflow.store.ping();
      return { status: "ok" as const, engine: workflow.engine.name, store: workflow.store.dialect === "postgres" ? "postgres" : "sqlite" };
    },
  );
};
