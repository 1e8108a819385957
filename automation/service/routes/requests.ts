/** Requests: submit (throttled per person and team), list, read, approve, reject, cancel, follow. */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { Limit } from "../../config";
import { DomainError } from "../../errors";
import type { Workflow } from "../../workflow";
import { sendJsonText, tooMany } from "../replies";
import type { StreamHub } from "../streams";
import { pageText, ViewTexts } from "../viewTexts";
import {
  approveBody,
  createRequestBody,
  decodeCursor,
  encodeCursor,
  errorResponses,
  errorSchema,
  idParams,
  listQuery,
  rejectBody,
  requestListSchema,
  requestSchema,
} from "../schemas";

export interface RequestRouteOptions {
  workflow: Workflow;
  streams: StreamHub;
  /** Submissions allowed per person and per team in a window (paved.yaml `limits`). */
  limits: { perPerson: Limit; perTeam: Limit };
  /** The views' texts (kept for ended requests). Default: new ones over `workflow`. */
  texts?: ViewTexts;
}

const ERRORS = errorResponses;

/** Views' texts over the workflow: rows from its store, views as it builds them. */
export function viewTextsOf(workflow: Workflow): ViewTexts {
  return new ViewTexts({ rows: (ids) => workflow.store.getRequests(ids), views: (rows) => workflow.views(rows) });
}

export const requestRoutes: FastifyPluginAsyncZod<RequestRouteOptions> = async (app, { workflow, streams, limits, texts = viewTextsOf(workflow) }) => {
  // Counted in this replica's memory.
  const perPerson = app.createRateLimit({ max: limits.perPerson.max, timeWindow: limits.perPerson.windowMs, keyGenerator: (r) => `person:${r.person.name}` });
  const perTeam = app.createRateLimit({
    max: limits.perTeam.max,
    timeWindow: limits.perTeam.windowMs,
    keyGenerator: (r) => `team:${(r.body as { team?: unknown } | undefined)?.team}`,
  });

  app.post("/requests", { schema: { body: createRequestBody, response: { 202: requestSchema, ...ERRORS } } }, async (request, reply) => {
    const { person } = request;
    const mine = await perPerson(request);
    if (!mine.isAllowed && mine.isExceeded) {
      return tooMany(
        reply,
        mine.ttlInSeconds,
        "too_many_submissions",
        `${person.name} submitted more than ${mine.max} requests in ${Math.round(mine.timeWindow / 1000)} s: try again in ${mine.ttlInSeconds} s`,
      );
    }
    if (person.teams.includes(request.body.team)) {
      const team = await perTeam(request);
      if (!team.isAllowed && team.isExceeded) {
        return tooMany(
          reply,
          team.ttlInSeconds,
          "too_many_submissions",
          `team ${request.body.team} submitted more than ${team.max} requests in ${Math.round(team.timeWindow / 1000)} s: try again in ${team.ttlInSeconds} s`,
        );
      }
    }
    const view = await workflow.submit(person, request.body);
    reply.header("location", `/requests/${view.id}`);
    return reply.status(202).send(view);
  });

  // The list and a request are answered as text: ended requests' views are kept encoded
  // (viewTexts.ts), so the response schemas below document the answers rather than encode them.
  app.get("/requests", { schema: { querystring: listQuery, response: { 200: requestListSchema, ...ERRORS } } }, async (request, reply) => {
    const { limit, cursor } = request.query;
    const after = cursor === undefined ? undefined : decodeCursor(cursor);
    if (cursor !== undefined && !after)
      throw new DomainError("invalid", "invalid_request", "the request is not valid", [
        { path: "query.cursor", message: "is not a cursor from a previous page" },
      ]);
    // One more than the page: whether there is a next page.
    const rows = await workflow.store.listRequestKeys({
      status: request.query.status,
      team: request.query.team,
      teams: workflow.visibleTeams(request.person),
      limit: limit + 1,
      after,
    });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    // A wait past the approval expiry shows as expired now, not when the sweeper next runs.
    const body = pageText(await texts.of(page), rows.length > limit && last ? encodeCursor(last.created_at, last.id) : undefined);
    return sendJsonText(reply, body);
  });

  app.get("/requests/:id", { schema: { params: idParams, response: { 200: requestSchema, ...ERRORS } } }, async (request, reply) => {
    const row = await workflow.getFor(request.person, request.params.id);
    const [text] = await texts.of([row], [row]);
    return sendJsonText(reply, text!);
  });

  app.post("/requests/:id/approve", { schema: { params: idParams, body: approveBody, response: { 200: requestSchema, ...ERRORS } } }, async (request) =>
    workflow.approve(request.person, request.params.id, request.body),
  );

  app.post("/requests/:id/reject", { schema: { params: idParams, body: rejectBody, response: { 200: requestSchema, ...ERRORS } } }, async (request) =>
    workflow.reject(request.person, request.params.id, request.body.reason),
  );

  app.post("/requests/:id/cancel", { schema: { params: idParams, response: { 200: requestSchema, ...ERRORS } } }, async (request) =>
    workflow.cancel(request.person, request.params.id),
  );

  app.get("/requests/:id/events", { schema: { params: idParams, response: { ...ERRORS, 429: errorSchema } } }, async (request, reply) => {
    const row = await workflow.getFor(request.person, request.params.id);
    await streams.open(request.person, row.id, request, reply);
  });
};
