/**
 * The self-service HTTP API (Fastify). Every route declares its params, body and
 * responses; one error handler turns errors into `{ error: { code, message, issues? } }`
 * and hides the internals of a 5xx. Requests need `Authorization: Bearer <token>`.
 */
import { readFileSync } from "node:fs";
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import { join } from "node:path";
import Fastify, { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import helmet from "@fastify/helmet";
import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { jsonSchemaTransform, serializerCompiler, ZodTypeProvider } from "fastify-type-provider-zod";
import type { FastifySchemaValidationError } from "fastify/types/schema";
import { z } from "zod";
import { catalogJsonSchemas } from "../../components/offerings";
import { describeZodIssue, formatPath, quote } from "../../stacks/spec";
import type { Person } from "../config";
import type { Runner } from "../runner";
import { isStoreUnavailable } from "../store/store";
import type { StoreHealth } from "../store/health";
import type { RunbookExecutor } from "../runbooks/executor";
import { registerRunbookRoutes } from "./runbookRoutes";
import { Workflow } from "../workflow";
import { DomainError } from "../errors";
import { HTTP_STATUS } from "./errors";
import { StreamHub, StreamOptions } from "./streams";
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
  interface FastifyInstance {
    /** The open event streams (shutdown ends them with a `shutdown` event). */
    streams: StreamHub;
  }
}

export interface AppOptions {
  workflow: Workflow;
  /** Serves the runbook routes when given. */
  runbooks?: RunbookExecutor;
  runner?: Runner;
  /** Pino logger options, or false for none. Default: info level, no request bodies. */
  logger?: boolean | object;
  /** A logger shared with the rest of the service (wins over `logger`). */
  log?: FastifyBaseLogger;
  /** Largest accepted body, in bytes. Default 64 KiB. */
  bodyLimit?: number;
  /** The store's integrity checks: `/healthz` answers 503 while the last one failed. */
  health?: StoreHealth;
  /** Event streams: heartbeat interval and the cap per person. */
  streams?: StreamOptions;
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
  414: "uri_too_long",
  415: "unsupported_media_type",
  429: "too_many_requests",
};

const ERRORS = errorResponses;

/** The service's log by default: info level, bearer tokens and cookies redacted. */
export const DEFAULT_LOG = { level: "info", redact: { paths: ["req.headers.authorization", "req.headers.cookie"], censor: "[redacted]" } };

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
    ...(options.log ? { loggerInstance: options.log } : { logger: options.logger === undefined ? DEFAULT_LOG : options.logger }),
    bodyLimit: options.bodyLimit ?? 64 * 1024,
    // Answers Node's HTTP parser gives before any route (431, 400, 408) in the error shape too.
    clientErrorHandler: clientError,
    // While closing, new requests get the error shape from the hook below, not Fastify's own body.
    return503OnClosing: false,
    // The router's own refusals (a path segment over 100 characters, a malformed URL): the
    // error shape, and only a prefix of the path.
    frameworkErrors: (err, request, reply) => {
      const status = err.statusCode ?? 400;
      const path = quote(request.url.split("?")[0]);
      const [code, message] =
        err.code === "FST_ERR_MAX_PARAM_LENGTH"
          ? ["uri_too_long", `a part of the path ${path} is longer than 100 characters`]
          : err.code === "FST_ERR_BAD_URL"
            ? ["bad_url", `the path ${path} is not a valid URL`]
            : [HTTP_CODES[status] ?? "bad_request", err.message.slice(0, 200)];
      void (reply as FastifyReply).status(status).send({ error: { code, message } });
    },
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(({ schema, httpPart }) => (data: unknown) => {
    const parsed = (schema as z.ZodType).safeParse(data, { reportInput: true });
    if (parsed.success) return { value: parsed.data };
    const prefix = httpPart === "body" || !httpPart ? [] : [httpPart === "querystring" ? "query" : httpPart];
    return {
      error: new InputError(parsed.error.issues.flatMap(describeZodIssue).map((i) => ({ path: formatPath([...prefix, ...i.path]), message: i.message }))),
    };
  });
  app.setSerializerCompiler(serializerCompiler);
  // JSON only: a text body is refused with 415 rather than failing validation.
  app.removeContentTypeParser("text/plain");
  // An empty JSON body is no body (POST /requests/:id/cancel with a JSON content type); a
  // route that needs one says so through its schema.
  const json = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    if (body === "") return done(null, undefined);
    return json(request, body as string, done);
  });

  await app.register(swagger, {
    openapi: {
      info: { title: "Paved self-service API", version: "1", description: "Request pre-approved resources; risky changes wait for sign-off." },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  // Security headers on every answer (nosniff, frame and referrer policies). The API's CSP
  // allows nothing at all; the page and /docs set stricter-than-default policies of their own.
  await app.register(helmet, {
    global: true,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { "default-src": ["'none'"], "frame-ancestors": ["'none'"], "base-uri": ["'none'"], "form-action": ["'none'"] },
    },
  });
  await app.register(swaggerUi, {
    routePrefix: "/docs",
    // Swagger UI's own policy (its inline scripts by hash), but never framed.
    staticCSP: true,
    transformStaticCSP: (header) => header.replace("frame-ancestors 'self'", "frame-ancestors 'none'"),
  });

  // Throttles (limits in paved.yaml `limits`), counted in this replica's memory.
  await app.register(rateLimit, { global: false });
  const { limits } = workflow.config;
  const authFailures = app.createRateLimit({ max: limits.authFailures.max, timeWindow: limits.authFailures.windowMs, keyGenerator: (r) => `auth:${r.ip}` });
  const perPerson = app.createRateLimit({
    max: limits.submissionsPerPerson.max,
    timeWindow: limits.submissionsPerPerson.windowMs,
    keyGenerator: (r) => `person:${r.person?.name}`,
  });
  const perTeam = app.createRateLimit({
    max: limits.submissionsPerTeam.max,
    timeWindow: limits.submissionsPerTeam.windowMs,
    keyGenerator: (r) => `team:${(r.body as { team?: unknown } | undefined)?.team}`,
  });
  /** 429 with Retry-After and the error shape. */
  const tooMany = (reply: FastifyReply, retryAfterS: number, code: string, message: string) =>
    reply
      .status(429)
      .header("retry-after", String(Math.max(1, retryAfterS)))
      .send({ error: { code, message } });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string; validation?: unknown }, request, reply) => {
    if (err instanceof DomainError) {
      return reply.status(HTTP_STATUS[err.kind]).send({ error: { code: err.code, message: err.message, ...(err.issues ? { issues: err.issues } : {}) } });
    }
    if (err instanceof InputError) {
      return reply.status(400).send({ error: { code: "invalid_request", message: err.message, issues: err.issues } });
    }
    if (isStoreUnavailable(err)) {
      request.log.warn({ code: err.code }, "store unavailable");
      return reply
        .status(503)
        .header("retry-after", "5")
        .send({ error: { code: "store_unavailable", message: "the store cannot be reached; try again shortly" } });
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const code =
        err.code === "FST_ERR_CTP_INVALID_JSON_BODY" || err.code === "FST_ERR_CTP_EMPTY_JSON_BODY" ? "invalid_json" : (HTTP_CODES[status] ?? "bad_request");
      return reply.status(status).send({ error: { code, message: err.message } });
    }
    request.log.error({ err }, "request failed");
    return reply.status(500).send({ error: { code: "internal", message: "internal error" } });
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?")[0];
    reply.status(404).send({ error: { code: "not_found", message: `no route ${request.method} ${path.length <= 60 ? path : quote(path)}` } });
  });

  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  app.addHook("onRequest", async (_request, reply) => {
    if (!closing) return;
    reply.header("connection", "close").header("retry-after", "5");
    return reply.status(503).send({ error: { code: "shutting_down", message: "the service is stopping: try again in a moment" } });
  });

  // Everything but health, the docs and the page's static files needs a bearer token.
  app.addHook("onRequest", async (request, reply) => {
    const url = request.url.split("?")[0];
    if (url === "/healthz" || url === "/docs" || url.startsWith("/docs/") || url === "/" || url.startsWith("/ui/")) return;
    const token = bearer(request);
    // An address that failed too often waits out the window whatever it presents: guessing stays slow.
    const seen = await authFailures(request, { increment: false });
    if (!seen.isAllowed && seen.isExceeded) {
      return tooMany(
        reply,
        seen.ttlInSeconds,
        "too_many_failed_authentications",
        `too many requests with an invalid token from ${request.ip}: try again in ${seen.ttlInSeconds} s`,
      );
    }
    const person = token ? workflow.config.authenticate(token) : undefined;
    if (!person) {
      if (token) {
        const failed = await authFailures(request);
        if (!failed.isAllowed && failed.isExceeded) {
          return tooMany(
            reply,
            failed.ttlInSeconds,
            "too_many_failed_authentications",
            `too many requests with an invalid token from ${request.ip}: try again in ${failed.ttlInSeconds} s`,
          );
        }
      }
      reply.header("www-authenticate", 'Bearer realm="paved"');
      return reply
        .status(401)
        .send({ error: { code: "unauthorized", message: token ? "the bearer token is not valid" : "an Authorization: Bearer <token> header is required" } });
    }
    request.person = person;
  });

  // Say on every answer which engine made it: with `simulate`, nothing real exists.
  app.addHook("onSend", async (_request, reply) => {
    reply.header("x-paved-engine", workflow.engine.name);
    // API answers (and errors) are per person and change: never stored by a cache or proxy.
    if (String(reply.getHeader("content-type") ?? "").startsWith("application/json")) reply.header("cache-control", "no-store");
  });

  const me = (request: FastifyRequest): Person => request.person!;
  const streams = new StreamHub(workflow, { perPerson: limits.streamsPerPerson, ...options.streams });
  app.decorate("streams", streams);

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

  app.get("/healthz", { schema: { response: { 200: healthSchema, 500: errorSchema, 503: errorSchema } } }, async (_request, reply) => {
    const integrity = options.health?.integrity;
    if (integrity && !integrity.ok) {
      return reply
        .status(503)
        .send({ error: { code: "store_damaged", message: `the store failed its integrity check at ${integrity.checkedAt}: ${integrity.problem}` } });
    }
    await workflow.store.ping();
    return { status: "ok" as const, engine: workflow.engine.name, store: workflow.store.dialect === "postgres" ? "postgres" : "sqlite" };
  });

  app.get("/me", { schema: { response: { 200: meSchema, ...ERRORS } } }, async (request) => {
    const { name, teams, groups } = me(request);
    return { name, teams, groups };
  });

  app.get("/catalog", { schema: { response: { 200: catalogSchema, ...ERRORS } } }, async () => ({
    engine: workflow.engine.name,
    offerings: catalogJsonSchemas(),
  }));

  app.post("/requests", { schema: { body: createRequestBody, response: { 202: requestSchema, ...ERRORS } } }, async (request, reply) => {
    const person = me(request);
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
    const view = await workflow.submit(me(request), request.body);
    reply.header("location", `/requests/${view.id}`);
    return reply.status(202).send(view);
  });

  app.get("/requests", { schema: { querystring: listQuery, response: { 200: requestListSchema, ...ERRORS } } }, async (request) => {
    const person = me(request);
    const { limit, cursor } = request.query;
    const after = cursor === undefined ? undefined : decodeCursor(cursor);
    if (cursor !== undefined && !after)
      throw new DomainError("invalid", "invalid_request", "the request is not valid", [
        { path: "query.cursor", message: "is not a cursor from a previous page" },
      ]);
    // One more than the page: whether there is a next page.
    const rows = await workflow.store.listRequests({
      status: request.query.status,
      team: request.query.team,
      teams: workflow.visibleTeams(person),
      limit: limit + 1,
      after,
    });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      // A wait past the approval expiry shows as expired now, not when the sweeper next runs.
      requests: await Promise.all(page.map(async (r) => workflow.view(await workflow.current(r)))),
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

  app.get("/requests/:id/events", { schema: { params: idParams, response: { ...ERRORS, 429: errorSchema } } }, async (request, reply) => {
    const row = await workflow.getFor(me(request), request.params.id);
    await streams.open(me(request), row.id, request, reply);
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

/** Client errors Node's HTTP parser answers before any route: in the API's error shape. */
function clientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const [status, code, message] =
    err.code === "HPE_HEADER_OVERFLOW"
      ? [431, "headers_too_large", "the request's headers are larger than the server accepts (16 KiB)"]
      : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "request_timeout", "the request was not received in time"]
        : [400, "bad_request", "the request is not valid HTTP"];
  const body = JSON.stringify({ error: { code, message } });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}
