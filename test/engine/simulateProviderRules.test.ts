/**
 * Replace or update, per resource type the components create, as the pinned providers
 * decide it: each row is one change, the op and detailed-diff keys the engine would report,
 * and the provider file the rule is read from (`automation/engine/simulate/providerRules.ts`
 * cites the same files).
 */
import { describe, expect, it } from "vitest";
import { classifyChange, diffStates, SimResource } from "../../automation/engine/simulate/diff";
import { replaceRules } from "../../automation/engine/simulate/providerRules";
import { classifyStep } from "../../automation/risk";

const TF = "hashicorp/terraform-provider-aws internal/service/";
const K8S = "pulumi/pulumi-kubernetes provider/pkg/provider/diff.go";
const RANDOM = "hashicorp/terraform-provider-random internal/provider/resource_password.go";
const secret = (h: string) => ({ "[secret]": `sha256:${h}` });

interface Row {
  change: string;
  before: Record<string, unknown>;
  after: Record<string, unknown>;
  op: "update" | "replace";
  keys: string[];
  replaceKeys?: string[];
  source: string;
}

const rows: Record<string, Row[]> = {
  // components/aws/postgresDatabase.ts
  "aws:rds/instance:Instance": [
    {
      change: "instance class",
      before: { instanceClass: "db.t4g.small" },
      after: { instanceClass: "db.m7g.large" },
      op: "update",
      keys: ["instanceClass"],
      source: `${TF}rds/instance.go`,
    },
    {
      change: "engine version (upgrade in place)",
      before: { engineVersion: "16" },
      after: { engineVersion: "17" },
      op: "update",
      keys: ["engineVersion"],
      source: `${TF}rds/instance.go`,
    },
    {
      change: "subnet group (not ForceNew)",
      before: { dbSubnetGroupName: "a" },
      after: { dbSubnetGroupName: "b" },
      op: "update",
      keys: ["dbSubnetGroupName"],
      source: `${TF}rds/instance.go`,
    },
    {
      change: "identifier (renamed in place)",
      before: { identifier: "a" },
      after: { identifier: "b" },
      op: "update",
      keys: ["identifier"],
      source: `${TF}rds/instance.go`,
    },
    { change: "engine", before: { engine: "postgres" }, after: { engine: "mysql" }, op: "replace", keys: ["engine"], source: `${TF}rds/instance.go` },
    {
      change: "storage encryption",
      before: { storageEncrypted: true },
      after: { storageEncrypted: false },
      op: "replace",
      keys: ["storageEncrypted"],
      source: `${TF}rds/instance.go`,
    },
    { change: "database name", before: { dbName: "a" }, after: { dbName: "b" }, op: "replace", keys: ["dbName"], source: `${TF}rds/instance.go` },
    { change: "master user", before: { username: "a" }, after: { username: "b" }, op: "replace", keys: ["username"], source: `${TF}rds/instance.go` },
    {
      change: "restore from a snapshot",
      before: {},
      after: { snapshotIdentifier: "snap-1" },
      op: "replace",
      keys: ["snapshotIdentifier"],
      source: `${TF}rds/instance.go`,
    },
    { change: "KMS key", before: { kmsKeyId: "k1" }, after: { kmsKeyId: "k2" }, op: "replace", keys: ["kmsKeyId"], source: `${TF}rds/instance.go` },
    {
      change: "a tag (tags_all follows)",
      before: { tags: { "paved:team": "a" } },
      after: { tags: { "paved:team": "a", CostCenter: "42" } },
      op: "update",
      keys: ["tags.CostCenter", "tagsAll.CostCenter"],
      source: `${TF}rds/instance.go (tftags.TagsSchema)`,
    },
    {
      change: "a security group (a set: element added and removed)",
      before: { vpcSecurityGroupIds: ["sg-1"] },
      after: { vpcSecurityGroupIds: ["sg-2"] },
      op: "update",
      keys: ["vpcSecurityGroupIds[0]"],
      source: `${TF}rds/instance.go`,
    },
  ],
  "aws:rds/subnetGroup:SubnetGroup": [
    {
      change: "subnets",
      before: { subnetIds: ["a", "b"] },
      after: { subnetIds: ["a", "c"] },
      op: "update",
      keys: ["subnetIds[1]"],
      source: `${TF}rds/subnet_group.go`,
    },
    {
      change: "description",
      before: { description: "a" },
      after: { description: "b" },
      op: "update",
      keys: ["description"],
      source: `${TF}rds/subnet_group.go`,
    },
    { change: "name", before: { name: "a" }, after: { name: "b" }, op: "replace", keys: ["name"], source: `${TF}rds/subnet_group.go` },
  ],
  "aws:rds/parameterGroup:ParameterGroup": [
    {
      change: "family",
      before: { family: "postgres16" },
      after: { family: "postgres17" },
      op: "replace",
      keys: ["family"],
      source: `${TF}rds/parameter_group.go`,
    },
    {
      change: "description",
      before: { description: "a" },
      after: { description: "b" },
      op: "replace",
      keys: ["description"],
      source: `${TF}rds/parameter_group.go`,
    },
    {
      change: "a parameter",
      before: { parameters: [{ name: "rds.force_ssl", value: "1" }] },
      after: { parameters: [{ name: "rds.force_ssl", value: "0" }] },
      op: "update",
      keys: ["parameters[0]"],
      source: `${TF}rds/parameter_group.go`,
    },
  ],
  "aws:ec2/securityGroup:SecurityGroup": [
    {
      change: "description",
      before: { description: "a" },
      after: { description: "b" },
      op: "replace",
      keys: ["description"],
      source: `${TF}ec2/vpc_security_group.go`,
    },
    { change: "VPC", before: { vpcId: "vpc-1" }, after: { vpcId: "vpc-2" }, op: "replace", keys: ["vpcId"], source: `${TF}ec2/vpc_security_group.go` },
    {
      change: "an ingress rule added",
      before: { ingress: [{ fromPort: 5432, toPort: 5432, protocol: "tcp", cidrBlocks: ["10.0.0.0/16"] }] },
      after: {
        ingress: [
          { fromPort: 5432, toPort: 5432, protocol: "tcp", cidrBlocks: ["10.0.0.0/16"] },
          { fromPort: 5432, toPort: 5432, protocol: "tcp", securityGroups: ["sg-9"] },
        ],
      },
      op: "update",
      keys: ["ingress[1]"],
      source: `${TF}ec2/vpc_security_group.go`,
    },
    {
      change: "a paved tag (quoted key)",
      before: { tags: { "paved:team": "a" } },
      after: { tags: { "paved:team": "b" } },
      op: "update",
      keys: ['tagsAll["paved:team"]', 'tags["paved:team"]'],
      source: "pulumi/pulumi sdk/go/common/resource/properties_path.go (PropertyPath.String)",
    },
  ],
  // components/aws/redisCache.ts
  "aws:elasticache/replicationGroup:ReplicationGroup": [
    {
      change: "engine version downgrade 7.1 -> 7.0",
      before: { engineVersion: "7.1" },
      after: { engineVersion: "7.0" },
      op: "replace",
      keys: ["engineVersion"],
      source: `${TF}elasticache/engine_version.go (customizeDiffEngineVersionForceNewOnDowngrade)`,
    },
    {
      change: "engine version upgrade 7.0 -> 7.1",
      before: { engineVersion: "7.0" },
      after: { engineVersion: "7.1" },
      op: "update",
      keys: ["engineVersion"],
      source: `${TF}elasticache/engine_version.go`,
    },
    {
      change: "engine version 6.x -> 6.2 (6.x sorts above any minor)",
      before: { engineVersion: "6.x" },
      after: { engineVersion: "6.2" },
      op: "replace",
      keys: ["engineVersion"],
      source: `${TF}elasticache/engine_version.go (normalizeEngineVersion)`,
    },
    {
      change: "engine redis -> valkey",
      before: { engine: "redis" },
      after: { engine: "valkey" },
      op: "update",
      keys: ["engine"],
      source: `${TF}elasticache/engine_version.go (customizeDiffEngineForceNewOnDowngrade)`,
    },
    {
      change: "engine valkey -> redis",
      before: { engine: "valkey" },
      after: { engine: "redis" },
      op: "replace",
      keys: ["engine"],
      source: `${TF}elasticache/engine_version.go (customizeDiffEngineForceNewOnDowngrade)`,
    },
    { change: "port", before: { port: 6379 }, after: { port: 6380 }, op: "replace", keys: ["port"], source: `${TF}elasticache/replication_group.go` },
    {
      change: "snapshot name",
      before: {},
      after: { snapshotName: "s1" },
      op: "replace",
      keys: ["snapshotName"],
      source: `${TF}elasticache/replication_group.go`,
    },
    {
      change: "snapshot ARNs",
      before: {},
      after: { snapshotArns: ["arn:s1"] },
      op: "replace",
      keys: ["snapshotArns"],
      source: `${TF}elasticache/replication_group.go`,
    },
    {
      change: "subnet group",
      before: { subnetGroupName: "a" },
      after: { subnetGroupName: "b" },
      op: "replace",
      keys: ["subnetGroupName"],
      source: `${TF}elasticache/replication_group.go`,
    },
    {
      change: "encryption at rest",
      before: { atRestEncryptionEnabled: true },
      after: { atRestEncryptionEnabled: false },
      op: "replace",
      keys: ["atRestEncryptionEnabled"],
      source: `${TF}elasticache/replication_group.go`,
    },
    {
      change: "node type",
      before: { nodeType: "cache.t4g.small" },
      after: { nodeType: "cache.m7g.large" },
      op: "update",
      keys: ["nodeType"],
      source: `${TF}elasticache/replication_group.go`,
    },
    {
      change: "AUTH token",
      before: { authToken: secret("a") },
      after: { authToken: secret("b") },
      op: "update",
      keys: ["authToken"],
      source: `${TF}elasticache/replication_group.go`,
    },
    {
      change: "cache clusters",
      before: { numCacheClusters: 1 },
      after: { numCacheClusters: 2 },
      op: "update",
      keys: ["numCacheClusters"],
      source: `${TF}elasticache/replication_group.go`,
    },
    {
      change: "transit encryption on 7.1",
      before: { engineVersion: "7.1", transitEncryptionEnabled: false },
      after: { engineVersion: "7.1", transitEncryptionEnabled: true },
      op: "update",
      keys: ["transitEncryptionEnabled"],
      source: `${TF}elasticache/replication_group.go (ForceNewIf transit_encryption_enabled)`,
    },
    {
      change: "transit encryption on 6.2",
      before: { engineVersion: "6.2", transitEncryptionEnabled: false },
      after: { engineVersion: "6.2", transitEncryptionEnabled: true },
      op: "replace",
      keys: ["transitEncryptionEnabled"],
      source: `${TF}elasticache/replication_group.go (ForceNewIf transit_encryption_enabled)`,
    },
  ],
  "aws:elasticache/subnetGroup:SubnetGroup": [
    { change: "name", before: { name: "a" }, after: { name: "b" }, op: "replace", keys: ["name"], source: `${TF}elasticache/subnet_group.go` },
    {
      change: "description",
      before: { description: "a" },
      after: { description: "b" },
      op: "update",
      keys: ["description"],
      source: `${TF}elasticache/subnet_group.go`,
    },
  ],
  "aws:secretsmanager/secret:Secret": [
    { change: "name", before: { name: "a" }, after: { name: "b" }, op: "replace", keys: ["name"], source: `${TF}secretsmanager/secret.go` },
    {
      change: "description",
      before: { description: "a" },
      after: { description: "b" },
      op: "update",
      keys: ["description"],
      source: `${TF}secretsmanager/secret.go`,
    },
  ],
  "aws:secretsmanager/secretVersion:SecretVersion": [
    {
      change: "secret value",
      before: { secretString: secret("a") },
      after: { secretString: secret("b") },
      op: "replace",
      keys: ["secretString"],
      source: `${TF}secretsmanager/secret_version.go`,
    },
    {
      change: "secret",
      before: { secretId: "arn:1" },
      after: { secretId: "arn:2" },
      op: "replace",
      keys: ["secretId"],
      source: `${TF}secretsmanager/secret_version.go`,
    },
  ],
  "random:index/randomPassword:RandomPassword": [
    {
      change: "a keeper",
      before: { keepers: { version: "1" } },
      after: { keepers: { version: "2" } },
      op: "replace",
      keys: ["keepers.version"],
      source: `${RANDOM} (RequiresReplaceIfValuesNotNull)`,
    },
    {
      change: "a keeper removed",
      before: { keepers: { version: "1" } },
      after: { keepers: {} },
      op: "replace",
      keys: ["keepers.version"],
      source: `${RANDOM} (RequiresReplaceIfValuesNotNull)`,
    },
    { change: "length", before: { length: 32 }, after: { length: 40 }, op: "replace", keys: ["length"], source: RANDOM },
    { change: "special", before: { special: false }, after: { special: true }, op: "replace", keys: ["special"], source: RANDOM },
    { change: "upper", before: { upper: true }, after: { upper: false }, op: "replace", keys: ["upper"], source: RANDOM },
    { change: "lower", before: { lower: true }, after: { lower: false }, op: "replace", keys: ["lower"], source: RANDOM },
    { change: "numeric", before: { numeric: true }, after: { numeric: false }, op: "replace", keys: ["numeric"], source: RANDOM },
    { change: "minUpper", before: { minUpper: 0 }, after: { minUpper: 2 }, op: "replace", keys: ["minUpper"], source: RANDOM },
    { change: "minLower", before: { minLower: 0 }, after: { minLower: 2 }, op: "replace", keys: ["minLower"], source: RANDOM },
    { change: "minNumeric", before: { minNumeric: 0 }, after: { minNumeric: 2 }, op: "replace", keys: ["minNumeric"], source: RANDOM },
    { change: "minSpecial", before: { minSpecial: 0 }, after: { minSpecial: 2 }, op: "replace", keys: ["minSpecial"], source: RANDOM },
  ],
  // components/aws/bucket.ts
  "aws:s3/bucket:Bucket": [
    { change: "bucket name", before: { bucket: "a" }, after: { bucket: "b" }, op: "replace", keys: ["bucket"], source: `${TF}s3/bucket.go` },
    { change: "object lock", before: {}, after: { objectLockEnabled: true }, op: "replace", keys: ["objectLockEnabled"], source: `${TF}s3/bucket.go` },
    {
      change: "force destroy",
      before: { forceDestroy: false },
      after: { forceDestroy: true },
      op: "update",
      keys: ["forceDestroy"],
      source: `${TF}s3/bucket.go`,
    },
  ],
  "aws:s3/bucketOwnershipControls:BucketOwnershipControls": [
    { change: "bucket", before: { bucket: "a" }, after: { bucket: "b" }, op: "replace", keys: ["bucket"], source: `${TF}s3/bucket_ownership_controls.go` },
    {
      change: "ownership",
      before: { rule: { objectOwnership: "BucketOwnerEnforced" } },
      after: { rule: { objectOwnership: "ObjectWriter" } },
      op: "update",
      keys: ["rule.objectOwnership"],
      source: `${TF}s3/bucket_ownership_controls.go`,
    },
  ],
  "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": [
    { change: "bucket", before: { bucket: "a" }, after: { bucket: "b" }, op: "replace", keys: ["bucket"], source: `${TF}s3/bucket_public_access_block.go` },
    {
      change: "a flag",
      before: { blockPublicAcls: true },
      after: { blockPublicAcls: false },
      op: "update",
      keys: ["blockPublicAcls"],
      source: `${TF}s3/bucket_public_access_block.go`,
    },
  ],
  "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": [
    {
      change: "bucket",
      before: { bucket: "a" },
      after: { bucket: "b" },
      op: "replace",
      keys: ["bucket"],
      source: `${TF}s3/bucket_server_side_encryption_configuration.go`,
    },
    {
      change: "the algorithm (a set element)",
      before: { rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" } }] },
      after: { rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] },
      op: "update",
      keys: ["rules[0]"],
      source: `${TF}s3/bucket_server_side_encryption_configuration.go`,
    },
  ],
  "aws:s3/bucketVersioning:BucketVersioning": [
    { change: "bucket", before: { bucket: "a" }, after: { bucket: "b" }, op: "replace", keys: ["bucket"], source: `${TF}s3/bucket_versioning.go` },
    {
      change: "status",
      before: { versioningConfiguration: { status: "Enabled" } },
      after: { versioningConfiguration: { status: "Suspended" } },
      op: "update",
      keys: ["versioningConfiguration.status"],
      source: `${TF}s3/bucket_versioning.go`,
    },
  ],
  "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": [
    { change: "bucket", before: { bucket: "a" }, after: { bucket: "b" }, op: "replace", keys: ["bucket"], source: `${TF}s3/bucket_lifecycle_configuration.go` },
    {
      change: "noncurrent days",
      before: { rules: [{ noncurrentVersionExpiration: { noncurrentDays: 30 } }] },
      after: { rules: [{ noncurrentVersionExpiration: { noncurrentDays: 90 } }] },
      op: "update",
      keys: ["rules[0].noncurrentVersionExpiration.noncurrentDays"],
      source: `${TF}s3/bucket_lifecycle_configuration.go`,
    },
  ],
  "aws:s3/bucketPolicy:BucketPolicy": [
    { change: "bucket", before: { bucket: "a" }, after: { bucket: "b" }, op: "replace", keys: ["bucket"], source: `${TF}s3/bucket_policy.go` },
    { change: "policy", before: { policy: "{}" }, after: { policy: '{"a":1}' }, op: "update", keys: ["policy"], source: `${TF}s3/bucket_policy.go` },
  ],
  // components/aws/queue.ts
  "aws:sqs/queue:Queue": [
    { change: "FIFO", before: { fifoQueue: false }, after: { fifoQueue: true }, op: "replace", keys: ["fifoQueue"], source: `${TF}sqs/queue.go` },
    {
      change: "visibility timeout",
      before: { visibilityTimeoutSeconds: 30 },
      after: { visibilityTimeoutSeconds: 60 },
      op: "update",
      keys: ["visibilityTimeoutSeconds"],
      source: `${TF}sqs/queue.go`,
    },
  ],
  "aws:sqs/queuePolicy:QueuePolicy": [
    { change: "queue", before: { queueUrl: "u1" }, after: { queueUrl: "u2" }, op: "replace", keys: ["queueUrl"], source: `${TF}sqs/queue_policy.go` },
    { change: "policy", before: { policy: "{}" }, after: { policy: '{"a":1}' }, op: "update", keys: ["policy"], source: `${TF}sqs/queue_policy.go` },
  ],
  "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy": [
    {
      change: "queue",
      before: { queueUrl: "u1" },
      after: { queueUrl: "u2" },
      op: "replace",
      keys: ["queueUrl"],
      source: `${TF}sqs/queue_redrive_allow_policy.go`,
    },
    {
      change: "policy",
      before: { redriveAllowPolicy: "{}" },
      after: { redriveAllowPolicy: '{"a":1}' },
      op: "update",
      keys: ["redriveAllowPolicy"],
      source: `${TF}sqs/queue_redrive_allow_policy.go`,
    },
  ],
  // components/kubernetes/teamNamespace.ts
  "kubernetes:core/v1:Namespace": [
    {
      change: "a label",
      before: { metadata: { name: "payments", labels: { "paved.dev/team": "payments" } } },
      after: { metadata: { name: "payments", labels: { "paved.dev/team": "billing" } } },
      op: "update",
      keys: ['metadata.labels["paved.dev/team"]'],
      source: `${K8S} (only .metadata.name/.metadata.namespace); quoting: provider/pkg/provider/provider.go addPatchValueToDiff`,
    },
    {
      change: "a label added (no quote for a dash)",
      before: { metadata: { name: "payments", labels: {} } },
      after: { metadata: { name: "payments", labels: { "cost-center": "42" } } },
      op: "update",
      keys: ["metadata.labels.cost-center"],
      source: `${K8S}; provider/pkg/provider/provider.go addPatchValueToDiff`,
    },
    { change: "name", before: { metadata: { name: "a" } }, after: { metadata: { name: "b" } }, op: "replace", keys: ["metadata.name"], source: K8S },
  ],
  "kubernetes:core/v1:ResourceQuota": [
    {
      change: "a hard limit",
      before: { spec: { hard: { "requests.cpu": "2" } } },
      after: { spec: { hard: { "requests.cpu": "4" } } },
      op: "update",
      keys: ['spec.hard["requests.cpu"]'],
      source: K8S,
    },
    { change: "scopes", before: { spec: {} }, after: { spec: { scopes: ["BestEffort"] } }, op: "replace", keys: ["spec.scopes"], source: K8S },
    {
      change: "namespace",
      before: { metadata: { namespace: "a" } },
      after: { metadata: { namespace: "b" } },
      op: "replace",
      keys: ["metadata.namespace"],
      source: K8S,
    },
  ],
  "kubernetes:core/v1:LimitRange": [
    {
      change: "a default",
      before: { spec: { limits: [{ default: { cpu: "500m" } }] } },
      after: { spec: { limits: [{ default: { cpu: "1" } }] } },
      op: "update",
      keys: ["spec.limits[0].default.cpu"],
      source: K8S,
    },
  ],
  "kubernetes:networking.k8s.io/v1:NetworkPolicy": [
    {
      change: "policy types",
      before: { spec: { policyTypes: ["Ingress"] } },
      after: { spec: { policyTypes: ["Ingress", "Egress"] } },
      op: "update",
      keys: ["spec.policyTypes[1]"],
      source: K8S,
    },
    {
      change: "namespace",
      before: { metadata: { namespace: "a" } },
      after: { metadata: { namespace: "b" } },
      op: "replace",
      keys: ["metadata.namespace"],
      source: K8S,
    },
  ],
  "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": [
    { change: "subject", before: { subjects: [{ name: "a" }] }, after: { subjects: [{ name: "b" }] }, op: "update", keys: ["subjects[0].name"], source: K8S },
    {
      change: "role",
      before: { roleRef: { name: "edit" } },
      after: { roleRef: { name: "admin" } },
      op: "replace",
      keys: ["roleRef.name"],
      source: `${K8S} (roleBinding: .roleRef)`,
    },
  ],
  // components/kubernetes/webService.ts
  "kubernetes:apps/v1:Deployment": [
    { change: "replicas", before: { spec: { replicas: 1 } }, after: { spec: { replicas: 2 } }, op: "update", keys: ["spec.replicas"], source: K8S },
    {
      change: "image (a pod template change is an update for a Deployment)",
      before: { spec: { template: { spec: { containers: [{ image: "a:1" }] } } } },
      after: { spec: { template: { spec: { containers: [{ image: "a:2" }] } } } },
      op: "update",
      keys: ["spec.template.spec.containers[0].image"],
      source: K8S,
    },
    {
      change: "selector",
      before: { spec: { selector: { matchLabels: { app: "a" } } } },
      after: { spec: { selector: { matchLabels: { app: "b" } } } },
      op: "replace",
      keys: ["spec.selector.matchLabels.app"],
      source: `${K8S} (deployment: .spec.selector)`,
    },
    {
      change: "namespace",
      before: { metadata: { namespace: "a" } },
      after: { metadata: { namespace: "b" } },
      op: "replace",
      keys: ["metadata.namespace"],
      source: K8S,
    },
  ],
  "kubernetes:core/v1:Service": [
    {
      change: "port",
      before: { spec: { ports: [{ port: 80 }] } },
      after: { spec: { ports: [{ port: 8080 }] } },
      op: "update",
      keys: ["spec.ports[0].port"],
      source: K8S,
    },
    {
      change: "selector (mutable on a Service)",
      before: { spec: { selector: { app: "a" } } },
      after: { spec: { selector: { app: "b" } } },
      op: "update",
      keys: ["spec.selector.app"],
      source: K8S,
    },
    {
      change: "cluster IP",
      before: { spec: { clusterIP: "10.0.0.1" } },
      after: { spec: { clusterIP: "10.0.0.2" } },
      op: "replace",
      keys: ["spec.clusterIP"],
      source: `${K8S} (Service: .spec.clusterIP)`,
    },
    {
      change: "namespace",
      before: { metadata: { namespace: "a" } },
      after: { metadata: { namespace: "b" } },
      op: "replace",
      keys: ["metadata.namespace"],
      source: K8S,
    },
  ],
  "kubernetes:policy/v1:PodDisruptionBudget": [
    {
      change: "max unavailable (policy/v1 lists no spec field)",
      before: { spec: { maxUnavailable: 1 } },
      after: { spec: { maxUnavailable: 2 } },
      op: "update",
      keys: ["spec.maxUnavailable"],
      source: K8S,
    },
    {
      change: "namespace",
      before: { metadata: { namespace: "a" } },
      after: { metadata: { namespace: "b" } },
      op: "replace",
      keys: ["metadata.namespace"],
      source: K8S,
    },
  ],
};

describe("replace rules per type, from the pinned providers", () => {
  for (const [type, list] of Object.entries(rows)) {
    describe(type, () => {
      it.each(list)("$change -> $op ($source)", (row) => {
        const result = classifyChange(type, row.before, row.after);
        expect(result).toEqual({ op: row.op, changedKeys: row.keys, replaceKeys: row.replaceKeys ?? (row.op === "replace" ? row.keys : []) });
      });
    });
  }

  it("covers every resource type the components create, and cites a source for each", () => {
    const created = [
      "aws:rds/subnetGroup:SubnetGroup",
      "aws:ec2/securityGroup:SecurityGroup",
      "aws:rds/parameterGroup:ParameterGroup",
      "aws:rds/instance:Instance",
      "aws:sqs/queue:Queue",
      "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy",
      "aws:sqs/queuePolicy:QueuePolicy",
      "random:index/randomPassword:RandomPassword",
      "aws:secretsmanager/secret:Secret",
      "aws:secretsmanager/secretVersion:SecretVersion",
      "aws:elasticache/subnetGroup:SubnetGroup",
      "aws:elasticache/replicationGroup:ReplicationGroup",
      "aws:s3/bucket:Bucket",
      "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
      "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
      "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
      "aws:s3/bucketVersioning:BucketVersioning",
      "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
      "aws:s3/bucketPolicy:BucketPolicy",
      "kubernetes:core/v1:Namespace",
      "kubernetes:core/v1:ResourceQuota",
      "kubernetes:core/v1:LimitRange",
      "kubernetes:networking.k8s.io/v1:NetworkPolicy",
      "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
      "kubernetes:apps/v1:Deployment",
      "kubernetes:core/v1:Service",
      "kubernetes:policy/v1:PodDisruptionBudget",
    ];
    for (const type of created) {
      expect(replaceRules[type]?.source, type).toMatch(/^(hashicorp\/terraform-provider-(aws|random)|pulumi\/pulumi-kubernetes) \S+/);
      expect(rows[type]?.length, type).toBeGreaterThan(0);
    }
  });
});

describe("risk with detailed-diff keys", () => {
  const step = (type: string, before: Record<string, unknown>, after: Record<string, unknown>) => ({
    urn: `urn:pulumi:s::paved::${type}::r`,
    type,
    name: "r",
    ...classifyChange(type, before, after),
  });

  it("rates a Namespace label-only change low (medium in prod): an update, not a replace", () => {
    const s = step(
      "kubernetes:core/v1:Namespace",
      { metadata: { name: "payments", labels: { a: "1" } } },
      { metadata: { name: "payments", labels: { a: "2" } } },
    );
    expect(s.op).toBe("update");
    expect(classifyStep(s, "dev")).toEqual({ level: "low", reasons: ["updates only tags or labels of kubernetes:core/v1:Namespace r (metadata.labels.a)"] });
    expect(classifyStep(s, "prod").level).toBe("medium");
  });

  it("rates a tag-only update low, and a tag with another change medium", () => {
    const tags = step("aws:rds/instance:Instance", { tags: { "paved:team": "a" } }, { tags: { "paved:team": "b" } });
    expect(classifyStep(tags, "dev")).toEqual({
      level: "low",
      reasons: ['updates only tags or labels of aws:rds/instance:Instance r (tagsAll["paved:team"], tags["paved:team"])'],
    });
    const mixed = step("aws:rds/instance:Instance", { tags: { a: "1" }, instanceClass: "x" }, { tags: { a: "2" }, instanceClass: "y" });
    expect(classifyStep(mixed, "dev").level).toBe("medium");
  });
});

describe("diffStates: a replaced resource's consumers change", () => {
  const PW = "random:index/randomPassword:RandomPassword";
  const SV = "aws:secretsmanager/secretVersion:SecretVersion";
  const RG = "aws:elasticache/replicationGroup:ReplicationGroup";
  const res = (urn: string, type: string, inputs: Record<string, unknown>, refs?: SimResource["refs"]): SimResource => ({
    urn,
    type,
    name: urn,
    protect: false,
    custom: true,
    inputs,
    ...(refs ? { refs } : {}),
  });
  const before = [
    res("pw", PW, { length: 32, keepers: { version: "1" } }),
    res("sv", SV, { secretId: "arn:s", secretString: secret("same") }, [{ path: ["secretString"], from: ["pw"] }]),
    res("rg", RG, { engineVersion: "7.1", authToken: secret("same") }, [{ path: ["authToken"], from: ["pw"] }]),
  ];

  it("shows the SecretVersion replaced and the AUTH token updated when the password's keepers change", () => {
    const after = [{ ...before[0], inputs: { length: 32, keepers: { version: "2" } } }, before[1], before[2]];
    expect(diffStates(before, after).map((s) => [s.op, s.urn, s.changedKeys, s.replaceKeys])).toEqual([
      ["replace", "pw", ["keepers.version"], ["keepers.version"]],
      ["replace", "sv", ["secretString"], ["secretString"]],
      ["update", "rg", ["authToken"], []],
    ]);
  });

  it("changes nothing downstream when the password stays", () => {
    expect(diffStates(before, before).map((s) => s.op)).toEqual(["same", "same", "same"]);
  });
});
