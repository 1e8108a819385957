/**
 * The web page's sign-in with the identity provider: authorization code + PKCE with
 * `openid-client`, then an encrypted session cookie (`dir` + A256GCM, jose's EncryptJWT),
 * HttpOnly, SameSite=Strict, Secure unless the page is on loopback. The cookie carries the
 * person and group claims only: who they are in Paved is worked out again on each request,
 * so a change of paved.yaml applies at once. Sign-out clears it.
 *
 * CSRF: a cookie-authenticated call that changes something must carry `x-paved-csrf: 1`
 * (a custom header: no other site can send it without a CORS preflight this service never
 * allows) and, when the browser sends one, an `Origin` of this service.
 */
import { hkdfSync, randomBytes } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { EncryptJWT, jwtDecrypt, JWTPayload } from "jose";
import * as oidcClient from "openid-client";
import { z } from "zod";
import type { Person } from "../../config";
import { DomainError } from "../../errors";
import { isLoopbackHost } from "../../identity/net";
import type { Identity } from "../../identity/verifier";
import type { AuthSettings } from "../../config";
import { errorSchema } from "../schemas";

export const SESSION_COOKIE = "paved_session";
const LOGIN_COOKIE = "paved_login";
/** How long a session lasts: a working day. */
export const SESSION_TTL_S = 8 * 3600;
const LOGIN_TTL_S = 600;
export const CSRF_HEADER = "x-paved-csrf";

/** Seals and opens cookie payloads with a 256-bit key (dir + A256GCM). */
export class SessionCodec {
  private readonly key: Uint8Array;

  /** `secret`: PAVED_SESSION_KEY (32+ characters). Without one, a random key: sessions end with the process. */
  constructor(secret?: string) {
    if (secret !== undefined && secret.length < 32) throw new Error("PAVED_SESSION_KEY must be at least 32 characters (e.g. openssl rand -base64 32)");
    const material = secret === undefined ? randomBytes(32) : Buffer.from(secret, "utf8");
    this.key = new Uint8Array(hkdfSync("sha256", material, "paved", "paved session cookie", 32));
  }

  seal(payload: Record<string, unknown>, ttlS: number, purpose: string): Promise<string> {
    return new EncryptJWT({ ...payload, purpose })
      .setProtectedHeader({ alg: "dir", enc: "A256GCM" })
      .setIssuedAt()
      .setExpirationTime(`${ttlS}s`)
      .encrypt(this.key);
  }

  /** The payload, or undefined when the cookie is forged, tampered with, expired or for another purpose. */
  async open(value: string, purpose: string): Promise<JWTPayload | undefined> {
    try {
      const { payload } = await jwtDecrypt(value, this.key, { keyManagementAlgorithms: ["dir"], contentEncryptionAlgorithms: ["A256GCM"] });
      return payload.purpose === purpose ? payload : undefined;
    } catch {
      return undefined;
    }
  }
}

/** The value of cookie `name` in the request, or undefined. */
export function readCookie(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function cookie(request: FastifyRequest, name: string, value: string, attrs: { path: string; maxAge: number; sameSite: "Strict" | "Lax" }): string {
  const secure = isLoopbackHost(request.hostname) ? "" : "; Secure";
  return `${name}=${value}; Path=${attrs.path}; Max-Age=${attrs.maxAge}; HttpOnly; SameSite=${attrs.sameSite}${secure}`;
}

/**
 * The person of the request's session cookie, or undefined without one. Throws
 * `invalid_token` for a cookie that does not open (forged, expired) and `csrf` for a
 * state-changing call without the CSRF header or from another origin.
 */
export async function sessionPerson(request: FastifyRequest, identity: Identity, codec: SessionCodec): Promise<Person | undefined> {
  const value = readCookie(request, SESSION_COOKIE);
  if (value === undefined || !identity.sso) return undefined;
  const payload = await codec.open(value, "session");
  if (!payload) throw new DomainError("unauthenticated", "invalid_token", "the session expired or is not valid: sign in again");
  if (!["GET", "HEAD", "OPTIONS"].includes(request.method)) {
    const origin = request.headers.origin;
    if (request.headers[CSRF_HEADER] !== "1") {
      throw new DomainError("forbidden", "csrf", `a call that changes something needs the ${CSRF_HEADER}: 1 header when signed in with a session cookie`);
    }
    if (origin !== undefined && origin !== `${request.protocol}://${request.host}`) {
      throw new DomainError("forbidden", "csrf", `calls from ${origin} are not accepted with a session cookie`);
    }
  }
  return identity.personOf(payload.claims as Record<string, unknown>);
}

export interface SessionRoutesOptions {
  identity: Identity;
  codec: SessionCodec;
  auth: AuthSettings;
  /** PAVED_OIDC_CLIENT_SECRET, for a confidential client; without it a public client (PKCE). */
  clientSecret?: string;
}

const authConfigSchema = z.object({ sso: z.boolean(), tokens: z.boolean() });

/** `/auth/config`, `/auth/login`, `/auth/callback`, `/auth/logout`. */
export const sessionRoutes: FastifyPluginAsyncZod<SessionRoutesOptions> = async (app, options) => {
  const { codec, auth, identity } = options;
  const oidc = auth.oidc;
  let discovered: Promise<oidcClient.Configuration> | undefined;
  const client = () => {
    if (!oidc) throw new DomainError("not_found", "sso_not_configured", "single sign-on is not configured (auth.oidc in paved.yaml)");
    discovered ??= oidcClient
      .discovery(
        new URL(oidc.issuer),
        oidc.web.clientId ?? oidc.audience,
        options.clientSecret,
        options.clientSecret === undefined ? oidcClient.None() : undefined,
        // http is accepted only for an issuer on loopback (checked at start-up).
        new URL(oidc.issuer).protocol === "http:" ? { execute: [oidcClient.allowInsecureRequests] } : undefined,
      )
      .catch((err: unknown) => {
        discovered = undefined;
        app.log.warn({ err }, "identity provider discovery failed");
        throw new DomainError("unavailable", "idp_unavailable", `the identity provider ${oidc.issuer} cannot be reached: try again shortly`);
      });
    return discovered;
  };
  const redirectUri = (request: FastifyRequest) => oidc?.web.redirectUri ?? `${request.protocol}://${request.host}/auth/callback`;
  const clearLogin = (request: FastifyRequest, reply: FastifyReply) =>
    reply.header("set-cookie", cookie(request, LOGIN_COOKIE, "", { path: "/auth/callback", maxAge: 0, sameSite: "Lax" }));

  app.get("/auth/config", { config: { public: true }, schema: { response: { 200: authConfigSchema } } }, async () => ({
    sso: oidc !== undefined,
    tokens: auth.tokens,
  }));

  app.get("/auth/login", { config: { public: true }, schema: { hide: true } }, async (request, reply) => {
    const config = await client();
    const verifier = oidcClient.randomPKCECodeVerifier();
    const state = oidcClient.randomState();
    const nonce = oidcClient.randomNonce();
    const url = oidcClient.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri(request),
      scope: oidc!.web.scopes.join(" "),
      code_challenge: await oidcClient.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
      state,
      nonce,
    });
    const sealed = await codec.seal({ verifier, state, nonce }, LOGIN_TTL_S, "login");
    // Lax: the identity provider sends the browser back with a cross-site navigation.
    reply.header("set-cookie", cookie(request, LOGIN_COOKIE, sealed, { path: "/auth/callback", maxAge: LOGIN_TTL_S, sameSite: "Lax" }));
    return reply.redirect(url.href, 302);
  });

  app.get("/auth/callback", { config: { public: true }, schema: { hide: true } }, async (request, reply) => {
    const config = await client();
    const sealed = readCookie(request, LOGIN_COOKIE);
    const login = sealed ? await codec.open(sealed, "login") : undefined;
    if (!login) throw new DomainError("invalid", "login_expired", "the sign-in took too long or was started elsewhere: sign in again");
    const current = new URL(redirectUri(request));
    current.search = new URL(request.url, "http://x").search;
    let claims: Record<string, unknown>;
    try {
      const tokens = await oidcClient.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: String(login.verifier),
        expectedState: String(login.state),
        expectedNonce: String(login.nonce),
        idTokenExpected: true,
      });
      claims = { ...tokens.claims() };
      const wanted = [oidc!.claims.person, oidc!.claims.groups];
      // Providers that keep profile claims out of the ID token answer them at userinfo.
      if (wanted.some((c) => claims[c] === undefined) && config.serverMetadata().userinfo_endpoint) {
        claims = { ...(await oidcClient.fetchUserInfo(config, tokens.access_token, String(claims.sub))), ...claims };
      }
    } catch (err) {
      // The error's name, code and message only: openid-client errors carry the provider's
      // answer (its body, claims) as `cause`, which has no place in a log line.
      const e = err as { name?: string; code?: string; message?: string };
      request.log.warn({ err: { name: e.name, code: e.code, message: e.message } }, "sign-in failed");
      clearLogin(request, reply);
      throw new DomainError("unauthenticated", "sign_in_failed", `the identity provider's answer was not accepted: ${(err as Error).message}`);
    }
    const person = identity.personOf(claims);
    request.log.info({ person: person.name }, "signed in");
    const kept = { [oidc!.claims.person]: claims[oidc!.claims.person], [oidc!.claims.groups]: claims[oidc!.claims.groups] };
    const session = await codec.seal({ claims: kept }, SESSION_TTL_S, "session");
    reply.header("set-cookie", [
      cookie(request, LOGIN_COOKIE, "", { path: "/auth/callback", maxAge: 0, sameSite: "Lax" }),
      cookie(request, SESSION_COOKIE, session, { path: "/", maxAge: SESSION_TTL_S, sameSite: "Strict" }),
    ]);
    return reply.redirect("/", 303);
  });

  app.post("/auth/logout", { config: { public: true }, schema: { response: { 204: z.null(), 403: errorSchema } } }, async (request, reply) => {
    if (request.headers[CSRF_HEADER] !== "1") throw new DomainError("forbidden", "csrf", `signing out needs the ${CSRF_HEADER}: 1 header`);
    reply.header("set-cookie", cookie(request, SESSION_COOKIE, "", { path: "/", maxAge: 0, sameSite: "Strict" }));
    return reply.status(204).send(null);
  });
};
