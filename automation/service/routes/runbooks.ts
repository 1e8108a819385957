/** Runbook routes: list, start a run, read it, answer a step, approve or reject a gated action, resume, cancel. */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { RUN_STATUSES, RunbookExecutor } from "../../runbooks/executor";
import { RUNBOOK_ID } from "../../../runbooks/model";
import { errorResponses } from "../schemas";

const ERRORS = errorResponses;

const runbookId = z.strictObject({ id: z.string().regex(RUNBOOK_ID, { message: "is not a runbook id" }) });
const runId = z.strictObject({ id: z.string().regex(/^run_[0-9a-f-]{36}$/, { message: "is not a run id" }) });
const runStep = z.strictObject({ id: runId.shape.id, n: z.coerce.number().int().min(1).max(100) });

const stepSchema = z.object({
  n: z.number(),
  title: z.string(),
  kind: z.enum(["manual", "check", "action", "decision"]),
  reversible: z.boolean().optional(),
  status: z.string(),
  output: z.string().nullable(),
  awaiting: z.unknown().optional(),
  approvals: z.array(z.object({ by: z.string(), at: z.string(), digest: z.string(), comment: z.string().nullable() })),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});

export const runSchema = z
  .object({
    id: z.string(),
    runbook: z.string(),
    title: z.string(),
    level: z.string(),
    params: z.record(z.string(), z.unknown()),
    requestedBy: z.string(),
    status: z.enum(RUN_STATUSES),
    dryRun: z.boolean(),
    currentStep: z.number(),
    engine: z.string(),
    steps: z.array(stepSchema),
    error: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: "RunbookRun" });

export const runbookRoutes: FastifyPluginAsyncZod<{ executor: RunbookExecutor }> = async (r, { executor }) => {
  r.get(
    "/runbooks",
    {
      schema: {
        response: {
          200: z.object({
            runbooks: z.array(
              z.object({
                id: z.string(),
                title: z.string(),
                summary: z.string(),
                level: z.string(),
                steps: z.number(),
                params: z.record(z.string(), z.unknown()),
              }),
            ),
          }),
          ...ERRORS,
        },
      },
    },
    async () => ({
      runbooks: executor.list().map((b) => ({
        id: b.id,
        title: b.title,
        summary: b.summary,
        level: b.level,
        steps: b.steps.length,
        params: z.toJSONSchema(b.params, { io: "input" }) as Record<string, unknown>,
      })),
    }),
  );

  r.post(
    "/runbooks/:id/runs",
    {
      schema: {
        params: runbookId,
        body: z.strictObject({ params: z.record(z.string(), z.unknown()).default({}), dryRun: z.boolean().default(false) }),
        response: { 202: runSchema, ...ERRORS },
      },
    },
    async (request, reply) => {
      const run = await executor.start(request.person, request.params.id, request.body.params, { dryRun: request.body.dryRun });
      reply.header("location", `/runbook-runs/${run.id}`);
      return reply.status(202).send(run);
    },
  );

  r.get("/runbook-runs/:id", { schema: { params: runId, response: { 200: runSchema, ...ERRORS } } }, async (request) =>
    executor.viewFor(request.person, request.params.id),
  );

  r.post(
    "/runbook-runs/:id/steps/:n/answer",
    { schema: { params: runStep, body: z.strictObject({ answer: z.string().min(1).max(100) }), response: { 200: runSchema, ...ERRORS } } },
    async (request) => executor.answer(request.person, request.params.id, request.params.n, request.body.answer),
  );

  r.post(
    "/runbook-runs/:id/steps/:n/approve",
    {
      schema: {
        params: runStep,
        body: z.strictObject({
          digest: z.string().regex(/^sha256:[0-9a-f]{64}$/, { message: "must be the sha256:<hex> digest of the plan" }),
          comment: z.string().max(2000).optional(),
        }),
        response: { 200: runSchema, ...ERRORS },
      },
    },
    async (request) => executor.approve(request.person, request.params.id, request.params.n, request.body),
  );

  r.post(
    "/runbook-runs/:id/steps/:n/reject",
    { schema: { params: runStep, body: z.strictObject({ reason: z.string().min(1).max(2000) }), response: { 200: runSchema, ...ERRORS } } },
    async (request) => executor.reject(request.person, request.params.id, request.params.n, request.body.reason),
  );

  r.post("/runbook-runs/:id/resume", { schema: { params: runId, response: { 200: runSchema, ...ERRORS } } }, async (request) =>
    executor.resume(request.person, request.params.id),
  );

  r.post("/runbook-runs/:id/cancel", { schema: { params: runId, response: { 200: runSchema, ...ERRORS } } }, async (request) =>
    executor.cancel(request.person, request.params.id),
  );
};
