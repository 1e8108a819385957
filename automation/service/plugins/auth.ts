/**
 * Authentication, as a plugin: every route needs `Authorization: Bearer <token>` unless it
 * says `config: { public: true }`. The principal is `request.person`, declared here; reading
 * it on a public route is a programming error and throws.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import type { Limit, Person } from "../../config";
import { tooMany } from "../replies";

declare module "fastify" {
  interface FastifyRequest {
    /** Who is asking: set on every route that is not public. */
    readonly person: Person;
  }
  interface FastifyContextConfig {
    /** Served without a token (health, the page's files, the API docs). */
    public?: boolean;
  }
}

export interface AuthOptions {
  /** The principal a bearer token stands for, or undefined. */
  authenticate(token: string): Person | undefined;
  /** Failed authentications allowed per client address and window. */
  failures: Limit;
}

const PERSON = Symbol("paved.person");
type WithPerson = FastifyRequest & { [PERSON]?: Person };

/** The bearer token of a request, or undefined. */
export function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

async function auth(app: FastifyInstance, options: AuthOptions): Promise<void> {
  app.decorateRequest("person", {
    getter(this: WithPerson): Person {
      const person = this[PERSON];
      if (!person) throw new Error(`request.person read on ${this.method} ${this.url}, which is public or not yet authenticated`);
      return person;
    },
  });
  const failures = app.createRateLimit({ max: options.failures.max, timeWindow: options.failures.windowMs, keyGenerator: (r) => `auth:${r.ip}` });
  const refuse = (seen: { ttlInSeconds: number }, request: FastifyRequest) =>
    [
      seen.ttlInSeconds,
      "too_many_failed_authentications",
      `too many requests with an invalid token from ${request.ip}: try again in ${seen.ttlInSeconds} s`,
    ] as const;

  app.addHook("onRequest", async (request, reply) => {
    if (request.routeOptions.config.public) return;
    const token = bearer(request);
    // An address that failed too often waits out the window whatever it presents: guessing stays slow.
    const seen = await failures(request, { increment: false });
    if (!seen.isAllowed && seen.isExceeded) return tooMany(reply, ...refuse(seen, request));
    const person = token ? options.authenticate(token) : undefined;
    if (!person) {
      if (token) {
        const failed = await failures(request);
        if (!failed.isAllowed && failed.isExceeded) return tooMany(reply, ...refuse(failed, request));
      }
      reply.header("www-authenticate", 'Bearer realm="paved"');
      return reply
        .status(401)
        .send({ error: { code: "unauthorized", message: token ? "the bearer token is not valid" : "an Authorization: Bearer <token> header is required" } });
    }
    (request as WithPerson)[PERSON] = person;
  });
}

/** The authentication plugin (not encapsulated: its hook guards every route of the app). */
export const authPlugin = fp(auth, { name: "paved-auth", dependencies: ["@fastify/rate-limit"] });
