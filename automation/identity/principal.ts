/**
 * Who a verified token names: the person of an identity-provider token (their teams and
 * approver groups from paved.yaml, from the provider's groups, or both), or the agent of
 * a CI token. Pure functions over already-verified claims.
 */
import type { Person } from "../config";
import { DomainError } from "../errors";
import type { CiRaw, OidcRaw } from "./schema";

/** What the mapping needs of paved.yaml. */
export interface Directory {
  /** The paved.yaml person a claim value names (`people.<name>.sso`, or the name itself). */
  personFor(claimValue: string): Person | undefined;
}

type Claims = Record<string, unknown>;

/** The string values of a groups claim (an array of strings, or one space-separated string). */
export function groupsClaim(claims: Claims, claim: string): string[] {
  const value = claims[claim];
  if (Array.isArray(value)) return value.filter((g): g is string => typeof g === "string");
  if (typeof value === "string") return value.split(/\s+/).filter(Boolean);
  return [];
}

const union = (a: string[], b: string[]) => [...new Set([...a, ...b])].sort();

/**
 * The person an identity-provider token names. Throws `forbidden`/`unknown_person` for a
 * verified token nobody configured (not in people, and none of their groups maps).
 */
export function oidcPrincipal(claims: Claims, oidc: Pick<OidcRaw, "claims" | "groups">, directory: Directory): Person {
  const value = claims[oidc.claims.person];
  if (typeof value !== "string" || value === "") {
    throw new DomainError("unauthenticated", "invalid_token", `the token has no "${oidc.claims.person}" claim naming the person`);
  }
  const idpGroups = groupsClaim(claims, oidc.claims.groups);
  const teams: string[] = [];
  const groups: string[] = [];
  for (const g of idpGroups) {
    const m = oidc.groups[g];
    if (m && "team" in m) teams.push(m.team);
    if (m && "approverGroup" in m) groups.push(m.approverGroup);
  }
  const known = directory.personFor(value);
  if (known) return { name: known.name, teams: union(known.teams, teams), groups: union(known.groups, groups) };
  if (teams.length === 0 && groups.length === 0) {
    const listed = idpGroups.length ? `their groups (${idpGroups.slice(0, 10).join(", ")}) map` : "they are in no group that maps";
    throw new DomainError(
      "forbidden",
      "unknown_person",
      `${value} signed in, but Paved does not know them: they are not in paved.yaml people and ${idpGroups.length ? `none of ${listed}` : listed} ` +
        `to a team or approver group (auth.oidc.groups)`,
    );
  }
  return { name: value.toLowerCase(), teams: union([], teams), groups: union([], groups) };
}

/** Whether a CI token's claims meet `match` (every claim equal; a trailing `*` matches any rest). */
export function ciMatches(match: CiRaw["match"], claims: Claims): boolean {
  return Object.entries(match).every(([claim, expected]) => {
    const actual = claims[claim];
    if (typeof actual !== "string" || expected === undefined) return false;
    return expected.endsWith("*") ? actual.startsWith(expected.slice(0, -1)) : actual === expected;
  });
}

/** The agent the first matching CI entry names, or undefined when none matches. */
export function ciPrincipal(claims: Claims, entries: Pick<CiRaw, "audience" | "match" | "as">[]): Person | undefined {
  const aud = claims.aud;
  const audiences = Array.isArray(aud) ? aud : [aud];
  const entry = entries.find((e) => audiences.includes(e.audience) && ciMatches(e.match, claims));
  if (!entry) return undefined;
  return { name: entry.as.agent, teams: [entry.as.team], groups: [], agent: { autonomy: entry.as.autonomy } };
}
