/**
 * Authentication, as a plugin: every route needs `Authorization: Bearer <token>` (a static
 * token or a JWT of the identity provider or a CI issuer, see `identity/verifier.ts`) or
 * the web page's session cookie, unless it says `config: { public: true }`. Unverifiable
 * credentials get 401 with `www-authenticate: Bearer error="invalid_token", error_description`;
 * a verified person Paved does not know gets 403 `unknown_person`. The principal is `request.person`, declared here; reading
 * it on a public route is a programming error and throws.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import type { Limit, Person } from "../../config";
import { DomainError } from "../../errors";
import { HTTP_STATUS } from "../errors";
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
  /** The principal a bearer token stands for; throws a DomainError (`invalid_token`, `unknown_person`) or returns undefined. */
  authenticate(token: string): Promise<Person | undefined> | Person | undefined;
  /** The principal of the request's session cookie, undefined without one; throws like `authenticate`. */
  session?(request: FastifyRequest): Promise<Person | undefined>;
  /** Told of every principal authenticated (to remember the approver groups an identity provider gave). */
  seen?(person: Person): void;
  /** Failed authentications allowed per client address and window. */
  failures: Limit;
}

const PERSON = Symbol("paved.person");
type WithPerson = FastifyRequest & { [PERSON]?: Person };

/** A quoted-string of a `www-authenticate` parameter (RFC 9110): no quotes, backslashes or controls. */
const quoted = (text: string) => `"${text.replace(/["\\\x00-\x1f\x7f]/g, "'")}"`;

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
    let person: Person | undefined;
    let refusal: DomainError | undefined;
    try {
      person = token ? await options.authenticate(token) : await options.session?.(request);
      if (token && !person) refusal = new DomainError("unauthenticated", "invalid_token", "the bearer token is not valid");
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      refusal = err;
    }
    if (refusal && refusal.kind !== "unauthenticated") {
      // Verified, but not allowed in (unknown_person, csrf): not a guess, not counted.
      return reply.status(HTTP_STATUS[refusal.kind]).send({ error: { code: refusal.code, message: refusal.message } });
    }
    if (!person) {
      if (refusal) {
        const failed = await failures(request);
        if (!failed.isAllowed && failed.isExceeded) return tooMany(reply, ...refuse(failed, request));
        reply.header("www-authenticate", `Bearer realm="paved", error="invalid_token", error_description=${quoted(refusal.message)}`);
      } else reply.header("www-authenticate", 'Bearer realm="paved"');
      return reply
        .status(401)
        .send({ error: { code: "unauthorized", message: refusal ? refusal.message : "an Authorization: Bearer <token> header is required" } });
    }
    options.seen?.(person);
    (request as WithPerson)[PERSON] = person;
  });
}

/** The authentication plugin (not encapsulated: its hook guards every route of the app). */
export const authPlugin = fp(auth, { name: "paved-auth", dependencies: ["@fastify/rate-limit"] });
