/**
 * What each offering is and what a requester may set: title, description, whether it
 * holds data, its component type, the strict zod schema of its parameters and the context
 * it needs. No Pulumi here: validating a spec or a request (the service, `paved check`)
 * does not load any provider. `catalog.ts` adds the factories that build the components.
 */
import { z } from "zod";
import { OFFERINGS, Offering, TIERS, componentTypes, engineVersions, queueDefaults, statefulOfferings, tiers, webServiceDefaults } from "./guardrails";

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

const tierSchema = z
  .enum(TIERS)
  .default("small")
  .describe("Size from the guardrails table: small, medium or large.");

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
      .optional().describe(`Allocated storage in GiB, within the tier's range (${storageRanges}). Default: the tier's default.`),
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
  authTokenVersion: z.number().int().min(1).optional().describe("Version of the AUTH token; raise it to rotate the token. Default 1."),
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
  namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "must be a DNS label").describe("Namespace to run in."),
  image: z.string().min(1).describe("Container image pinned to a digest or a tag other than latest."),
  port: z.number().int().min(1).max(65535).describe("Port the container listens on."),
  replicas: z
    .number()
    .int()
    .min(1)
    .max(webServiceDefaults.maxReplicas)
    .optional()
    .describe("Pod replicas. Default: the environment's minimum (prod 2)."),
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

/** The offering called `name`, or undefined. */
export function getOfferingSpec(name: string): OfferingSpec<any> | undefined {
  return (OFFERINGS as string[]).includes(name) ? offerings[name as Offering] : undefined;
}

/** The catalog as the service publishes it: each offering with its parameters' JSON Schema. */
export function catalogJsonSchemas(): {
  name: Offering;
  title: string;
  description: string;
  stateful: boolean;
  parameters: Record<string, unknown>;
}[] {
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
