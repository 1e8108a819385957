/** Policies on AWS resources. One object per rule; limits read from the guardrails table. */
// Deep imports: `@pulumi/aws`'s index loads all of its ~250 service modules (~0.25 s).
import * as elasticache from "@pulumi/aws/elasticache";
import * as rds from "@pulumi/aws/rds";
import * as sqs from "@pulumi/aws/sqs";
import { ReportViolation, ResourceValidationPolicy, StackValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { ENVIRONMENTS, allowedRdsInstanceClasses, environments, publicIngressPorts, requiredTagKeys, taggableResourceTypes } from "../../components/guardrails";
import { appliesTo, environmentConfigProperty, environmentNote, environmentOf, perEnvironmentNumbers, show } from "./shared";

export const rdsStorageEncrypted: ResourceValidationPolicy = {
  name: "rds-storage-encrypted",
  description: "RDS instances must encrypt their storage (storageEncrypted: true).",
  configSchema: { properties: {} },
  validateResource: validateResourceOfType(rds.Instance, (db, _args, report) => {
    if (db.storageEncrypted !== true) {
      report(`storageEncrypted is ${show(db.storageEncrypted)}: it must be true`);
    }
  }),
};

export const rdsNoPublicAccess: ResourceValidationPolicy = {
  name: "rds-no-public-access",
  description: "RDS instances must not be publicly accessible.",
  configSchema: { properties: {} },
  validateResource: validateResourceOfType(rds.Instance, (db, _args, report) => {
    if (db.publiclyAccessible === true) {
      report("publiclyAccessible is true: databases are reached from inside the VPC only");
    }
  }),
};

export const rdsBackupRetention: ResourceValidationPolicy = {
  name: "rds-backup-retention",
  description: "RDS instances must keep automated backups at least as long as their environment requires.",
  configSchema: {
    properties: {
      ...environmentConfigProperty,
      minimumDays: perEnvironmentNumbers(
        "Minimum backup retention in days, per environment.",
        Object.fromEntries(ENVIRONMENTS.map((e) => [e, environments[e].backupRetentionDays])) as never,
      ),
    },
  },
  validateResource: validateResourceOfType(rds.Instance, (db, args, report) => {
    const config = args.getConfig<{ environment?: string; minimumDays: Record<string, number> }>();
    const env = environmentOf(db as never, config);
    const minimum = config.minimumDays[env.environment];
    const retention = db.backupRetentionPeriod;
    if (typeof retention !== "number" || retention < minimum) {
      report(`backupRetentionPeriod is ${show(retention)}: at least ${minimum} days are required${environmentNote(env)}`);
    }
  }),
};

export const rdsInstanceClass: ResourceValidationPolicy = {
  name: "rds-instance-class",
  description: "RDS instances must use an instance class of one of the tiers.",
  configSchema: {
    properties: {
      allowedInstanceClasses: {
        type: "array",
        items: { type: "string" },
        description: "Instance classes allowed (the tiers' classes).",
        default: allowedRdsInstanceClasses(),
      },
    },
  },
  validateResource: validateResourceOfType(rds.Instance, (db, args, report) => {
    const allowed = args.getConfig<{ allowedInstanceClasses: string[] }>().allowedInstanceClasses;
    if (!allowed.includes(db.instanceClass as string)) {
      report(`instanceClass ${show(db.instanceClass)} is not one of ${allowed.join(", ")}`);
    }
  }),
};

export const rdsDeletionProtection: ResourceValidationPolicy = {
  name: "rds-deletion-protection",
  description: "RDS instances in prod must have deletion protection on.",
  configSchema: { properties: { ...environmentConfigProperty } },
  validateResource: validateResourceOfType(rds.Instance, (db, args, report) => {
    const env = environmentOf(db as never, args.getConfig());
    if (environments[env.environment].deletionProtection && db.deletionProtection !== true) {
      report(`deletionProtection is ${show(db.deletionProtection)}: it must be true${environmentNote(env)}`);
    }
  }),
};

export const elasticacheEncryption: ResourceValidationPolicy = {
  name: "elasticache-encryption",
  description: "ElastiCache replication groups must encrypt data at rest and in transit.",
  configSchema: { properties: {} },
  validateResource: validateResourceOfType(elasticache.ReplicationGroup, (group, _args, report) => {
    const missing: string[] = [];
    if (group.atRestEncryptionEnabled !== true) missing.push(`atRestEncryptionEnabled is ${show(group.atRestEncryptionEnabled)}`);
    if (group.transitEncryptionEnabled !== true) missing.push(`transitEncryptionEnabled is ${show(group.transitEncryptionEnabled)}`);
    if (missing.length > 0) {
      report(`${missing.join(" and ")}: both must be true`);
    }
  }),
};

const bucketTypes = ["aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"];

interface StackResource {
  type: string;
  name: string;
  urn: string;
  props: Record<string, any>;
  parent?: { urn: string };
  dependencies: { urn: string }[];
}

/** Indexes of a stack's resources: by parent and type, and by what they depend on. */
interface StackIndex {
  byParentAndType: Map<string, StackResource[]>;
  /** Keyed by parent, type and the bucket the resource names in its `bucket` input. */
  byParentTypeAndBucket: Map<string, StackResource[]>;
  dependents: Map<string, StackResource[]>;
}

function push<K>(map: Map<K, StackResource[]>, key: K, r: StackResource): void {
  const list = map.get(key);
  if (list) list.push(r);
  else map.set(key, [r]);
}

function indexStack(all: StackResource[]): StackIndex {
  const byParentAndType = new Map<string, StackResource[]>();
  const byParentTypeAndBucket = new Map<string, StackResource[]>();
  const dependents = new Map<string, StackResource[]>();
  for (const r of all) {
    const key = `${r.parent?.urn ?? ""}|${r.type}`;
    push(byParentAndType, key, r);
    const target = r.type.startsWith("aws:s3/") ? r.props.bucket : undefined;
    if (typeof target === "string") push(byParentTypeAndBucket, `${key}|${target}`, r);
    for (const d of r.dependencies) push(dependents, d.urn, r);
  }
  return { byParentAndType, byParentTypeAndBucket, dependents };
}

/**
 * The resources of `types` that configure `bucket`: they depend on it, or they are its
 * siblings (same parent) naming it, or they are siblings and it is the only bucket there.
 */
function bucketCompanions(bucket: StackResource, index: StackIndex, types: string[]): StackResource[] {
  const parent = bucket.parent?.urn ?? "";
  const siblingBuckets = bucketTypes.reduce((n, t) => n + (index.byParentAndType.get(`${parent}|${t}`)?.length ?? 0), 0);
  const found = new Set<StackResource>();
  for (const r of index.dependents.get(bucket.urn) ?? []) {
    if (types.includes(r.type)) found.add(r);
  }
  for (const type of types) {
    const key = `${parent}|${type}`;
    const named = [bucket.props.bucket, bucket.name].filter((n) => typeof n === "string");
    const siblings = siblingBuckets === 1 ? index.byParentAndType.get(key) : named.flatMap((n) => index.byParentTypeAndBucket.get(`${key}|${n}`) ?? []);
    for (const r of siblings ?? []) found.add(r);
  }
  return [...found];
}

function validateBuckets(check: (bucket: StackResource, index: StackIndex) => string | undefined) {
  return (args: { resources: unknown[] }, report: ReportViolation) => {
    const all = args.resources as StackResource[];
    const buckets = all.filter((r) => bucketTypes.includes(r.type));
    if (buckets.length === 0) return;
    const index = indexStack(all);
    for (const bucket of buckets) {
      const problem = check(bucket, index);
      if (problem) report(`bucket ${bucket.name}: ${problem}`, bucket.urn);
    }
  };
}

const publicAccessFlags = ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"] as const;

export const s3PublicAccessBlock: StackValidationPolicy = {
  name: "s3-public-access-block",
  description: "S3 buckets must have a public-access block with all four flags on.",
  configSchema: { properties: {} },
  validateStack: validateBuckets((bucket, index) => {
    const blocks = bucketCompanions(bucket, index, ["aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"]);
    if (blocks.length === 0) return "no BucketPublicAccessBlock";
    const off = publicAccessFlags.filter((f) => blocks.every((b) => b.props[f] !== true));
    return off.length > 0 ? `public-access block leaves ${off.join(", ")} off` : undefined;
  }),
};

export const s3Encryption: StackValidationPolicy = {
  name: "s3-server-side-encryption",
  description: "S3 buckets must have a server-side encryption configuration.",
  configSchema: { properties: {} },
  validateStack: validateBuckets((bucket, index) => {
    const inline = bucket.props.serverSideEncryptionConfiguration ?? bucket.props.serverSideEncryptionConfigurations;
    if (inline && (!Array.isArray(inline) || inline.length > 0)) return undefined;
    const configs = bucketCompanions(bucket, index, [
      "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
      "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
    ]);
    return configs.length === 0 ? "no server-side encryption configuration" : undefined;
  }),
};

const publicCannedAcls = ["public-read", "public-read-write", "authenticated-read"];
const publicGrantees = ["http://acs.amazonaws.com/groups/global/AllUsers", "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"];

function publicAclProblem(props: Record<string, any>): string | undefined {
  if (publicCannedAcls.includes(props.acl)) return `acl ${show(props.acl)} makes objects public`;
  const grants = props.accessControlPolicy?.grants ?? props.grants ?? [];
  for (const g of Array.isArray(grants) ? grants : []) {
    const uri = g?.grantee?.uri ?? g?.uri;
    if (publicGrantees.includes(uri)) return `a grant to ${uri} makes objects public`;
  }
  return undefined;
}

const aclTypes = [...bucketTypes, "aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2"];

export const s3NoPublicAcl: ResourceValidationPolicy = appliesTo(aclTypes, {
  name: "s3-no-public-acl",
  description: "S3 buckets and bucket ACLs must not grant access to everyone or to all AWS users.",
  configSchema: { properties: {} },
  validateResource: (args, report) => {
    if (!aclTypes.includes(args.type)) return;
    const problem = publicAclProblem(args.props);
    if (problem) report(problem);
  },
});

export const sqsEncryption: ResourceValidationPolicy = {
  name: "sqs-encryption",
  description: "SQS queues must use server-side encryption (SSE-SQS or a KMS key).",
  configSchema: { properties: {} },
  validateResource: validateResourceOfType(sqs.Queue, (queue, _args, report) => {
    if (queue.sqsManagedSseEnabled !== true && !queue.kmsMasterKeyId) {
      report("neither sqsManagedSseEnabled nor kmsMasterKeyId is set: the queue is not encrypted");
    }
  }),
};

const openCidrs = ["0.0.0.0/0", "::/0"];

interface IngressLike {
  protocol?: string;
  fromPort?: number;
  toPort?: number;
  cidrs: string[];
}

/** The open-to-the-world problem of one ingress rule, or undefined. */
export function publicIngressProblem(rule: IngressLike, allowedPorts: number[]): string | undefined {
  const open = rule.cidrs.filter((c) => openCidrs.includes(c));
  if (open.length === 0) return undefined;
  const allPorts = rule.protocol === "-1" || rule.protocol === "all" || rule.fromPort === undefined;
  const single = !allPorts && rule.fromPort === rule.toPort && allowedPorts.includes(rule.fromPort as number);
  if (single) return undefined;
  const ports = allPorts ? "all ports" : rule.fromPort === rule.toPort ? `port ${rule.fromPort}` : `ports ${rule.fromPort}-${rule.toPort}`;
  return `ingress from ${open.join(" and ")} on ${ports}: only ${allowedPorts.join(", ")} may be open to the internet`;
}

const ingressTypes = [
  "aws:ec2/securityGroup:SecurityGroup",
  "aws:ec2/securityGroupRule:SecurityGroupRule",
  "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
];

export const securityGroupNoPublicIngress: ResourceValidationPolicy = appliesTo(ingressTypes, {
  name: "security-group-no-public-ingress",
  description: "Security groups must not allow ingress from 0.0.0.0/0 or ::/0, except on the public web ports.",
  configSchema: {
    properties: {
      allowedPorts: { type: "array", items: { type: "number" }, description: "Ports that may be open to the internet.", default: [...publicIngressPorts] },
    },
  },
  validateResource: (args, report) => {
    const allowed = args.getConfig<{ allowedPorts: number[] }>().allowedPorts;
    const p = args.props;
    const rules: IngressLike[] = [];
    if (args.type === "aws:ec2/securityGroup:SecurityGroup") {
      for (const r of Array.isArray(p.ingress) ? p.ingress : []) {
        rules.push({ protocol: String(r.protocol), fromPort: r.fromPort, toPort: r.toPort, cidrs: [...(r.cidrBlocks ?? []), ...(r.ipv6CidrBlocks ?? [])] });
      }
    } else if (args.type === "aws:ec2/securityGroupRule:SecurityGroupRule") {
      if (p.type !== "ingress") return;
      rules.push({ protocol: String(p.protocol), fromPort: p.fromPort, toPort: p.toPort, cidrs: [...(p.cidrBlocks ?? []), ...(p.ipv6CidrBlocks ?? [])] });
    } else if (args.type === "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") {
      rules.push({ protocol: String(p.ipProtocol), fromPort: p.fromPort, toPort: p.toPort, cidrs: [p.cidrIpv4, p.cidrIpv6].filter(Boolean) });
    } else {
      return;
    }
    for (const rule of rules) {
      const problem = publicIngressProblem(rule, allowed);
      if (problem) report(problem);
    }
  },
});

const iamPolicyProps: Record<string, string> = {
  "aws:iam/policy:Policy": "policy",
  "aws:iam/rolePolicy:RolePolicy": "policy",
  "aws:iam/userPolicy:UserPolicy": "policy",
  "aws:iam/groupPolicy:GroupPolicy": "policy",
};

function asList(value: unknown): unknown[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** Statement ids (or indexes) of statements allowing every action on every resource. */
export function wildcardAdminStatements(document: unknown): string[] {
  let doc = document;
  if (typeof doc === "string") {
    try {
      doc = JSON.parse(doc);
    } catch {
      return [];
    }
  }
  const statements = asList((doc as Record<string, unknown> | undefined)?.Statement);
  const found: string[] = [];
  statements.forEach((s, i) => {
    const st = s as Record<string, unknown>;
    if (st?.Effect !== "Allow") return;
    const actions = asList(st.Action);
    const resources = asList(st.Resource);
    if (actions.includes("*") && resources.includes("*")) found.push(typeof st.Sid === "string" ? st.Sid : `#${i}`);
  });
  return found;
}

export const iamNoWildcardAdmin: ResourceValidationPolicy = appliesTo([...Object.keys(iamPolicyProps), "aws:iam/role:Role"], {
  name: "iam-no-wildcard-admin",
  description: "IAM policies must not allow every action (*) on every resource (*).",
  configSchema: { properties: {} },
  validateResource: (args, report) => {
    const documents: unknown[] = [];
    const prop = iamPolicyProps[args.type];
    if (prop) documents.push(args.props[prop]);
    else if (args.type === "aws:iam/role:Role") {
      for (const inline of asList(args.props.inlinePolicies)) documents.push((inline as Record<string, unknown>)?.policy);
    } else return;
    for (const doc of documents) {
      const statements = wildcardAdminStatements(doc);
      if (statements.length > 0) {
        report(`statement ${statements.join(", ")} allows Action "*" on Resource "*": grant the actions and resources needed instead`);
      }
    }
  },
});

export const requiredTags: ResourceValidationPolicy = appliesTo(taggableResourceTypes, {
  name: "required-tags",
  description: "Taggable AWS resources must carry the paved:team and paved:environment tags.",
  configSchema: {
    properties: {
      requiredTags: { type: "array", items: { type: "string" }, description: "Tag keys every taggable resource carries.", default: [...requiredTagKeys] },
    },
  },
  validateResource: (args, report) => {
    if (!taggableResourceTypes.includes(args.type)) return;
    const required = args.getConfig<{ requiredTags: string[] }>().requiredTags;
    const tags = (args.props.tags ?? {}) as Record<string, unknown>;
    const missing = required.filter((k) => typeof tags[k] !== "string" || tags[k] === "");
    if (missing.length > 0) {
      report(`missing tag${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`);
    }
  },
});

export const awsPolicies = [
  rdsStorageEncrypted,
  rdsNoPublicAccess,
  rdsBackupRetention,
  rdsInstanceClass,
  rdsDeletionProtection,
  elasticacheEncryption,
  s3PublicAccessBlock,
  s3Encryption,
  s3NoPublicAcl,
  sqsEncryption,
  securityGroupNoPublicIngress,
  iamNoWildcardAdmin,
  requiredTags,
];
