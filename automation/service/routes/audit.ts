/** `GET /audit`: the audit trail of the teams the person can see, or of one request. */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { Workflow } from "../../workflow";
import { auditQuery, auditSchema, errorResponses } from "../schemas";

export const auditRoutes: FastifyPluginAsyncZod<{ workflow: Workflow }> = async (app, { workflow }) => {
  app.get("/audit", { schema: { querystring: auditQuery, response: { 200: auditSchema, ...errorResponses } } }, async (request) => {
    const { person } = request;
    if (request.query.requestId) await workflow.getFor(person, request.query.requestId);
    const rows = await workflow.store.auditTrail({ requestId: request.query.requestId, teams: workflow.visibleTeams(person) });
    return {
      entries: rows.map((r) => ({
        id: r.id,
        at: r.at,
        actor: r.actor,
        action: r.action,
        requestId: r.request_id,
        stack: r.stack,
        digest: r.digest,
        detail: r.detail ? (JSON.parse(r.detail) as unknown) : null,
      })),
    };
  });
};
