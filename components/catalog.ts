/**
 * The catalog of offerings: what a requester may ask for, and how it is built.
 *
 * Each offering has a strict zod schema of the parameters a requester may set (unknown keys
 * are rejected), published as JSON Schema by the service, and a factory that builds the
 * component from those parameters plus the context the platform supplies (team,
 * environment, network, Kubernetes provider).
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { Bucket } from "./aws/bucket";
import { NetworkArgs } from "./aws/network";
import { PostgresDatabase } from "./aws/postgresDatabase";
import { Queue } from "./aws/queue";
import { RedisCache } from "./aws/redisCache";
import {
  Environment,
  OFFERINGS,
  Offering,
  TIERS,
  componentTypes,
  engineVersions,
  queueDefaults,
  statefulOfferings,
  tiers,
  webServiceDefaults,
} from "./guardrails";
import { TeamNamespace } from "./kubernetes/teamNamespace";
import { WebService } from "./kubernetes/webService";

/** What the platform, not the requester, supplies to a factory. */
export interface BuildContext {
  team: string;
  environment: Environment;
  /** VPC and subnets: required by offerings that `need` "network". */
  network?: NetworkArgs;
  /** The Kubernetes provider for offerings that `need` "kubernetes" (default: the ambient one). */
  kubernetes?: { provider?: pulumi.ProviderResource };
  /** Extra tags for every child. Default: none. */
  tags?: Record<string, string>;
}

/** What a factory returns: the component and the outputs a requester sees. */
export interface BuiltOffering {
  resource: pulumi.ComponentResource;
  outputs: Record<string, pulumi.Output<unknown>>;
}

/** One offering of the catalog. */
export interface OfferingDefinition<P = unknown> {
  name: Offering;
  title: string;
  description: string;
  /** Whether the offering holds data that a delete or replace loses. */
  stateful: boolean;
  /** The Pulumi type token of the component the offering builds. */
  componentType: string;
  /** Parameters a requester may set; strict. */
  params: z.ZodType<P>;
  /** What the BuildContext must carry. */
  needs: readonly ("network" | "kubernetes")[];
  build(name: string, params: P, context: BuildContext, opts?: pulumi.ComponentResourceOptions): BuiltOffering;
}

/** A missing piece of context (e.g. no network configured for the team). */
export class CatalogContextError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CatalogContextError";
  }
}

const tierSchema = z
  .enum(TIERS)
  .default("small")
  .describe("Size from the guardrails table: small, medium or large.");

function requireNetwork(offering: Offering, context: BuildContext): NetworkArgs {
  if (!context.network) {
    throw new CatalogContextError(`offering "${offering}" needs a network (vpcId, subnetIds) for team ${context.team} in ${context.environment}`);
  }
  return context.network;
}

function componentOptions(context: BuildContext, needsKubernetes: boolean, opts?: pulumi.ComponentResourceOptions) {
  if (needsKubernetes && context.kubernetes?.provider) {
    return { ...opts, providers: [...((opts?.providers as pulumi.ProviderResource[] | undefined) ?? []), context.kubernetes.provider] };
  }
  return opts;
}

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

function define<S extends z.ZodType>(
  definition: Omit<OfferingDefinition<z.output<S>>, "params"> & { params: S },
): OfferingDefinition<z.output<S>> {
  return definition as OfferingDefinition<z.output<S>>;
}

export const catalog: Readonly<Record<Offering, OfferingDefinition<any>>> = {
  postgres: define({
    name: "postgres",
    title: "PostgreSQL database",
    description: "An encrypted, private RDS PostgreSQL database; its password lives in Secrets Manager.",
    stateful: statefulOfferings.includes("postgres"),
    componentType: componentTypes.postgres,
    params: postgresParams,
    needs: ["network"],
    build(name, params, context, opts) {
      const db = new PostgresDatabase(
        name,
        { team: context.team, environment: context.environment, tags: context.tags, network: requireNetwork("postgres", context), ...params },
        opts,
      );
      return {
        resource: db,
        outputs: { endpoint: db.endpoint, port: db.port, secretArn: db.secretArn, securityGroupId: db.securityGroupId },
      };
    },
  }),
  redis: define({
    name: "redis",
    title: "Redis cache",
    description: "An ElastiCache Redis replication group, encrypted at rest and in transit, with an AUTH token in Secrets Manager.",
    stateful: statefulOfferings.includes("redis"),
    componentType: componentTypes.redis,
    params: redisParams,
    needs: ["network"],
    build(name, params, context, opts) {
      const cache = new RedisCache(
        name,
        { team: context.team, environment: context.environment, tags: context.tags, network: requireNetwork("redis", context), ...params },
        opts,
      );
      return { resource: cache, outputs: { primaryEndpoint: cache.primaryEndpoint, port: cache.port, secretArn: cache.secretArn } };
    },
  }),
  queue: define({
    name: "queue",
    title: "SQS queue",
    description: "An encrypted SQS queue with a dead-letter queue, reachable over TLS only.",
    stateful: statefulOfferings.includes("queue"),
    componentType: componentTypes.queue,
    params: queueParams,
    needs: [],
    build(name, params, context, opts) {
      const queue = new Queue(name, { team: context.team, environment: context.environment, tags: context.tags, ...params }, opts);
      return { resource: queue, outputs: { url: queue.url, arn: queue.arn, deadLetterUrl: queue.deadLetterUrl } };
    },
  }),
  bucket: define({
    name: "bucket",
    title: "S3 bucket",
    description: "A private, encrypted, versioned S3 bucket, reachable over TLS only.",
    stateful: statefulOfferings.includes("bucket"),
    componentType: componentTypes.bucket,
    params: bucketParams,
    needs: [],
    build(name, _params, context, opts) {
      const bucket = new Bucket(name, { team: context.team, environment: context.environment, tags: context.tags }, opts);
      return { resource: bucket, outputs: { bucketName: bucket.bucketName, arn: bucket.arn } };
    },
  }),
  namespace: define({
    name: "namespace",
    title: "Kubernetes namespace",
    description: "A team namespace with Pod Security restricted, quotas, default-deny ingress and the team bound to edit.",
    stateful: statefulOfferings.includes("namespace"),
    componentType: componentTypes.namespace,
    params: namespaceParams,
    needs: ["kubernetes"],
    build(name, params, context, opts) {
      const ns = new TeamNamespace(
        name,
        { team: context.team, environment: context.environment, tags: context.tags, ...params },
        componentOptions(context, true, opts),
      );
      return { resource: ns, outputs: { namespace: ns.namespace } };
    },
  }),
  "web-service": define({
    name: "web-service",
    title: "Web service",
    description: "A hardened Kubernetes Deployment, Service and PodDisruptionBudget for a pinned container image.",
    stateful: statefulOfferings.includes("web-service"),
    componentType: componentTypes["web-service"],
    params: webServiceParams,
    needs: ["kubernetes"],
    build(name, params, context, opts) {
      const web = new WebService(
        name,
        { team: context.team, environment: context.environment, tags: context.tags, ...params },
        componentOptions(context, true, opts),
      );
      return { resource: web, outputs: { serviceName: web.serviceName, deploymentName: web.deploymentName } };
    },
  }),
};

/** The offering called `name`, or undefined. */
export function getOffering(name: string): OfferingDefinition<any> | undefined {
  return (OFFERINGS as string[]).includes(name) ? catalog[name as Offering] : undefined;
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
    const o = catalog[name];
    return {
      name,
      title: o.title,
      description: o.description,
      stateful: o.stateful,
      parameters: z.toJSONSchema(o.params, { io: "input" }) as Record<string, unknown>,
    };
  });
}
