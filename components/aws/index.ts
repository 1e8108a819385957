export { Bucket, BucketArgs, BucketSettings, bucketSettings } from "./bucket";
export {
  ClientAccessArgs,
  IngressRule,
  NetworkArgs,
  PRIVATE_CIDR_RANGES,
  clientIngressRules,
  denyInsecureTransportPolicy,
  validateCidrBlocks,
  validateClientAccess,
  validateNetwork,
} from "./network";
export {
  AUTONAME_RANDOM_LENGTH,
  DerivedAwsIdentifier,
  S3_RESERVED_PREFIXES,
  assertAwsIdentifiers,
  awsIdentifierProblem,
  derivedAwsIdentifiers,
  finalSnapshotIdentifier,
  maxNameLength,
} from "./naming";
export { PostgresDatabase, PostgresDatabaseArgs, PostgresSettings, postgresDatabaseName, postgresSettings } from "./postgresDatabase";
export { Queue, QueueArgs, QueueSettings, queueSettings } from "./queue";
export { RedisCache, RedisCacheArgs, RedisSettings, redisSettings } from "./redisCache";
