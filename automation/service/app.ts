/**
 * The self-service HTTP API (Fastify): the app's framing (validation, the error shape,
 * security headers, throttles, shutdown) and one route plugin per resource in `routes/`.
 * Every route declares its params, body and responses; one error handler turns errors into
 * `{ error: { code, message, issues? } }` and hides the internals of a 5xx. Authentication
 * is `plugins/auth.ts`: every route needs a bearer token unless it is marked public.
 */
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import Fastify, { FastifyBaseLogger, FastifyInstance, FastifyReply } from "fastify";
import helmet from "@fastify/helmet";
import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { jsonSchemaTransform, serializerCompiler, ZodTypeProvider } from "fastify-type-provider-zod";
import type { FastifySchemaValidationError } from "fastify/types/schema";
import { z } from "zod";
import { describeZodIssue, formatPath, quote } from "../../stacks/spec";
import type { Runner } from "../runner";
import { isStoreUnavailable } from "../store/store";
import type { StoreHealth } from "../store/health";
import type { RunbookExecutor } from "../runbooks/executor";
import { Workflow } from "../workflow";
import { DomainError } from "../errors";
import { HTTP_STATUS } from "./errors";
import { authPlugin } from "./plugins/auth";
import { HTTP_CODES } from "./replies";
import { auditRoutes } from "./routes/audit";
import { autonomyRoutes } from "./routes/autonomy";
import { mcpRoutes } from "./routes/mcp";
import { catalogRoutes } from "./routes/catalog";
import { healthRoutes } from "./routes/health";
import { instanceRoutes } from "./routes/instances";
import { meRoutes } from "./routes/me";
import { notificationRoutes } from "./routes/notifications";
import { requestRoutes } from "./routes/requests";
import { runbookRoutes } from "./routes/runbooks";
import { webRoutes } from "./routes/web";
import { SessionCodec, sessionPerson, sessionRoutes } from "./routes/session";
import { Identity } from "../identity/verifier";
import { largeAsBuffer } from "./serializer";
import { StreamHub, StreamOptions } from "./streams";

declare module "fastify" {
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
  /** The web page's sessions: the cookie key (PAVED_SESSION_KEY; default random per process) and the OIDC client secret. */
  sessions?: { key?: string; clientSecret?: string };
}

/** Invalid input, as the validator reports it: every issue with its path. */
class InputError extends Error {
  readonly statusCode = 400;
  readonly validation: FastifySchemaValidationError[] = [];
  constructor(readonly issues: { path: string; message: string }[]) {
    super("the request is not valid");
  }
}

/** The service's log by default: info level, bearer tokens and cookies redacted. */
export const DEFAULT_LOG = { level: "info", redact: { paths: ["req.headers.authorization", "req.headers.cookie"], censor: "[redacted]" } };

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
  // The API's documentation is public.
  app.addHook("onRoute", (route) => {
    if (route.url === "/docs" || route.url.startsWith("/docs/")) route.config = { ...route.config, public: true };
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

  const identity = new Identity(workflow.config);
  const codec = new SessionCodec(options.sessions?.key);
  await app.register(authPlugin, {
    authenticate: (token) => identity.authenticate(token),
    session: (request) => sessionPerson(request, identity, codec),
    seen: (person) => workflow.config.learn(person),
    failures: limits.authFailures,
  });

  // Say on every answer which engine made it: with `simulate`, nothing real exists.
  app.addHook("onSend", async (_request, reply, payload) => {
    reply.header("x-paved-engine", workflow.engine.name);
    // API answers (and errors) are per person and change: never stored by a cache or proxy.
    if (String(reply.getHeader("content-type") ?? "").startsWith("application/json")) reply.header("cache-control", "no-store");
    return largeAsBuffer(payload);
  });

  const streams = new StreamHub(workflow, { perPerson: limits.streamsPerPerson, ...options.streams });
  app.decorate("streams", streams);

  await app.register(webRoutes);
  await app.register(healthRoutes, { workflow, health: options.health });
  await app.register(meRoutes);
  await app.register(catalogRoutes, { workflow });
  await app.register(requestRoutes, { workflow, streams, limits: { perPerson: limits.submissionsPerPerson, perTeam: limits.submissionsPerTeam } });
  await app.register(instanceRoutes, { workflow });
  await app.register(notificationRoutes, { workflow });
  await app.register(auditRoutes, { workflow });
  await app.register(autonomyRoutes, { workflow });
  await app.register(mcpRoutes);
  await app.register(sessionRoutes, { identity, codec, auth: workflow.config.auth, clientSecret: options.sessions?.clientSecret });
  if (options.runbooks) await app.register(runbookRoutes, { executor: options.runbooks });

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
