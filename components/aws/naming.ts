/** Identifiers AWS derives from a component's name, made valid for the service. Pure functions. */

/**
 * The identifier of the final snapshot taken when a database or cache is deleted:
 * `<name>-final`, reduced to what RDS and ElastiCache accept (letters, digits and single
 * hyphens, starting with a letter, no trailing hyphen). `orders_db` -> `orders-db-final`.
 */
export function finalSnapshotIdentifier(name: string): string {
  const cleaned = name
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-|-$/g, "");
  const base = /^[a-z]/.test(cleaned) ? cleaned : `snap-${cleaned}`.replace(/-$/, "");
  // RDS allows 255 characters, ElastiCache 255 as well; stay well inside both.
  return `${base.slice(0, 200).replace(/-$/, "")}-final`;
}
