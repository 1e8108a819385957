/**
 * The catalog of offerings: what a requester may ask for, and how it is built.
 *
 * Each offering's spec (`offerings.ts`: the strict zod schema of the parameters a requester
 * may set, published as JSON Schema by the service) plus a factory that builds the
 * component from those parameters and the context the platform supplies (team,
 * environment, network, Kubernetes provider).
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { Bucket } from "./aws/bucket";
import { NetworkArgs } from "./aws/network";
import { PostgresDatabase } from "./aws/postgresDatabase";
import { Queue } from "./aws/queue";
import { RedisCache } from "./aws/redisCache";
import { Environment, Offering } from "./guardrails";
import { TeamNamespace } from "./kubernetes/teamNamespace";
import { WebService } from "./kubernetes/webService";
import { catalogJsonSchemas, offerings, OfferingSpec } from "./offerings";

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

/** One offering of the catalog: its spec (`offerings.ts`) and its factory. */
export interface OfferingDefinition<P = unknown> extends OfferingSpec<P> {
  build(name: string, params: P, context: BuildContext, opts?: pulumi.ComponentResourceOptions): BuiltOffering;
}

/** A missing piece of context (e.g. no network configured for the team). */
export class CatalogContextError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CatalogContextError";
  }
}

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

function define<S extends z.ZodType>(definition: Omit<OfferingDefinition<z.output<S>>, "params"> & { params: S }): OfferingDefinition<z.output<S>> {
  return definition as OfferingDefinition<z.output<S>>;
}

export const catalog: Readonly<Record<Offering, OfferingDefinition<any>>> = {
  postgres: define({
    ...offerings["postgres"],
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
    ...offerings["redis"],
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
    ...offerings["queue"],
    build(name, params, context, opts) {
      const queue = new Queue(name, { team: context.team, environment: context.environment, tags: context.tags, ...params }, opts);
      return { resource: queue, outputs: { url: queue.url, arn: queue.arn, deadLetterUrl: queue.deadLetterUrl } };
    },
  }),
  bucket: define({
    ...offerings["bucket"],
    build(name, _params, context, opts) {
      const bucket = new Bucket(name, { team: context.team, environment: context.environment, tags: context.tags }, opts);
      return { resource: bucket, outputs: { bucketName: bucket.bucketName, arn: bucket.arn } };
    },
  }),
  namespace: define({
    ...offerings["namespace"],
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
    ...offerings["web-service"],
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

export { catalogJsonSchemas };
