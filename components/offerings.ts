/**
 * What each offering is and what a requester may set: title, description, whether it
 * holds data, its component type, the strict zod schema of its parameters and the context
 * it needs. No Pulumi here: validating a spec or a request (the service, `paved check`)
 * does not load any provider. `catalog.ts` adds the factories that build the components.
 */
import { z } from "zod";
import { awsIdentifierProblem } from "./aws/naming";
import {
  ENVIRONMENTS,
  Environment,
  NAME_PATTERN,
  OFFERINGS,
  Offering,
  TEAM_PATTERN,
  TIERS,
  componentTypes,
  isOffering,
  engineVersions,
  queueDefaults,
  redisAuthTokenDefaults,
  statefulOfferings,
  tiers,
} from "./guardrails";
import { DNS_LABEL, NOT_A_DNS_LABEL, dnsLabelProblem } from "./kubernetes/naming";
import { CONTAINER_PORT, REPLICAS_ANY_ENVIRONMENT, imageReferenceProblem, replicasRange } from "./kubernetes/rules";
import { IssuePath, describeZodIssue } from "./zodIssues";

/** An offering, without its factory. */
export interface OfferingSpec<P = unknown> {
  name: Offering;
  title: string;
  description: string;
  /** Whether the offering holds data that a delete or replace loses. */
  stateful: boolean;
  /** The Pulumi type token of the component the offering builds. */
  componentType: string;
  /** Parameters a requester may set; strict. */
  params: z.ZodType<P>;
  /** What the build context must carry. */
  needs: readonly ("network" | "kubernetes")[];
}

const tierSchema = z.enum(TIERS).default("small").describe("Size from the guardrails table: small, medium or large.");

const storageRanges = TIERS.map((t) => `${t} ${tiers[t].rds.storageGb.min}-${tiers[t].rds.storageGb.max}`).join(", ");

const storageBounds = {
  min: Math.min(...TIERS.map((t) => tiers[t].rds.storageGb.min)),
  max: Math.max(...TIERS.map((t) => tiers[t].rds.storageGb.max)),
};

const postgresParams = z
  .strictObject({
    tier: tierSchema,
    engineVersion: z.enum(engineVersions.postgres.allowed).optional().describe(`PostgreSQL major version. Default ${engineVersions.postgres.default}.`),
    storageGb: z
      .number()
      .int()
      .min(storageBounds.min)
      .max(storageBounds.max)
      .optional()
      .describe(`Allocated storage in GiB, within the tier's range (${storageRanges}). Default: the tier's default.`),
    snapshotIdentifier: z
      .string()
      .regex(/^(arn:aws[\w-]*:rds:[\w-]+:\d{12}:snapshot:)?[a-zA-Z][a-zA-Z0-9-]{0,254}$/, { message: "must be an RDS snapshot identifier or ARN" })
      .optional()
      .describe("Restore from this RDS snapshot (identifier or ARN): the database name and user come from it. Default: a new, empty database."),
  })
  .superRefine((p, ctx) => {
    // Outside every tier's range is already reported by min/max: one error per mistake.
    if (p.storageGb === undefined || p.storageGb < storageBounds.min || p.storageGb > storageBounds.max) return;
    const range = tiers[p.tier].rds.storageGb;
    if (p.storageGb < range.min || p.storageGb > range.max) {
      ctx.addIssue({
        code: "custom",
        path: ["storageGb"],
        message: `${p.storageGb} is not between ${range.min} and ${range.max} (the ${p.tier} tier's range)`,
      });
    }
  });

const redisParams = z.strictObject({
  tier: tierSchema,
  engineVersion: z.enum(engineVersions.redis.allowed).optional().describe(`Redis version. Default ${engineVersions.redis.default}.`),
  authTokenVersion: z
    .number()
    .int()
    .min(redisAuthTokenDefaults.initialVersion)
    .max(redisAuthTokenDefaults.maxVersion)
    .optional()
    .describe(`Version of the AUTH token; raise it to rotate the token. Default ${redisAuthTokenDefaults.initialVersion}.`),
});

const queueParams = z.strictObject({
  fifo: z.boolean().default(false).describe("A FIFO (ordered, exactly-once) queue."),
  visibilityTimeoutSeconds: z
    .number()
    .int()
    .min(queueDefaults.visibilityTimeoutSeconds.min)
    .max(queueDefaults.visibilityTimeoutSeconds.max)
    .default(queueDefaults.visibilityTimeoutSeconds.default)
    .describe("Seconds a received message stays invisible to other consumers."),
});

const bucketParams = z.strictObject({});

const namespaceParams = z.strictObject({
  tier: tierSchema,
});

const webServiceParams = z.strictObject({
  tier: tierSchema,
  namespace: z.string().regex(DNS_LABEL, NOT_A_DNS_LABEL).describe("Namespace to run in."),
  image: z
    .string()
    .superRefine((image, ctx) => {
      const problem = imageReferenceProblem(image);
      if (problem) ctx.addIssue({ code: "custom", input: image, message: `${JSON.stringify(image)} ${problem}` });
    })
    .describe("Container image pinned to a digest or a tag other than latest."),
  port: z.number().int().min(CONTAINER_PORT.min).max(CONTAINER_PORT.max).describe("Port the container listens on."),
  replicas: z
    .number()
    .int()
    // The environment's own minimum (prod 2) is checked by validateOfferingInstance.
    .min(REPLICAS_ANY_ENVIRONMENT.min)
    .max(REPLICAS_ANY_ENVIRONMENT.max)
    .optional()
    .describe("Pod replicas, up to the maximum. Default and minimum: the environment's minimum (prod 2)."),
});

export const offerings: Readonly<Record<Offering, OfferingSpec<any>>> = {
  postgres: {
    name: "postgres",
    title: "PostgreSQL database",
    description: "An encrypted, private RDS PostgreSQL database; its password lives in Secrets Manager.",
    stateful: statefulOfferings.includes("postgres"),
    componentType: componentTypes.postgres,
    params: postgresParams,
    needs: ["network"],
  },
  redis: {
    name: "redis",
    title: "Redis cache",
    description: "An ElastiCache Redis replication group, encrypted at rest and in transit, with an AUTH token in Secrets Manager.",
    stateful: statefulOfferings.includes("redis"),
    componentType: componentTypes.redis,
    params: redisParams,
    needs: ["network"],
  },
  queue: {
    name: "queue",
    title: "SQS queue",
    description: "An encrypted SQS queue with a dead-letter queue, reachable over TLS only.",
    stateful: statefulOfferings.includes("queue"),
    componentType: componentTypes.queue,
    params: queueParams,
    needs: [],
  },
  bucket: {
    name: "bucket",
    title: "S3 bucket",
    description: "A private, encrypted, versioned S3 bucket, reachable over TLS only.",
    stateful: statefulOfferings.includes("bucket"),
    componentType: componentTypes.bucket,
    params: bucketParams,
    needs: [],
  },
  namespace: {
    name: "namespace",
    title: "Kubernetes namespace",
    description: "A team namespace with Pod Security restricted, quotas, default-deny ingress and the team bound to edit.",
    stateful: statefulOfferings.includes("namespace"),
    componentType: componentTypes.namespace,
    params: namespaceParams,
    needs: ["kubernetes"],
  },
  "web-service": {
    name: "web-service",
    title: "Web service",
    description: "A hardened Kubernetes Deployment, Service and PodDisruptionBudget for a pinned container image.",
    stateful: statefulOfferings.includes("web-service"),
    componentType: componentTypes["web-service"],
    params: webServiceParams,
    needs: ["kubernetes"],
  },
};

/** One instance of an offering as a door receives it: who owns it, where, its name and its params. */
export interface OfferingInstance {
  offering: string;
  team: string;
  environment: string;
  name: string;
  params: unknown;
}

/** A problem with an instance: `path` is `["params", "image"]`, `["name"]`, ...; the message names the value and what is allowed. */
export interface OfferingIssue {
  path: IssuePath;
  message: string;
}

/** What `validateOfferingInstance` finds: the params with defaults applied, or every issue. */
export type OfferingInstanceResult = { ok: true; params: Record<string, unknown> } | { ok: false; issues: OfferingIssue[] };

/** Issues with the name, beyond NAME_PATTERN: what the offering's component derives from it must be valid. */
function nameIssues(offering: Offering, name: string): OfferingIssue[] {
  // Kubernetes objects are named after the component (a namespace offering's namespace is its name).
  const label = offering === "namespace" || offering === "web-service" ? dnsLabelProblem(name) : undefined;
  if (label) return [{ path: ["name"], message: `${JSON.stringify(name)} ${label}` }];
  const problem = awsIdentifierProblem(offering, name);
  return problem ? [{ path: ["name"], message: `${JSON.stringify(name)} ${problem}` }] : [];
}

/** Issues that depend on the environment as well as the params. */
function environmentIssues(offering: Offering, environment: Environment, params: Record<string, unknown>): OfferingIssue[] {
  // A value outside every environment's range is already reported by the schema: one error per mistake.
  const replicas = params.replicas;
  if (offering === "web-service" && typeof replicas === "number" && Number.isInteger(replicas) && replicas >= REPLICAS_ANY_ENVIRONMENT.min) {
    const range = replicasRange(environment);
    if (replicas < range.min) {
      return [{ path: ["params", "replicas"], message: `${replicas} is less than the minimum ${range.min} in ${environment}` }];
    }
  }
  return [];
}

/**
 * Validates one instance of an offering everywhere it enters Paved (a request, a spec, a
 * runbook's change), with every constraint its component enforces: the params against the
 * offering's schema, and what depends on the team, environment and name as well (the AWS
 * identifiers derived from the name, DNS labels, the environment's minimum replicas). The
 * components check their arguments with the same pure functions, so an instance accepted
 * here is one its component builds.
 */
export function validateOfferingInstance(instance: OfferingInstance): OfferingInstanceResult {
  if (typeof instance.offering !== "string" || !isOffering(instance.offering))
    return { ok: false, issues: [{ path: ["offering"], message: `${JSON.stringify(instance.offering)} is not an offering` }] };
  const spec: OfferingSpec<any> = offerings[instance.offering];
  const issues: OfferingIssue[] = [];
  if (typeof instance.team !== "string" || !TEAM_PATTERN.test(instance.team)) {
    issues.push({ path: ["team"], message: `${JSON.stringify(instance.team)} must be a DNS label` });
  }
  const environment = (ENVIRONMENTS as readonly string[]).includes(instance.environment) ? (instance.environment as Environment) : undefined;
  if (!environment) issues.push({ path: ["environment"], message: `${JSON.stringify(instance.environment)} is not one of ${ENVIRONMENTS.join(", ")}` });
  if (typeof instance.name !== "string" || !NAME_PATTERN.test(instance.name)) {
    issues.push({ path: ["name"], message: `${JSON.stringify(instance.name)} must match ${NAME_PATTERN.source}` });
  } else {
    issues.push(...nameIssues(spec.name, instance.name));
  }
  const parsed = spec.params.safeParse(instance.params ?? {}, { reportInput: true });
  if (!parsed.success) {
    issues.push(...parsed.error.issues.flatMap(describeZodIssue).map((i) => ({ path: ["params", ...i.path], message: i.message })));
  }
  if (environment && instance.params && typeof instance.params === "object") {
    issues.push(...environmentIssues(spec.name, environment, instance.params as Record<string, unknown>));
  }
  return issues.length > 0 ? { ok: false, issues } : { ok: true, params: parsed.data as Record<string, unknown> };
}

/** An offering as the catalog publishes it. */
export interface CatalogEntry {
  name: Offering;
  title: string;
  description: string;
  stateful: boolean;
  parameters: Record<string, unknown>;
}

let catalogCache: CatalogEntry[] | undefined;

/**
 * The catalog as the service publishes it: each offering with its parameters' JSON Schema.
 * The offerings never change while the process runs, so the schemas are built once (zod's
 * `toJSONSchema` was half the CPU of `GET /catalog`) and the same array is returned, frozen
 * (deeply: a caller that changed it would change every later answer).
 */
export function catalogJsonSchemas(): CatalogEntry[] {
  catalogCache ??= deepFreeze(buildCatalog());
  return catalogCache;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function buildCatalog(): CatalogEntry[] {
  return OFFERINGS.map((name) => {
    const o = offerings[name];
    return {
      name,
      title: o.title,
      description: o.description,
      stateful: o.stateful,
      parameters: z.toJSONSchema(o.params, { io: "input" }) as Record<string, unknown>,
    };
  });
}
