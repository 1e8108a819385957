/**
 * When a provider replaces a resource instead of updating it, for every resource type the
 * Paved components create, taken from the provider source Paved pins (package-lock.json):
 *
 * - `@pulumi/aws` 7.x bridges terraform-provider-aws v6 (hashicorp/terraform-provider-aws,
 *   `internal/service/<service>/<resource>.go`): a `ForceNew: true` attribute, plus the
 *   resource's `CustomizeDiff` rules.
 * - `@pulumi/random` 4.x bridges terraform-provider-random (hashicorp/terraform-provider-random
 *   `internal/provider/resource_password.go`): `RequiresReplace()` plan modifiers, and
 *   `RequiresReplaceIfValuesNotNull()` on `keepers` (`internal/planmodifiers/map/mapplanmodifiers.go`).
 * - `@pulumi/kubernetes` 4.x (pulumi/pulumi-kubernetes `provider/pkg/provider/diff.go`,
 *   `forceNewProperties`): `.metadata.name` and `.metadata.namespace` for every kind, plus the
 *   immutable fields of some kinds, matched as JSON paths on the changed paths
 *   (`provider/pkg/openapi/match.go`, `PatchPropertiesChanged`).
 *
 * Terraform attribute names appear in their Pulumi (camelCase) spelling. A type missing here
 * is updated in place whatever changes, except for Kubernetes kinds, which always replace on
 * a new name or namespace.
 */
import { isDeepStrictEqual } from "node:util";
import { PathSegment, valueAt } from "./paths";

export interface ReplaceRule {
  /** Provider and file the rule is read from. */
  source: string;
  /** Attributes whose change forces a replacement (Terraform: top-level; Kubernetes: `.a.b[*].c` paths). */
  forceNew: readonly string[];
  /** Top-level attributes that are Terraform sets (diffed by element). */
  sets?: readonly string[];
  /** The provider's own conditional rules: the changed paths that force a replacement. */
  custom?: (changed: PathSegment[][], before: Record<string, unknown>, after: Record<string, unknown>) => PathSegment[][];
}

const TF = "hashicorp/terraform-provider-aws internal/service";

/** Parses `7.1`, `6.x`, `7.0.5` as numbers; `x` sorts above any minor (normalizeEngineVersion). */
export function parseEngineVersion(version: string): number[] | undefined {
  const m = /^(\d+)\.(x|\d+)(?:\.(\d+))?$/.exec(version);
  if (!m) return undefined;
  return [Number(m[1]), m[2] === "x" ? Number.MAX_SAFE_INTEGER : Number(m[2]), Number(m[3] ?? 0)];
}

function lessThan(a: number[], b: number[]): boolean {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

/** `customizeDiffEngineVersionForceNewOnDowngrade` (elasticache/engine_version.go): a lower version replaces. */
export function isEngineDowngrade(before: unknown, after: unknown): boolean {
  if (typeof before !== "string" || typeof after !== "string") return false;
  const o = parseEngineVersion(before);
  const n = parseEngineVersion(after);
  return o !== undefined && n !== undefined && lessThan(n, o);
}

const changedRoot = (changed: PathSegment[][], key: string) => changed.filter((p) => p[0] === key);

function replicationGroupRules(changed: PathSegment[][], before: Record<string, unknown>, after: Record<string, unknown>): PathSegment[][] {
  const out: PathSegment[][] = [];
  // customizeDiffEngineVersionForceNewOnDowngrade: only a downgrade replaces.
  if (isEngineDowngrade(before.engineVersion, after.engineVersion)) out.push(...changedRoot(changed, "engineVersion"));
  // customizeDiffEngineForceNewOnDowngrade: any engine change replaces, except redis -> valkey
  // (and a member of a global replication group).
  if (changedRoot(changed, "engine").length > 0 && !(before.engine === "redis" && after.engine === "valkey") && !after.globalReplicationGroupId) {
    out.push(...changedRoot(changed, "engine"));
  }
  // ForceNewIf("transit_encryption_enabled"): only below Redis 7.0.5 (engine_version_actual,
  // which simulate does not know: the configured version stands in for it).
  const actual = typeof before.engineVersion === "string" ? parseEngineVersion(before.engineVersion) : undefined;
  if (actual && lessThan(actual, [7, 0, 5])) out.push(...changedRoot(changed, "transitEncryptionEnabled"));
  return out;
}

/** `RequiresReplaceIfValuesNotNull` on `keepers`: a keeper that changes, appears or goes away replaces; null values do not count. */
function keepersReplace(before: unknown, after: unknown): boolean {
  const o = (before ?? {}) as Record<string, unknown>;
  const n = (after ?? {}) as Record<string, unknown>;
  if (before === undefined || before === null) return Object.values(n).some((v) => v !== null && v !== undefined);
  for (const [k, v] of Object.entries(n)) {
    if (!(k in o) && (v === null || v === undefined)) continue;
    if (!isDeepStrictEqual(v, o[k])) return true;
  }
  return Object.keys(o).some((k) => !(k in n));
}

function randomRules(changed: PathSegment[][], before: Record<string, unknown>, after: Record<string, unknown>): PathSegment[][] {
  const out: PathSegment[][] = [];
  if (keepersReplace(before.keepers, after.keepers)) out.push(...changedRoot(changed, "keepers"));
  // RequiresReplaceIf(RequiresReplaceUnlessEmptyStringToNull): "" <-> unset is no change.
  const empty = (v: unknown) => v === undefined || v === null || v === "";
  if (!(empty(before.overrideSpecial) && empty(after.overrideSpecial))) out.push(...changedRoot(changed, "overrideSpecial"));
  return out;
}

const RANDOM = "hashicorp/terraform-provider-random internal/provider/resource_password.go";
const randomForceNew = ["length", "special", "upper", "lower", "number", "numeric", "minNumeric", "minUpper", "minLower", "minSpecial"];

const K8S = "pulumi/pulumi-kubernetes provider/pkg/provider/diff.go";
const k8s = (...fields: string[]): ReplaceRule => ({ source: K8S, forceNew: [".metadata.name", ".metadata.namespace", ...fields] });
// labelSelectorForceNewProperties(".spec.selector") lists the selector's fields; the prefix covers them.
const selector = ".spec.selector";

export const replaceRules: Readonly<Record<string, ReplaceRule>> = {
  // components/aws/postgresDatabase.ts
  "aws:rds/instance:Instance": {
    // identifier (renamed in place since v5) and db_subnet_group_name (moved in place) are not ForceNew.
    source: `${TF}/rds/instance.go`,
    forceNew: [
      "availabilityZone",
      "backupTarget",
      "characterSetName",
      "customIamInstanceProfile",
      "dbName",
      "engine",
      "kmsKeyId",
      "ncharCharacterSetName",
      "restoreToPointInTime",
      "s3Import",
      "snapshotIdentifier",
      "storageEncrypted",
      "timezone",
      "username",
    ],
    sets: ["vpcSecurityGroupIds", "enabledCloudwatchLogsExports"],
  },
  "aws:rds/subnetGroup:SubnetGroup": { source: `${TF}/rds/subnet_group.go`, forceNew: ["name", "namePrefix"], sets: ["subnetIds"] },
  "aws:rds/parameterGroup:ParameterGroup": {
    source: `${TF}/rds/parameter_group.go`,
    forceNew: ["name", "namePrefix", "family", "description"],
    sets: ["parameters"],
  },
  "aws:ec2/securityGroup:SecurityGroup": {
    source: `${TF}/ec2/vpc_security_group.go`,
    forceNew: ["name", "namePrefix", "description", "vpcId"],
    sets: ["ingress", "egress"],
  },
  // components/aws/redisCache.ts
  "aws:elasticache/replicationGroup:ReplicationGroup": {
    // engine and engineVersion are not ForceNew: the CustomizeDiff rules below decide.
    source: `${TF}/elasticache/replication_group.go, elasticache/engine_version.go`,
    forceNew: [
      "atRestEncryptionEnabled",
      "dataTieringEnabled",
      "globalReplicationGroupId",
      "kmsKeyId",
      "networkType",
      "port",
      "replicationGroupId",
      "securityGroupNames",
      "snapshotArns",
      "snapshotName",
      "subnetGroupName",
    ],
    sets: ["securityGroupIds", "securityGroupNames", "snapshotArns", "userGroupIds", "logDeliveryConfigurations"],
    custom: replicationGroupRules,
  },
  "aws:elasticache/subnetGroup:SubnetGroup": { source: `${TF}/elasticache/subnet_group.go`, forceNew: ["name"], sets: ["subnetIds"] },
  "aws:secretsmanager/secret:Secret": { source: `${TF}/secretsmanager/secret.go`, forceNew: ["name", "namePrefix"] },
  "aws:secretsmanager/secretVersion:SecretVersion": {
    source: `${TF}/secretsmanager/secret_version.go`,
    forceNew: ["secretId", "secretBinary", "secretString", "secretStringWoVersion"],
    sets: ["versionStages"],
  },
  "random:index/randomPassword:RandomPassword": { source: RANDOM, forceNew: randomForceNew, custom: randomRules },
  "random:index/randomString:RandomString": { source: RANDOM.replace("password", "string"), forceNew: randomForceNew, custom: randomRules },
  // components/aws/bucket.ts (aws.s3.Bucket is aws_s3_bucket in v6)
  "aws:s3/bucket:Bucket": { source: `${TF}/s3/bucket.go`, forceNew: ["bucket", "bucketPrefix", "objectLockEnabled"] },
  "aws:s3/bucketOwnershipControls:BucketOwnershipControls": { source: `${TF}/s3/bucket_ownership_controls.go`, forceNew: ["bucket"] },
  "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": { source: `${TF}/s3/bucket_public_access_block.go`, forceNew: ["bucket"] },
  "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": {
    source: `${TF}/s3/bucket_server_side_encryption_configuration.go`,
    forceNew: ["bucket", "expectedBucketOwner"],
    sets: ["rules"],
  },
  "aws:s3/bucketVersioning:BucketVersioning": { source: `${TF}/s3/bucket_versioning.go`, forceNew: ["bucket", "expectedBucketOwner"] },
  "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": {
    source: `${TF}/s3/bucket_lifecycle_configuration.go (RequiresReplace)`,
    forceNew: ["bucket", "expectedBucketOwner"],
  },
  "aws:s3/bucketPolicy:BucketPolicy": { source: `${TF}/s3/bucket_policy.go`, forceNew: ["bucket"] },
  // components/aws/queue.ts
  "aws:sqs/queue:Queue": { source: `${TF}/sqs/queue.go`, forceNew: ["name", "namePrefix", "fifoQueue"] },
  "aws:sqs/queuePolicy:QueuePolicy": { source: `${TF}/sqs/queue_policy.go`, forceNew: ["queueUrl"] },
  "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy": { source: `${TF}/sqs/queue_redrive_allow_policy.go`, forceNew: ["queueUrl"] },
  // components/kubernetes/teamNamespace.ts
  "kubernetes:core/v1:Namespace": k8s(),
  "kubernetes:core/v1:ResourceQuota": k8s(".spec.scopes"),
  "kubernetes:core/v1:LimitRange": k8s(),
  "kubernetes:networking.k8s.io/v1:NetworkPolicy": k8s(),
  "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": k8s(".roleRef"),
  "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": k8s(".roleRef"),
  // components/kubernetes/webService.ts
  "kubernetes:apps/v1:Deployment": k8s(selector),
  "kubernetes:core/v1:Service": k8s(".spec.clusterIP"),
  // policy/v1 lists no kind fields (only policy/v1beta1 replaces on any `.spec` change).
  "kubernetes:policy/v1:PodDisruptionBudget": k8s(),
  "kubernetes:policy/v1beta1:PodDisruptionBudget": k8s(".spec"),
  // Kinds Paved does not create today, from the same table.
  "kubernetes:apps/v1:DaemonSet": k8s(selector),
  "kubernetes:apps/v1:StatefulSet": k8s(".spec.podManagementPolicy", ".spec.revisionHistoryLimit", selector, ".spec.serviceName", ".spec.volumeClaimTemplates"),
  "kubernetes:batch/v1:Job": k8s(".spec.completions", ".spec.parallelism", selector, ".spec.template"),
  "kubernetes:core/v1:Secret": k8s(".type", ".stringData", ".data"),
  "kubernetes:core/v1:ConfigMap": k8s(".binaryData", ".data"),
  "kubernetes:core/v1:PersistentVolumeClaim": k8s(".spec.accessModes", selector, ".spec.storageClassName", ".spec.volumeName"),
};

/** The rule for `type` (a Kubernetes kind not listed still replaces on a new name or namespace). */
export function replaceRuleFor(type: string): ReplaceRule | undefined {
  return replaceRules[type] ?? (type.startsWith("kubernetes:") ? k8s() : undefined);
}

function jsonPath(path: string): PathSegment[] {
  return path
    .replace(/^\./, "")
    .split(/\.|(?=\[)/)
    .map((s) => (s === "[*]" ? "*" : s));
}

/**
 * `PatchPropertiesChanged`: the patch holding only the change at `changed` touches `forceNew`
 * when one path is a prefix of the other and, for a changed parent, the value there holds the field.
 */
function kubernetesMatch(changed: PathSegment[], forceNew: PathSegment[], before: unknown, after: unknown): boolean {
  const n = Math.min(changed.length, forceNew.length);
  for (let i = 0; i < n; i++) {
    const f = forceNew[i];
    if (f === "*" ? typeof changed[i] !== "number" : f !== changed[i]) return false;
  }
  if (changed.length >= forceNew.length) return true;
  const rest = forceNew.slice(changed.length);
  const holds = (v: unknown) => !rest.includes("*") && valueAt(v, rest) !== undefined;
  return holds(valueAt(after, changed)) || holds(valueAt(before, changed));
}

/** The changed paths that make the provider replace a resource of `type`. */
export function replacePaths(type: string, changed: PathSegment[][], before: Record<string, unknown>, after: Record<string, unknown>): PathSegment[][] {
  const rule = replaceRuleFor(type);
  if (!rule) return [];
  let forcing: PathSegment[][];
  if (type.startsWith("kubernetes:")) {
    const patterns = rule.forceNew.map(jsonPath);
    forcing = changed.filter((p) => patterns.some((f) => kubernetesMatch(p, f, before, after)));
  } else {
    forcing = changed.filter((p) => rule.forceNew.includes(p[0] as string));
  }
  const custom = rule.custom?.(changed, before, after) ?? [];
  return changed.filter((p) => forcing.includes(p) || custom.includes(p));
}
