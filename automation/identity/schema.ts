/**
 * paved.yaml `auth`: single sign-on through an OpenID Connect identity provider, CI
 * identities (GitHub Actions OIDC tokens) and whether static bearer tokens stay on.
 * The schema, and the checks that need the rest of the file (teams, approver groups).
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { TEAM_PATTERN } from "../../components/guardrails";
import { isLoopbackHost } from "./net";

const NAME = /^[a-z][a-z0-9._-]{0,62}$/;
const CLAIM = /^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/;

/** An issuer URL a verifier can use: https, or http on loopback (a local identity provider). */
export function issuerProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `"${text}" is not a URL: use the identity provider's issuer, like https://login.example.com/`;
  }
  if (url.protocol === "https:") return undefined;
  if (url.protocol === "http:" && isLoopbackHost(url.hostname)) return undefined;
  return `"${text}" must be an https URL (http only on loopback): tokens and keys are fetched from it`;
}

const issuerSchema = z.string().superRefine((text, ctx) => {
  const problem = issuerProblem(text);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/** An identity-provider group maps to one Paved team or one approver group. */
const groupMappingSchema = z.union([z.strictObject({ team: z.string().regex(TEAM_PATTERN) }), z.strictObject({ approverGroup: z.string().regex(NAME) })]);

/** Asymmetric signature algorithms only: never `none`, never an HMAC keyed with a public key. */
export const ALLOWED_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"] as const;

export const oidcSchema = z.strictObject({
  /** The identity provider's issuer (`iss`); its JWKS is discovered from it unless `jwks` is set. */
  issuer: issuerSchema,
  /** The `aud` API tokens must carry. */
  audience: z.string().min(1),
  /** A JWKS file (path relative to paved.yaml) for offline and air-gapped set-ups. */
  jwks: z.string().min(1).optional(),
  /** Which claims name the person and list their groups. Default `email` and `groups`. */
  claims: z
    .strictObject({ person: z.string().regex(CLAIM).default("email"), groups: z.string().regex(CLAIM).default("groups") })
    .default({ person: "email", groups: "groups" }),
  /** Identity-provider group -> `{ team }` or `{ approverGroup }`. */
  groups: z.record(z.string().min(1), groupMappingSchema).default({}),
  /** Signature algorithms accepted. Default: every asymmetric one. */
  algorithms: z.array(z.enum(ALLOWED_ALGORITHMS)).min(1).optional(),
  /** The web page's sign-in (authorization code + PKCE). `clientId` defaults to `audience`. */
  web: z
    .strictObject({
      clientId: z.string().min(1).optional(),
      /** Where the identity provider sends the browser back. Default: `<this service>/auth/callback`. */
      redirectUri: z.string().url().optional(),
      scopes: z.array(z.string().min(1)).default(["openid", "email", "profile"]),
    })
    .default({ scopes: ["openid", "email", "profile"] }),
});

/** The claims of a GitHub Actions OIDC token a CI identity can be matched on. */
const CI_CLAIMS = [
  "repository",
  "repository_owner",
  "ref",
  "ref_type",
  "workflow",
  "workflow_ref",
  "job_workflow_ref",
  "environment",
  "event_name",
  "sub",
] as const;

export const ciSchema = z.strictObject({
  issuer: issuerSchema,
  audience: z.string().min(1),
  /** A JWKS file instead of discovery (tests, air-gapped runners). */
  jwks: z.string().min(1).optional(),
  /** Every listed claim must equal the token's (a trailing `*` matches any rest). */
  match: z.partialRecord(z.enum(CI_CLAIMS), z.string().min(1)).refine((m) => Object.keys(m).length > 0, {
    message: "needs at least one claim (repository, ref, workflow, ...): otherwise every token of the issuer matches",
  }),
  /** The principal: an agent acting for a team. It may request and preview, never approve. */
  as: z.strictObject({
    agent: z.string().regex(NAME),
    team: z.string().regex(TEAM_PATTERN),
    /** A ceiling under the team's own autonomy. Default `none`: each of its changes waits for a person. */
    autonomy: z.enum(["none", "low", "medium", "high", "critical"]).default("none"),
  }),
});

export const authSchema = z
  .strictObject({
    oidc: oidcSchema.optional(),
    ci: z.array(ciSchema).default([]),
    /** Static bearer tokens (`people.<name>.token`). Default true: break-glass and the demo. */
    tokens: z.boolean().default(true),
  })
  .default({ ci: [], tokens: true });

export type AuthRaw = z.output<typeof authSchema>;
export type OidcRaw = z.output<typeof oidcSchema>;
export type CiRaw = z.output<typeof ciSchema>;

/** Problems of `auth` that need the rest of the file: unknown teams and approver groups, clashing names. */
export function authIssues(
  auth: AuthRaw,
  known: { teams: string[]; approverGroups: string[]; people: string[] },
): { path: (string | number)[]; message: string }[] {
  const issues: { path: (string | number)[]; message: string }[] = [];
  const teams = new Set(known.teams);
  const groups = new Set(known.approverGroups);
  for (const [idpGroup, m] of Object.entries(auth.oidc?.groups ?? {})) {
    if ("team" in m && !teams.has(m.team)) issues.push({ path: ["auth", "oidc", "groups", idpGroup, "team"], message: `"${m.team}" is not in teams` });
    if ("approverGroup" in m && !groups.has(m.approverGroup))
      issues.push({ path: ["auth", "oidc", "groups", idpGroup, "approverGroup"], message: `"${m.approverGroup}" is not in approverGroups` });
  }
  const agents = new Map<string, number>();
  auth.ci.forEach((ci, i) => {
    if (!teams.has(ci.as.team)) issues.push({ path: ["auth", "ci", i, "as", "team"], message: `"${ci.as.team}" is not in teams` });
    if (known.people.includes(ci.as.agent))
      issues.push({ path: ["auth", "ci", i, "as", "agent"], message: `"${ci.as.agent}" is a person in people: an agent needs a name of its own` });
    const first = agents.get(ci.as.agent);
    if (first !== undefined && auth.ci[first].as.team !== ci.as.team)
      issues.push({ path: ["auth", "ci", i, "as", "agent"], message: `"${ci.as.agent}" acts for team ${auth.ci[first].as.team} in auth.ci[${first}]` });
    else agents.set(ci.as.agent, i);
  });
  if (!auth.oidc && auth.ci.length === 0 && !auth.tokens)
    issues.push({ path: ["auth", "tokens"], message: "is false and neither oidc nor ci is configured: nobody could sign in" });
  return issues;
}

/** The key set in a JWKS file, or why it cannot be used. Private keys are refused. */
export function readJwks(path: string): { keys: Record<string, unknown>[] } | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code ? `${path} cannot be read: ${code}` : `${path} is not JSON: ${(err as Error).message}`;
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => k && typeof k === "object")) return `${path} holds no JWKS ({ "keys": [...] })`;
  if ((keys as Record<string, unknown>[]).some((k) => "d" in k || k.kty === "oct"))
    return `${path} holds a private or symmetric key: a verifier needs only the public keys`;
  return { keys: keys as Record<string, unknown>[] };
}
