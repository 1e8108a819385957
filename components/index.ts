/**
 * The `paved` package: guardrailed Pulumi components, the catalog of offerings and the
 * guardrails table they read their defaults from.
 */
export {
  Bucket,
  BucketArgs,
  ClientAccessArgs,
  NetworkArgs,
  PostgresDatabase,
  PostgresDatabaseArgs,
  Queue,
  QueueArgs,
  RedisCache,
  RedisCacheArgs,
  bucketSettings,
  postgresSettings,
  queueSettings,
  redisSettings,
} from "./aws";
export { TeamNamespace, TeamNamespaceArgs, WebService, WebServiceArgs, namespaceSettings, parseImageReference, webServiceSettings } from "./kubernetes";
export { BuildContext, BuiltOffering, CatalogContextError, OfferingDefinition, catalog, catalogJsonSchemas } from "./catalog";
export { OfferingInstance, OfferingInstanceResult, OfferingIssue, OfferingSpec, offerings, validateOfferingInstance } from "./offerings";
export { CommonArgs, PavedArgumentError, ResolvedCommonArgs, resolveCommonArgs } from "./common";
export {
  ENVIRONMENTS,
  Environment,
  EnvironmentGuardrails,
  LABEL_KEYS,
  OFFERINGS,
  isOffering,
  Offering,
  TAG_KEYS,
  TIERS,
  Tier,
  TierGuardrails,
  componentTypes,
  engineVersions,
  environments,
  tiers,
} from "./guardrails";
