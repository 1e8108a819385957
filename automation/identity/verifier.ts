/**
 * Bearer tokens to principals. A JWT is verified with `jose` against the keys of the
 * issuer it names (the identity provider of `auth.oidc`, or a CI issuer of `auth.ci`):
 * signature with an asymmetric algorithm from an allow-list (never `none`, never an HMAC
 * keyed with a public key), `iss`, `aud`, `exp` (required) and `nbf` with a small clock
 * skew. Keys come from a JWKS file, or from the issuer's discovered `jwks_uri`, cached and
 * refetched when a token names a key id the cache lacks (key rotation). Anything else is a
 * static token, looked up hashed when `auth.tokens` is on.
 *
 * Errors: `unauthenticated`/`invalid_token` with a description for anything unverifiable,
 * `forbidden`/`unknown_person` for a verified person nobody configured.
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  JSONWebKeySet,
  JWTPayload,
  jwtVerify,
  JWTVerifyGetKey,
} from "jose";
import type { Person } from "../config";
import { DomainError } from "../errors";
import { ciPrincipal, Directory, oidcPrincipal } from "./principal";
import { ALLOWED_ALGORITHMS, CiRaw, OidcRaw } from "./schema";

/** Clock skew tolerated on `exp` and `nbf`, in seconds. */
export const CLOCK_TOLERANCE_S = 30;

/** What the verifier needs of the configuration (`PavedConfig` has it). */
export interface IdentityConfig extends Directory {
  auth: {
    oidc?: OidcRaw & { keys?: JSONWebKeySet };
    ci: (CiRaw & { keys?: JSONWebKeySet })[];
    tokens: boolean;
  };
  /** The holder of a static token, compared hashed in constant time. */
  authenticate(token: string): Person | undefined;
}

export interface IdentityOptions {
  /** For discovery and JWKS fetches (tests); default the global fetch. */
  fetch?: typeof fetch;
  /** The verifier's clock (tests). */
  now?: () => Date;
  /** How long fetched keys are trusted before a refetch. Default 10 minutes. */
  jwksCacheMaxAgeMs?: number;
  /** The least time between two refetches for an unknown key id. Default 30 s. */
  jwksCooldownMs?: number;
}

const invalid = (description: string) => new DomainError("unauthenticated", "invalid_token", description);
/** The issuer's keys cannot be had: not the token's fault, so 503 and not 401 (clients retry). */
const unavailable = (issuer: string) =>
  new DomainError("unavailable", "idp_unavailable", `the keys of ${issuer} cannot be fetched right now: try again shortly`);

/** Whether `token` has the shape of a JWS compact serialization (three base64url parts). */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}

/** A description of a jose failure a client can act on (no secrets, no key material). */
export function describeJoseError(err: unknown, expected: { issuer: string; audience: string | string[] }): string {
  if (err instanceof joseErrors.JWTExpired) return `the token expired (exp ${String(err.payload.exp)})`;
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === "nbf") return `the token is not valid yet (nbf ${String(err.payload.nbf)})`;
    if (err.claim === "aud") return `the token's audience is not ${[expected.audience].flat().join(" or ")}`;
    if (err.claim === "iss") return `the token's issuer is not ${expected.issuer}`;
    if (err.claim === "exp") return "the token has no expiry (exp)";
    return `the token's ${err.claim} claim is not valid: ${err.reason}`;
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey) return "no key of the issuer matches the token's key id (kid)";
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return "the token's signature does not verify";
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return "the token's algorithm is not allowed";
  if (err instanceof joseErrors.JWTInvalid || err instanceof joseErrors.JWSInvalid) return "the token is malformed";
  return `the token cannot be verified (${(err as { code?: string }).code ?? "unknown"})`;
}

/** Keys of one issuer: a local JWKS, or the discovered `jwks_uri` fetched and cached. */
class IssuerKeys {
  private remote?: Promise<JWTVerifyGetKey>;
  private readonly local?: JWTVerifyGetKey;

  constructor(
    readonly issuer: string,
    keys: JSONWebKeySet | undefined,
    private readonly options: IdentityOptions,
  ) {
    if (keys) this.local = createLocalJWKSet(keys);
  }

  /** The key function jose calls with the token's header. */
  async getKey(): Promise<JWTVerifyGetKey> {
    if (this.local) return this.local;
    this.remote ??= this.discover().catch((err: unknown) => {
      this.remote = undefined; // try again on the next token
      throw err;
    });
    return this.remote;
  }

  private async discover(): Promise<JWTVerifyGetKey> {
    const doFetch = this.options.fetch ?? fetch;
    const url = `${this.issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
    let jwksUri: unknown;
    try {
      const res = await doFetch(url, { signal: AbortSignal.timeout(5000), headers: { accept: "application/json" } });
      if (!res.ok) throw new Error(`${url} answered ${res.status}`);
      jwksUri = ((await res.json()) as { jwks_uri?: unknown }).jwks_uri;
    } catch {
      throw unavailable(this.issuer);
    }
    if (typeof jwksUri !== "string") throw invalid(`${this.issuer} publishes no jwks_uri`);
    return createRemoteJWKSet(new URL(jwksUri), {
      cacheMaxAge: this.options.jwksCacheMaxAgeMs ?? 10 * 60_000,
      cooldownDuration: this.options.jwksCooldownMs ?? 30_000,
      timeoutDuration: 5000,
      ...(this.options.fetch ? { [customFetch]: this.options.fetch } : {}),
    });
  }
}

export class Identity {
  private readonly oidcKeys?: IssuerKeys;
  private readonly ciKeys = new Map<string, IssuerKeys>();

  constructor(
    private readonly config: IdentityConfig,
    private readonly options: IdentityOptions = {},
  ) {
    const { oidc, ci } = config.auth;
    if (oidc) this.oidcKeys = new IssuerKeys(oidc.issuer, oidc.keys, options);
    for (const entry of ci) {
      if (!this.ciKeys.has(entry.issuer)) this.ciKeys.set(entry.issuer, new IssuerKeys(entry.issuer, entry.keys, options));
    }
  }

  /** Whether single sign-on through an identity provider is configured. */
  get sso(): boolean {
    return this.config.auth.oidc !== undefined;
  }

  /** The principal a bearer token names. Throws `invalid_token` (401) or `unknown_person` (403). */
  async authenticate(token: string): Promise<Person> {
    const jwts = this.config.auth.oidc !== undefined || this.config.auth.ci.length > 0;
    if (jwts && looksLikeJwt(token)) return this.verifyJwt(token);
    if (!this.config.auth.tokens) throw invalid("static tokens are turned off (auth.tokens: false): sign in with the identity provider");
    const person = this.config.authenticate(token);
    if (!person) throw invalid("the bearer token is not valid");
    return person;
  }

  /** The person of verified identity-provider claims (a session's): `unknown_person` when nobody configured them. */
  personOf(claims: Record<string, unknown>): Person {
    const { oidc } = this.config.auth;
    if (!oidc) throw invalid("single sign-on is not configured");
    return oidcPrincipal(claims, oidc, this.config);
  }

  private async verifyJwt(token: string): Promise<Person> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch {
      throw invalid("the token is malformed");
    }
    const { oidc, ci } = this.config.auth;
    const iss = unverified.iss;
    if (oidc && iss === oidc.issuer) {
      const payload = await this.verify(token, header.alg, this.oidcKeys!, oidc.audience, oidc.algorithms);
      return this.personOf(payload);
    }
    const ciKeys = typeof iss === "string" ? this.ciKeys.get(iss) : undefined;
    if (ciKeys) {
      const entries = ci.filter((e) => e.issuer === iss);
      const payload = await this.verify(token, header.alg, ciKeys, [...new Set(entries.map((e) => e.audience))]);
      const agent = ciPrincipal(payload, entries);
      if (!agent) {
        const repo = typeof payload.repository === "string" ? ` (repository ${payload.repository}, ref ${String(payload.ref)})` : "";
        throw new DomainError("forbidden", "unknown_person", `the CI token${repo} matches no auth.ci entry`);
      }
      return agent;
    }
    throw invalid(typeof iss === "string" ? `the token's issuer ${iss} is not trusted` : "the token names no issuer (iss)");
  }

  private async verify(token: string, alg: string | undefined, keys: IssuerKeys, audience: string | string[], algorithms?: string[]): Promise<JWTPayload> {
    const allowed: readonly string[] = algorithms ?? ALLOWED_ALGORITHMS;
    // Checked before any key is fetched: `none` and HMACs never reach a key.
    if (!alg || !allowed.includes(alg)) {
      throw invalid(`the token's algorithm ${alg ?? "(none)"} is not allowed: only ${allowed.join(", ")}`);
    }
    const getKey = await keys.getKey();
    try {
      const { payload } = await jwtVerify(token, getKey, {
        issuer: keys.issuer,
        audience,
        algorithms: [...allowed],
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ["exp"],
        ...(this.options.now ? { currentDate: this.options.now() } : {}),
      });
      return payload;
    } catch (err) {
      const fetchFailed = err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid || !(err instanceof joseErrors.JOSEError);
      throw fetchFailed ? unavailable(keys.issuer) : invalid(describeJoseError(err, { issuer: keys.issuer, audience }));
    }
  }
}
