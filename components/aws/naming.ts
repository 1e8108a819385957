/** Identifiers AWS derives from a component's name, made valid for the service. Pure functions. */
import { createHash } from "node:crypto";
import { PavedArgumentError } from "../common";

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
  const raw = owner
    ? `${owner.team}-${owner.environment}-${name}-${createHash("sha256").update(`${owner.team}/${owner.environment}/${name}`).digest("hex").slice(0, 8)}`
    : name;
  const cleaned = raw
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-|-$/g, "");
  const base = /^[a-z]/.test(cleaned) ? cleaned : `snap-${cleaned}`.replace(/-$/, "");
  // RDS allows 255 characters, ElastiCache 255 as well; stay well inside both.
  return `${base.slice(0, 200).replace(/-$/, "")}-final`;
}

/**
 * Pulumi names a physical resource it auto-names `<logical name>-<7 random hex characters>`
 * (pulumi-terraform-bridge `resource.NewUniqueHex`), failing when that exceeds the field's
 * maximum length. Paved's children are named `${name}-<role>`, so the identifier AWS sees is
 * `${name}-<role>-<7 random>`.
 */
export const AUTONAME_RANDOM_LENGTH = 7;

/** An AWS identifier Pulumi derives from a component's name. */
export interface DerivedAwsIdentifier {
  /** The service that refuses it, as people call it. */
  service: "RDS" | "ElastiCache" | "S3";
  /** What the service calls the identifier. */
  kind: string;
  /** The child's role: the child is `${name}-${role}`. */
  role: string;
  /** The longest identifier the service (or Pulumi's auto-naming) accepts. */
  maxLength: number;
  /**
   * `rds`: letters, digits and hyphens, starting with a letter, no `--`, no trailing hyphen
   * (RDS DB instance identifiers and parameter group names, ElastiCache replication group IDs).
   * `s3`: bucket names, which may not start with a prefix S3 reserves.
   */
  rules: "rds" | "s3";
}

/** Prefixes S3 reserves for bucket names (S3 general purpose bucket naming rules). */
export const S3_RESERVED_PREFIXES = ["xn--", "sthree-", "amzn-s3-demo-"] as const;

/**
 * The auto-named AWS identifiers each offering's component derives from its name, with
 * the rules AWS applies to them. Keep in step with the children the components create.
 */
export const derivedAwsIdentifiers: Readonly<Record<"postgres" | "redis" | "bucket", readonly DerivedAwsIdentifier[]>> = {
  postgres: [
    // RDS: 1-63 characters for an instance identifier, 255 for a parameter group name.
    { service: "RDS", kind: "DB instance identifier", role: "db", maxLength: 63, rules: "rds" },
    { service: "RDS", kind: "DB parameter group name", role: "params", maxLength: 255, rules: "rds" },
  ],
  // ElastiCache: 1-40 characters (pulumi-aws auto-names it with the same maximum).
  redis: [{ service: "ElastiCache", kind: "replication group ID", role: "redis", maxLength: 40, rules: "rds" }],
  // S3: 3-63 characters.
  bucket: [{ service: "S3", kind: "bucket name", role: "bucket", maxLength: 63, rules: "s3" }],
};

/** The longest name whose derived identifiers all fit, for an offering with derived identifiers. */
export function maxNameLength(offering: keyof typeof derivedAwsIdentifiers): number {
  return Math.min(...derivedAwsIdentifiers[offering].map((id) => id.maxLength - id.role.length - 2 - AUTONAME_RANDOM_LENGTH));
}

/**
 * Why AWS would refuse an identifier derived from the component name `name`, or undefined
 * when every one is acceptable. The message starts after the name:
 * `would make the RDS DB instance identifier "a--b-db-<random>", which RDS refuses: ...`.
 * Offerings without derived identifiers (queue, namespace, web-service) have no problem here.
 */
export function awsIdentifierProblem(offering: string, name: string): string | undefined {
  const ids = (derivedAwsIdentifiers as Record<string, readonly DerivedAwsIdentifier[] | undefined>)[offering] ?? [];
  for (const id of ids) {
    // RDS, ElastiCache and S3 identifiers are auto-named in lower case.
    const prefix = `${name}-${id.role}-`.toLowerCase();
    const length = prefix.length + AUTONAME_RANDOM_LENGTH;
    let why: string | undefined;
    if (length > id.maxLength) {
      why = `it would be ${length} characters, more than ${id.maxLength}; a ${offering} name has at most ${maxNameLength(offering as keyof typeof derivedAwsIdentifiers)} characters`;
    } else if (id.rules === "rds" && !/^[a-z][a-z0-9-]*$/.test(prefix)) {
      why = "use letters, digits and hyphens, starting with a letter";
    } else if (id.rules === "rds" && prefix.includes("--")) {
      why = `it contains "--"; use single hyphens and do not end the name with "-"`;
    } else if (id.rules === "s3" && !/^[a-z0-9][a-z0-9.-]*$/.test(prefix)) {
      why = "use lowercase letters, digits, hyphens and dots, starting with a letter or digit";
    } else if (id.rules === "s3") {
      const reserved = S3_RESERVED_PREFIXES.find((p) => prefix.startsWith(p));
      if (reserved) why = `it may not start with ${S3_RESERVED_PREFIXES.slice(0, -1).join(", ")} or ${S3_RESERVED_PREFIXES[S3_RESERVED_PREFIXES.length - 1]}`;
    }
    if (why) return `would make the ${id.service} ${id.kind} "${prefix}<random>", which ${id.service} refuses: ${why}`;
  }
  return undefined;
}

/** Throws a `PavedArgumentError` naming `name` unless AWS accepts every identifier derived from it. */
export function assertAwsIdentifiers(offering: keyof typeof derivedAwsIdentifiers, name: string): void {
  const problem = awsIdentifierProblem(offering, name);
  if (problem) throw new PavedArgumentError("name", `name ${JSON.stringify(name)} ${problem}`);
}
