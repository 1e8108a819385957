/** Identifiers AWS derives from a component's name, made valid for the service. Pure functions. */
import { createHash } from "node:crypto";

/**
 * The identifier of the final snapshot taken when a database or cache is deleted:
 * `<team>-<environment>-<name>-<hash>-final` (without an owner, `<name>-final`), reduced to
 * what RDS and ElastiCache accept (letters, digits and single hyphens, starting with a
 * letter, no trailing hyphen). The owner's team and environment make it the team's own:
 * two teams' `orders-db` no longer collide in one account, and the service can tell a
 * team's own snapshot from another's (a restore from a foreign one is rated high). The
 * hash of the exact triple keeps look-alikes apart (`payments-dev`/`prod`/`ledger` and
 * `payments`/`dev`/`prod-ledger`). `orders_db` -> `orders-db-final`.
 */
export function finalSnapshotIdentifier(name: string, owner?: { team: string; environment: string }): string {
  const raw = owner ? `${owner.team}-${owner.environment}-${name}-${createHash("sha256").update(`${owner.team}/${owner.environment}/${name}`).digest("hex").slice(0, 8)}` : name;
  const cleaned = raw
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-|-$/g, "");
  const base = /^[a-z]/.test(cleaned) ? cleaned : `snap-${cleaned}`.replace(/-$/, "");
  // RDS allows 255 characters, ElastiCache 255 as well; stay well inside both.
  return `${base.slice(0, 200).replace(/-$/, "")}-final`;
}
