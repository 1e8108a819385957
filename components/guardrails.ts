/**
 * The guardrails table: the one place where Paved's limits and defaults live.
 *
 * Components read their defaults from here, the policy pack reads its limits from here,
 * and the risk classifier reads the stateful and security-sensitive type lists from here.
 * To change a tier, an environment rule or an allowed version, change it here and nowhere
 * else. Every value carries a comment saying why it is what it is.
 */

/** Sizes a requester may choose. */
export const TIERS = ["small", "medium", "large"] as const;
export type Tier = (typeof TIERS)[number];

/** Environments a team may deploy to. */
export const ENVIRONMENTS = ["dev", "staging", "prod"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

/** A Kubernetes CPU / memory pair, in Kubernetes quantity notation. */
export interface ComputeQuantity {
  cpu: string;
  memory: string;
}

/** What one tier means for every kind of offering. */
export interface TierGuardrails {
  rds: {
    /** The RDS instance class (Graviton classes: cheaper per vCPU than x86). */
    instanceClass: string;
    /** Allocated storage in GiB: the default and the range a requester may pick from. */
    storageGb: { default: number; min: number; max: number };
  };
  elasticache: {
    /** The ElastiCache node type. */
    nodeType: string;
  };
  kubernetes: {
    /** ResourceQuota of a team namespace. */
    quota: { requests: ComputeQuantity; limits: ComputeQuantity; pods: number };
    /** Requests and limits of one container of a WebService (and the LimitRange default). */
    container: { requests: ComputeQuantity; limits: ComputeQuantity };
  };
}

export const tiers: Readonly<Record<Tier, TierGuardrails>> = {
  small: {
    // Burstable classes are enough for development workloads and small services.
    rds: { instanceClass: "db.t4g.small", storageGb: { default: 20, min: 20, max: 100 } },
    elasticache: { nodeType: "cache.t4g.small" },
    kubernetes: {
      quota: { requests: { cpu: "2", memory: "4Gi" }, limits: { cpu: "4", memory: "8Gi" }, pods: 20 },
      container: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "500m", memory: "512Mi" } },
    },
  },
  medium: {
    // General-purpose classes: steady CPU for production services of moderate load.
    rds: { instanceClass: "db.m7g.large", storageGb: { default: 100, min: 50, max: 500 } },
    elasticache: { nodeType: "cache.m7g.large" },
    kubernetes: {
      quota: { requests: { cpu: "8", memory: "16Gi" }, limits: { cpu: "16", memory: "32Gi" }, pods: 50 },
      container: { requests: { cpu: "250m", memory: "512Mi" }, limits: { cpu: "1", memory: "1Gi" } },
    },
  },
  large: {
    // Memory-optimised classes: large working sets; anything bigger is a conversation.
    rds: { instanceClass: "db.r7g.xlarge", storageGb: { default: 500, min: 200, max: 2000 } },
    elasticache: { nodeType: "cache.r7g.xlarge" },
    kubernetes: {
      quota: { requests: { cpu: "32", memory: "64Gi" }, limits: { cpu: "64", memory: "128Gi" }, pods: 150 },
      container: { requests: { cpu: "1", memory: "2Gi" }, limits: { cpu: "2", memory: "4Gi" } },
    },
  },
};

/** What one environment means for availability and safety. */
export interface EnvironmentGuardrails {
  /** Days of automated backups kept (RDS backup retention, ElastiCache snapshot retention). */
  backupRetentionDays: number;
  /** Run a standby in a second availability zone (RDS multi-AZ, ElastiCache multi-AZ). */
  multiAz: boolean;
  /** Cloud-side deletion protection on databases. */
  deletionProtection: boolean;
  /** Pulumi `protect` on stateful resources: `pulumi destroy` refuses to delete them. */
  protect: boolean;
  /** Take a final snapshot when a database is deleted. */
  finalSnapshot: boolean;
  /** Minimum (and default) number of pod replicas of a WebService. */
  minReplicas: number;
  /** Number of cache nodes (1 primary + replicas) in an ElastiCache replication group. */
  cacheNodes: number;
  /** Days a noncurrent S3 object version is kept before it expires. */
  noncurrentVersionExpirationDays: number;
}

export const environments: Readonly<Record<Environment, EnvironmentGuardrails>> = {
  // dev: cheap and disposable; one day of backups still undoes a bad migration.
  dev: {
    backupRetentionDays: 1,
    multiAz: false,
    deletionProtection: false,
    protect: false,
    finalSnapshot: false,
    minReplicas: 1,
    cacheNodes: 1,
    noncurrentVersionExpirationDays: 7,
  },
  // staging: a week of backups so a release can be compared against last week's data.
  staging: {
    backupRetentionDays: 7,
    multiAz: false,
    deletionProtection: false,
    protect: false,
    finalSnapshot: true,
    minReplicas: 1,
    cacheNodes: 1,
    noncurrentVersionExpirationDays: 30,
  },
  // prod: survives an AZ outage and a mistaken delete; two replicas keep a rollout available.
  prod: {
    backupRetentionDays: 14,
    multiAz: true,
    deletionProtection: true,
    protect: true,
    finalSnapshot: true,
    minReplicas: 2,
    cacheNodes: 2,
    noncurrentVersionExpirationDays: 90,
  },
};

/** Engine versions the platform team supports (patched, not end-of-life). */
export const engineVersions = {
  postgres: {
    allowed: ["15", "16", "17"],
    // The newest major with a full year of RDS support behind it.
    default: "16",
  },
  redis: {
    allowed: ["7.0", "7.1"],
    // 7.1 is the newest Redis OSS ElastiCache offers.
    default: "7.1",
  },
} as const;

/** The parameter group family of each allowed PostgreSQL major version. */
export function postgresParameterFamily(engineVersion: string): string {
  return `postgres${engineVersion.split(".")[0]}`;
}

/**
 * Tag keys Paved sets on every taggable child. Users may add tags, but never override
 * these: policies and cost reports depend on them.
 */
export const RESERVED_TAG_PREFIX = "paved:";
export const TAG_KEYS = {
  team: "paved:team",
  environment: "paved:environment",
  offering: "paved:offering",
  managedBy: "paved:managed-by",
} as const;
/** Tags every taggable resource must carry, whether or not Paved made it. */
export const requiredTagKeys: readonly string[] = [TAG_KEYS.team, TAG_KEYS.environment];
/**
 * Kubernetes label keys may not contain ':', so Kubernetes children carry the same facts
 * under `paved.dev/` labels (and the well-known `app.kubernetes.io/managed-by`).
 */
export const RESERVED_LABEL_PREFIX = "paved.dev/";
export const LABEL_KEYS = {
  team: "paved.dev/team",
  environment: "paved.dev/environment",
  offering: "paved.dev/offering",
  managedBy: "app.kubernetes.io/managed-by",
} as const;
/** The value of `paved:managed-by` on everything Paved creates. */
export const MANAGED_BY = "paved";

/** Team names are DNS labels: they end up in Kubernetes namespaces and AWS names. */
export const TEAM_PATTERN = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** Instance names a requester may choose (also used in stack names and AWS identifiers). */
export const NAME_PATTERN = /^[a-z][a-z0-9-]{1,39}$/;

/**
 * Resource types that hold data: deleting or replacing one loses it. The risk classifier
 * rates their replace/delete high; the policy pack requires `protect` on them in prod.
 */
export const statefulResourceTypes: readonly string[] = [
  "aws:rds/instance:Instance",
  "aws:rds/cluster:Cluster",
  "aws:elasticache/replicationGroup:ReplicationGroup",
  "aws:elasticache/cluster:Cluster",
  "aws:s3/bucket:Bucket",
  "aws:s3/bucketV2:BucketV2",
  "aws:sqs/queue:Queue",
  "aws:dynamodb/table:Table",
  "aws:ebs/volume:Volume",
  "aws:efs/fileSystem:FileSystem",
  "aws:secretsmanager/secret:Secret",
  "kubernetes:core/v1:PersistentVolumeClaim",
  "kubernetes:core/v1:PersistentVolume",
  "kubernetes:apps/v1:StatefulSet",
  "kubernetes:core/v1:Namespace",
];

/**
 * Resource types that control who can reach or do what. Any change to one is rated high
 * by the risk classifier: a one-character change can open a database to the internet.
 */
export const securitySensitiveResourceTypes: readonly string[] = [
  "aws:ec2/securityGroup:SecurityGroup",
  "aws:ec2/securityGroupRule:SecurityGroupRule",
  "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
  "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
  "aws:iam/role:Role",
  "aws:iam/policy:Policy",
  "aws:iam/rolePolicy:RolePolicy",
  "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
  "aws:iam/user:User",
  "aws:iam/accessKey:AccessKey",
  "aws:kms/key:Key",
  "aws:s3/bucketPolicy:BucketPolicy",
  "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
  "aws:s3/bucketAcl:BucketAcl",
  "aws:s3/bucketAclV2:BucketAclV2",
  "aws:sqs/queuePolicy:QueuePolicy",
  "aws:secretsmanager/secretVersion:SecretVersion",
  "random:index/randomPassword:RandomPassword",
  "kubernetes:rbac.authorization.k8s.io/v1:Role",
  "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
  "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
  "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
  "kubernetes:networking.k8s.io/v1:NetworkPolicy",
];

/**
 * AWS resource types that accept `tags`: the policy pack requires the `paved:` tags on
 * them, and the components set them on every one they create.
 */
export const taggableResourceTypes: readonly string[] = [
  "aws:rds/instance:Instance",
  "aws:rds/cluster:Cluster",
  "aws:rds/subnetGroup:SubnetGroup",
  "aws:rds/parameterGroup:ParameterGroup",
  "aws:elasticache/replicationGroup:ReplicationGroup",
  "aws:elasticache/subnetGroup:SubnetGroup",
  "aws:elasticache/parameterGroup:ParameterGroup",
  "aws:ec2/securityGroup:SecurityGroup",
  "aws:ec2/instance:Instance",
  "aws:ec2/vpc:Vpc",
  "aws:ec2/subnet:Subnet",
  "aws:s3/bucket:Bucket",
  "aws:s3/bucketV2:BucketV2",
  "aws:sqs/queue:Queue",
  "aws:secretsmanager/secret:Secret",
  "aws:kms/key:Key",
  "aws:iam/role:Role",
  "aws:iam/policy:Policy",
  "aws:lambda/function:Function",
  "aws:dynamodb/table:Table",
  "aws:ebs/volume:Volume",
  "aws:efs/fileSystem:FileSystem",
];

/**
 * Pulumi type tokens of Paved's own components, by offering. The risk classifier treats a
 * component like its stateful children: the children carry the data, the component groups them.
 */
export const componentTypes = {
  postgres: "paved:aws:PostgresDatabase",
  redis: "paved:aws:RedisCache",
  queue: "paved:aws:Queue",
  bucket: "paved:aws:Bucket",
  namespace: "paved:kubernetes:TeamNamespace",
  "web-service": "paved:kubernetes:WebService",
} as const;
export type Offering = keyof typeof componentTypes;
export const OFFERINGS = Object.keys(componentTypes) as Offering[];

/** Whether `name` is an offering (own keys only: "toString" is not one). The one lookup every table indexes by. */
export function isOffering(name: string): name is Offering {
  return Object.hasOwn(componentTypes, name);
}

/**
 * Offerings that hold data: deleting or replacing one loses it. The catalog publishes
 * this flag and the risk classifier rates a component of these types like its data.
 */
export const statefulOfferings: readonly Offering[] = ["postgres", "redis", "queue", "bucket", "namespace"];

/** The instance classes of all tiers: RDS instances outside this list break policy. */
export function allowedRdsInstanceClasses(): string[] {
  return TIERS.map((t) => tiers[t].rds.instanceClass);
}

/** Queue settings shared by every tier (SQS has no sizes; these are behaviour defaults). */
export const queueDefaults = {
  // AWS's own default: long enough for most consumers, short enough to retry promptly.
  visibilityTimeoutSeconds: { default: 30, min: 0, max: 43_200 },
  // Four days (AWS's default) on the main queue: consumers catch up after an outage.
  messageRetentionSeconds: 345_600,
  // Fourteen days (the SQS maximum) on the dead-letter queue: time to inspect and redrive.
  deadLetterRetentionSeconds: 1_209_600,
  // A message that failed five times is poison, not bad luck: move it aside.
  maxReceiveCount: 5,
} as const;

/** Database and cache settings shared by every tier. */
export const dataStoreDefaults = {
  // PostgreSQL's and Redis's standard ports: clients and tooling expect them.
  postgresPort: 5432,
  redisPort: 6379,
  // The RDS master user; its password lives only in Secrets Manager (manageMasterUserPassword).
  postgresMasterUsername: "paved_admin",
  // Storage autoscaling ceiling as a multiple of the allocated size: room to grow, bounded cost.
  storageAutoscalingFactor: 2,
  // Length of the generated Redis AUTH token (ElastiCache accepts 16 to 128 characters).
  redisAuthTokenLength: 48,
} as const;

/** Security-group ingress ports that may be open to the whole internet (HTTP and HTTPS). */
export const publicIngressPorts: readonly number[] = [80, 443];

/** Pod Security Standard enforced on every team namespace. */
export const podSecurityLevel = "restricted";

/** Web service settings shared by every tier. */
export const webServiceDefaults = {
  // Kubernetes' conventional health endpoint; probes hit it on the container port.
  healthPath: "/healthz",
  // Replicas above this are a capacity conversation with the platform team.
  maxReplicas: 50,
  // A fixed non-root UID/GID: images need not declare a USER for `runAsNonRoot` to pass.
  runAsUser: 10001,
  // The Service listens on 80 inside the cluster; the container port is the app's own.
  servicePort: 80,
} as const;

/** The Kubernetes ClusterRole a team's group is bound to in its own namespace. */
export const teamNamespaceRole = "edit";

/** Bucket settings shared by every tier (noncurrent-version expiry is per environment, above). */
export const bucketDefaults = {
  // Parts of an upload abandoned for a week will never complete: stop paying for them.
  abortIncompleteMultipartUploadDays: 7,
} as const;

/** Redis AUTH token rotation. */
export const redisAuthTokenDefaults = {
  // The first version of a cache's token; a runbook raises it to rotate the token.
  initialVersion: 1,
  // An upper bound so a typo (a timestamp, a negative number) is caught, not applied.
  maxVersion: 1_000_000,
} as const;
