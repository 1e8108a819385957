/** `GET /instances`: the stacks of the teams the person can see. */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { Workflow } from "../../workflow";
import { errorResponses, instancesQuery, instancesSchema } from "../schemas";

export const instanceRoutes: FastifyPluginAsyncZod<{ workflow: Workflow }> = async (app, { workflow }) => {
  app.get("/instances", { schema: { querystring: instancesQuery, response: { 200: instancesSchema, ...errorResponses } } }, async (request) => {
    const rows = await workflow.store.listInstances({ team: request.query.team, teams: workflow.visibleTeams(request.person) });
    return {
      engine: workflow.engine.name,
      instances: rows.map((r) => ({
        stack: r.stack,
        team: r.team,
        environment: r.environment,
        name: r.name,
        offering: r.offering,
        status: r.status as "active" | "interrupted",
        params: JSON.parse(r.params) as Record<string, unknown>,
        outputs: JSON.parse(r.outputs) as Record<string, unknown>,
        needsRefresh: r.needs_refresh === 1,
        updatedAt: r.updated_at,
      })),
    };
  });
};
