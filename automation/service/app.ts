/**
 * The self-service HTTP API (Fastify). Every route declares its params, body and
 * responses; one error handler turns errors into `{ error: { code, message, issues? } }`
 * and hides the internals of a 5xx. Requests need `Authorization: Bearer <token>`.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Fastify, { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { jsonSchemaTransform, serializerCompiler, ZodTypeProvider } from "fastify-type-provider-zod";
import type { FastifySchemaValidationError } from "fastify/types/schema";
import { z } from "zod";
import { catalogJsonSchemas } from "../../components/offerings";
import { describeZodIssue, formatPath } from "../../stacks/spec";
import type { Person } from "../config";
import type { Runner } from "../runner";
import { isStoreUnavailable } from "../store/store";
import type { RunbookExecutor } from "../../runbooks/executor";
import { registerRunbookRoutes } from "./runbookRoutes";
import { TERMINAL_STATUSES, Workflow, WorkflowError } from "../workflow";
import {
  approveBody,
  auditQuery,
  auditSchema,
  catalogSchema,
  createRequestBody,
  decodeCursor,
  encodeCursor,
  errorResponses,
  errorSchema,
  healthSchema,
  idParams,
  meSchema,
  instancesQuery,
  instancesSchema,
  listQuery,
  rejectBody,
  requestListSchema,
  requestSchema,
} from "./schemas";

declare module "fastify" {
  interface FastifyRequest {
    person?: Person;
  }
}

export interface AppOptions {
  workflow: Workflow;
  /** Serves the runbook routes when given. */
  runbooks?: RunbookExecutor;
  runner?: Runner;
  /** Pino logger options, or false for none. Default: info level, no request bodies. */
  logger?: boolean | object;
  /** Largest accepted body, in bytes. Default 64 KiB. */
  bodyLimit?: number;
}

/** Invalid input, as the validator reports it: every issue with its path. */
class InputError extends Error {
  readonly statusCode = 400;
  readonly validation: FastifySchemaValidationError[] = [];
  constructor(readonly issues: { path: string; message: string }[]) {
    super("the request is not valid");
  }
}

/** The page's files (automation/service/web, copied beside the build by `npm run build`). */
const WEB_DIR = join(__dirname, "web");
const WEB_FILES: [string, string, string][] = [
  ["/", "index.html", "text/html; charset=utf-8"],
  ["/ui/app.js", "app.js", "text/javascript; charset=utf-8"],
  ["/ui/app.css", "app.css", "text/css; charset=utf-8"],
];

const HTTP_CODES: Record<number, string> = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  406: "not_acceptable",
  413: "body_too_large",
  415: "unsupported_media_type",
  429: "too_many_requests",
};

const ERRORS = errorResponses;

/** The bearer token of a request, or undefined. */
function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { workflow } = options;
  const app = Fastify({
    logger:
      options.logger === undefined
        ? { level: "info", redact: { paths: ["req.headers.authorization", "req.headers.cookie"], censor: "[redacted]" } }
        : options.logger,
    bodyLimit: options.bodyLimit ?? 64 * 1024,
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(({ schema, httpPart }) => (data: unknown) => {
    const parsed = (schema as z.ZodType).safeParse(data, { reportInput: true });
    if (parsed.success) return { value: parsed.data };
    const prefix = httpPart === "body" || !httpPart ? [] : [httpPart === "querystring" ? "query" : httpPart];
    return { error: new InputError(parsed.error.issues.flatMap(describeZodIssue).map((i) => ({ path: formatPath([...prefix, ...i.path]), message: i.message }))) };
  });
  app.setSerializerCompiler(serializerCompiler);
  // JSON only: a text body is refused with 415 rather than failing validation.
  app.removeContentTypeParser("text/plain");

  await app.register(swagger, {
    openapi: {
      info: { title: "Paved self-service API", version: "1", description: "Request pre-approved resources; risky changes wait for sign-off." },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: "/docs" });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string; validation?: unknown }, request, reply) => {
    if (err instanceof WorkflowError) {
      return reply.status(err.status).send({ error: { code: err.code, message: err.message, ...(err.issues ? { issues: err.issues } : {}) } });
    }
    if (err instanceof InputError) {
      return reply.status(400).send({ error: { code: "invalid_request", message: err.message, issues: err.issues } });
    }
    if (isStoreUnavailable(err)) {
      request.log.warn({ code: err.code }, "store unavailable");
      return reply.status(503).header("retry-after", "5").send({ error: { code: "store_unavailable", message: "the store cannot be reached; try again shortly" } });
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const code = err.code === "FST_ERR_CTP_INVALID_JSON_BODY" || err.code === "FST_ERR_CTP_EMPTY_JSON_BODY" ? "invalid_json" : (HTTP_CODES[status] ?? "bad_request");
      return reply.status(status).send({ error: { code, message: err.message } });
    }
    request.log.error({ err }, "request failed");
    return reply.status(500).send({ error: { code: "internal", message: "internal error" } });
  });

  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send({ error: { code: "not_found", message: `no route ${request.method} ${request.url.split("?")[0]}` } });
  });

  // Everything but health, the docs and the page's static files needs a bearer token.
  app.addHook("onRequest", async (request, reply) => {
    const url = request.url.split("?")[0];
    if (url === "/healthz" || url === "/docs" || url.startsWith("/docs/") || url === "/" || url.startsWith("/ui/")) return;
    const token = bearer(request);
    const person = token ? workflow.config.authenticate(token) : undefined;
    if (!person) {
      reply.header("www-authenticate", 'Bearer realm="paved"');
      return reply.status(401).send({ error: { code: "unauthorized", message: token ? "the bearer token is not valid" : "an Authorization: Bearer <token> header is required" } });
    }
    request.person = person;
  });

  // Say on every answer which engine made it: with `simulate`, nothing real exists.
  app.addHook("onSend", async (_request, reply) => {
    reply.header("x-paved-engine", workflow.engine.name);
  });

  const me = (request: FastifyRequest): Person => request.person!;

  // The self-service page: static files, the API does the rest (the page sends the token).
  for (const [route, file, type] of WEB_FILES) {
    const body = readFileSync(join(WEB_DIR, file));
    app.get(route, { schema: { hide: true } }, async (_request, reply) =>
      reply
        .type(type)
        .header("content-security-policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'")
        .header("x-content-type-options", "nosniff")
        .send(body),
    );
  }

  app.get("/healthz", { schema: { response: { 200: healthSchema, 500: errorSchema, 503: errorSchema } } }, async () => {
    await workflow.store.ping();
    return { status: "ok" as const, engine: workflow.engine.name, store: workflow.store.dialect === "postgres" ? "postgres" : "sqlite" };
  });

  app.get("/me", { schema: { response: { 200: meSchema, ...ERRORS } } }, async (request) => {
    const { name, teams, groups } = me(request);
    return { name, teams, groups };
  });

  app.get("/catalog", { schema: { response: { 200: catalogSchema, ...ERRORS } } }, async () => ({ engine: workflow.engine.name, offerings: catalogJsonSchemas() }));

  app.post("/requests", { schema: { body: createRequestBody, response: { 202: requestSchema, ...ERRORS } } }, async (request, reply) => {
    const view = await workflow.submit(me(request), request.body);
    reply.header("location", `/requests/${view.id}`);
    return reply.status(202).send(view);
  });

  app.get("/requests", { schema: { querystring: listQuery, response: { 200: requestListSchema, ...ERRORS } } }, async (request) => {
    const person = me(request);
    const { limit, cursor } = request.query;
    const after = cursor === undefined ? undefined : decodeCursor(cursor);
    if (cursor !== undefined && !after) throw new WorkflowError(400, "invalid_request", "the request is not valid", [{ path: "query.cursor", message: "is not a cursor from a previous page" }]);
    // One more than the page: whether there is a next page.
    const rows = await workflow.store.listRequests({ status: request.query.status, team: request.query.team, teams: workflow.visibleTeams(person), limit: limit + 1, after });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      requests: await Promise.all(page.map((r) => workflow.view(r))),
      ...(rows.length > limit && last ? { next: encodeCursor(last.created_at, last.id) } : {}),
    };
  });

  app.get("/requests/:id", { schema: { params: idParams, response: { 200: requestSchema, ...ERRORS } } }, async (request) =>
    workflow.view(await workflow.getFor(me(request), request.params.id)),
  );

  app.post("/requests/:id/approve", { schema: { params: idParams, body: approveBody, response: { 200: requestSchema, ...ERRORS } } }, async (request) =>
    workflow.approve(me(request), request.params.id, request.body),
  );

  app.post("/requests/:id/reject", { schema: { params: idParams, body: rejectBody, response: { 200: requestSchema, ...ERRORS } } }, async (request) =>
    workflow.reject(me(request), request.params.id, request.body.reason),
  );

  app.post("/requests/:id/cancel", { schema: { params: idParams, response: { 200: requestSchema, ...ERRORS } } }, async (request) =>
    workflow.cancel(me(request), request.params.id),
  );

  app.get("/requests/:id/events", { schema: { params: idParams, response: { ...ERRORS } } }, async (request, reply) => {
    const row = await workflow.getFor(me(request), request.params.id);
    await streamEvents(workflow, row.id, request, reply);
  });

  app.get("/instances", { schema: { querystring: instancesQuery, response: { 200: instancesSchema, ...ERRORS } } }, async (request) => {
    const person = me(request);
    const rows = await workflow.store.listInstances({ team: request.query.team, teams: workflow.visibleTeams(person) });
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

  app.get("/audit", { schema: { querystring: auditQuery, response: { 200: auditSchema, ...ERRORS } } }, async (request) => {
    const person = me(request);
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

  if (options.runbooks) registerRunbookRoutes(app, options.runbooks);

  return app;
}

/**
 * Server-Sent Events for one request: every stored event (status changes and engine
 * progress), then new ones as they come, ending after a terminal status. `Last-Event-ID`
 * resumes after a reconnect. Other replicas' events are found by polling the store.
 */
async function streamEvents(workflow: Workflow, requestId: string, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    connection: "keep-alive",
    "x-paved-engine": workflow.engine.name,
  });
  let last = Number(request.headers["last-event-id"] ?? 0) || 0;
  let closed = false;
  request.raw.on("close", () => {
    closed = true;
  });
  await new Promise<void>((resolve) => {
    let busy = false;
    // An event that arrives while a flush runs gets a flush of its own right after.
    let again = false;
    const finish = () => {
      closed = true;
      clearInterval(poll);
      workflow.bus.off("event", onEvent);
      if (!res.writableEnded) res.end();
      resolve();
    };
    const flush = async (): Promise<void> => {
      if (closed) return;
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      again = false;
      try {
        for (const e of await workflow.store.eventsAfter(requestId, last)) {
          last = e.id;
          res.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${e.data}\n\n`);
          const data = JSON.parse(e.data) as { status?: string };
          if (e.type === "status" && data.status && (TERMINAL_STATUSES as readonly string[]).includes(data.status)) return finish();
        }
      } finally {
        busy = false;
      }
      if (closed) return finish();
      if (again) return flush();
    };
    // A store that cannot be reached for a moment: the next poll tries again.
    const tryFlush = () => flush().catch(() => undefined);
    const onEvent = (id: string) => {
      if (id === requestId) void tryFlush();
    };
    workflow.bus.on("event", onEvent);
    const poll = setInterval(() => void tryFlush(), 500);
    void tryFlush();
  });
}
