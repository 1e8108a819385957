/**
 * `GET /notifications/deliveries`: the outbox's deliveries, for approvers (members of an
 * approver group): those given up on (`status=dead`, with the last error) above all. No
 * payload, URL or secret is shown: the sink's name, the event and what happened.
 */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { DomainError } from "../../errors";
import type { Workflow } from "../../workflow";
import { errorResponses } from "../schemas";

const deliveriesQuery = z.strictObject({
  status: z.enum(["queued", "delivering", "delivered", "dead"]).optional(),
  requestId: z
    .string()
    .regex(/^(req|run)_[0-9a-f-]{36}$/, { message: "is not a request or runbook run id" })
    .optional(),
});

const deliveriesSchema = z
  .object({
    deliveries: z.array(
      z.object({
        id: z.number(),
        eventId: z.string(),
        event: z.string(),
        subjectId: z.string(),
        team: z.string().nullable(),
        sink: z.string(),
        status: z.string(),
        attempts: z.number(),
        /** When the next try is due (queued), or was (others). */
        runAfter: z.string(),
        lastError: z.string().nullable(),
        deliveredAt: z.string().nullable(),
        createdAt: z.string(),
      }),
    ),
  })
  .meta({ id: "Deliveries" });

export const notificationRoutes: FastifyPluginAsyncZod<{ workflow: Workflow }> = async (app, { workflow }) => {
  app.get(
    "/notifications/deliveries",
    { schema: { querystring: deliveriesQuery, response: { 200: deliveriesSchema, ...errorResponses } } },
    async (request) => {
      const { person } = request;
      // Approvers see every team's changes (the gate says who): they watch the deliveries.
      if (workflow.gate.visibleTeams(person) !== undefined) {
        throw new DomainError("forbidden", "not_an_approver", "only members of an approver group may see notification deliveries");
      }
      const rows = await workflow.store.deliveries({ status: request.query.status, subjectId: request.query.requestId });
      return {
        deliveries: rows.map((d) => ({
          id: Number(d.id),
          eventId: d.event_id,
          event: d.event,
          subjectId: d.subject_id,
          team: d.team,
          sink: d.sink,
          status: d.status,
          attempts: d.attempts,
          runAfter: d.run_after,
          lastError: d.last_error,
          deliveredAt: d.delivered_at,
          createdAt: d.created_at,
        })),
      };
    },
  );
};
