import { describe, expect, it } from "vitest";
import { EvaluateResource, evaluate } from "../../policy-pack/api";

const tags = { "paved:team": "payments", "paved:environment": "prod" };

function rds(props: Record<string, unknown> = {}, extra: Partial<EvaluateResource> = {}): EvaluateResource {
  return {
    type: "aws:rds/instance:Instance",
    name: "db",
    protect: true,
    props: {
      engine: "postgres",
      instanceClass: "db.m7g.large",
      storageEncrypted: true,
      publiclyAccessible: false,
      backupRetentionPeriod: 14,
      deletionProtection: true,
      tags,
      ...props,
    },
    ...extra,
  };
}

async function messages(resources: EvaluateResource[], options = {}) {
  return (await evaluate(resources, options)).map((v) => `${v.policyName} [${v.enforcementLevel}] ${v.resourceName ?? "-"}: ${v.message}`);
}

describe("RDS policies", () => {
  it("pass a compliant prod instance", async () => {
    expect(await messages([rds()])).toEqual([]);
  });

  it.each([
    [{ storageEncrypted: false }, "rds-storage-encrypted [mandatory] db: storageEncrypted is false: it must be true"],
    [{ storageEncrypted: undefined }, "rds-storage-encrypted [mandatory] db: storageEncrypted is unset: it must be true"],
    [{ publiclyAccessible: true }, "rds-no-public-access [mandatory] db: publiclyAccessible is true: databases are reached from inside the VPC only"],
    [{ backupRetentionPeriod: 7 }, "rds-backup-retention [mandatory] db: backupRetentionPeriod is 7: at least 14 days are required in prod"],
    [
      { instanceClass: "db.x2g.16xlarge" },
      'rds-instance-class [mandatory] db: instanceClass "db.x2g.16xlarge" is not one of db.t4g.small, db.m7g.large, db.r7g.xlarge',
    ],
    [{ deletionProtection: false }, "rds-deletion-protection [mandatory] db: deletionProtection is false: it must be true in prod"],
  ])("flag %o", async (change, message) => {
    expect(await messages([rds(change)])).toEqual([message]);
  });

  it("hold dev to dev's backups and no deletion protection", async () => {
    const dev = rds({ backupRetentionPeriod: 1, deletionProtection: false, tags: { ...tags, "paved:environment": "dev" } }, { protect: false });
    expect(await messages([dev])).toEqual([]);
    expect(await messages([rds({ backupRetentionPeriod: 0, tags: { ...tags, "paved:environment": "dev" } })])).toEqual([
      "rds-backup-retention [mandatory] db: backupRetentionPeriod is 0: at least 1 days are required in dev",
    ]);
  });

  it("hold an untagged instance to prod's rules unless config names its environment", async () => {
    const untagged = rds({ tags: undefined, backupRetentionPeriod: 1, deletionProtection: false }, { protect: false });
    expect(await messages([untagged])).toEqual([
      "rds-backup-retention [mandatory] db: backupRetentionPeriod is 1: at least 14 days are required (no paved:environment tag: held to prod's rules)",
      "rds-deletion-protection [mandatory] db: deletionProtection is false: it must be true (no paved:environment tag: held to prod's rules)",
      "required-tags [mandatory] db: missing tags paved:team, paved:environment",
      "stateful-resources-protected [mandatory] db: aws:rds/instance:Instance holds data and is not protected (no paved:environment tag: held to prod's rules): set the protect resource option",
    ]);
    const config = {
      "rds-backup-retention": { environment: "dev" },
      "rds-deletion-protection": { environment: "dev" },
      "stateful-resources-protected": { environment: "dev" },
      "required-tags": "disabled",
    };
    expect(await messages([untagged], { config })).toEqual([]);
  });

  it("take limits from config", async () => {
    const config = {
      "rds-backup-retention": { minimumDays: { dev: 1, staging: 7, prod: 30 } },
      "rds-instance-class": { allowedInstanceClasses: ["db.m7g.large"] },
    };
    expect(await messages([rds()], { config })).toEqual([
      "rds-backup-retention [mandatory] db: backupRetentionPeriod is 14: at least 30 days are required in prod",
    ]);
    expect(await messages([rds({ instanceClass: "db.t4g.small" })], { config })).toEqual([
      "rds-backup-retention [mandatory] db: backupRetentionPeriod is 14: at least 30 days are required in prod",
      'rds-instance-class [mandatory] db: instanceClass "db.t4g.small" is not one of db.m7g.large',
    ]);
  });
});

describe("ElastiCache, SQS and IAM policies", () => {
  const group = (p: Record<string, unknown>): EvaluateResource => ({
    type: "aws:elasticache/replicationGroup:ReplicationGroup",
    name: "cache",
    protect: true,
    props: { atRestEncryptionEnabled: true, transitEncryptionEnabled: true, tags, ...p },
  });
  it("require encryption at rest and in transit", async () => {
    expect(await messages([group({})])).toEqual([]);
    expect(await messages([group({ transitEncryptionEnabled: false })])).toEqual([
      "elasticache-encryption [mandatory] cache: transitEncryptionEnabled is false: both must be true",
    ]);
    expect(await messages([group({ atRestEncryptionEnabled: undefined, transitEncryptionEnabled: undefined })])).toEqual([
      "elasticache-encryption [mandatory] cache: atRestEncryptionEnabled is unset and transitEncryptionEnabled is unset: both must be true",
    ]);
  });

  const queue = (p: Record<string, unknown>): EvaluateResource => ({ type: "aws:sqs/queue:Queue", name: "q", protect: true, props: { tags, ...p } });
  it("require queue encryption", async () => {
    expect(await messages([queue({ sqsManagedSseEnabled: true })])).toEqual([]);
    expect(await messages([queue({ kmsMasterKeyId: "alias/aws/sqs" })])).toEqual([]);
    expect(await messages([queue({})])).toEqual([
      "sqs-encryption [mandatory] q: neither sqsManagedSseEnabled nor kmsMasterKeyId is set: the queue is not encrypted",
    ]);
  });

  const policy = (doc: unknown): EvaluateResource => ({ type: "aws:iam/policy:Policy", name: "p", props: { policy: doc, tags } });
  it("refuse Action * on Resource *", async () => {
    const scoped = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "*" }] };
    expect(await messages([policy(JSON.stringify(scoped))])).toEqual([]);
    const admin = {
      Statement: [
        { Effect: "Deny", Action: "*", Resource: "*" },
        { Sid: "Admin", Effect: "Allow", Action: ["*"], Resource: "*" },
      ],
    };
    expect(await messages([policy(JSON.stringify(admin))])).toEqual([
      'iam-no-wildcard-admin [mandatory] p: statement Admin allows Action "*" on Resource "*": grant the actions and resources needed instead',
    ]);
    const role: EvaluateResource = {
      type: "aws:iam/role:Role",
      name: "r",
      props: {
        tags,
        assumeRolePolicy: "{}",
        inlinePolicies: [{ name: "x", policy: JSON.stringify({ Statement: { Effect: "Allow", Action: "*", Resource: "*" } }) }],
      },
    };
    expect(await messages([role])).toEqual([
      'iam-no-wildcard-admin [mandatory] r: statement #0 allows Action "*" on Resource "*": grant the actions and resources needed instead',
    ]);
  });
});

describe("security-group-no-public-ingress", () => {
  const sg = (ingress: unknown[]): EvaluateResource => ({ type: "aws:ec2/securityGroup:SecurityGroup", name: "sg", props: { ingress, tags } });
  it("allows the web ports and private ranges", async () => {
    expect(
      await messages([
        sg([
          { protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"] },
          { protocol: "tcp", fromPort: 80, toPort: 80, ipv6CidrBlocks: ["::/0"] },
          { protocol: "tcp", fromPort: 5432, toPort: 5432, cidrBlocks: ["10.0.0.0/8"] },
        ]),
      ]),
    ).toEqual([]);
  });
  it.each([
    [{ protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["0.0.0.0/0"] }, "ingress from 0.0.0.0/0 on port 22: only 80, 443 may be open to the internet"],
    [{ protocol: "-1", fromPort: 0, toPort: 0, ipv6CidrBlocks: ["::/0"] }, "ingress from ::/0 on all ports: only 80, 443 may be open to the internet"],
    [
      { protocol: "tcp", fromPort: 80, toPort: 443, cidrBlocks: ["0.0.0.0/0"] },
      "ingress from 0.0.0.0/0 on ports 80-443: only 80, 443 may be open to the internet",
    ],
  ])("flags %o", async (rule, message) => {
    expect(await messages([sg([rule])])).toEqual([`security-group-no-public-ingress [mandatory] sg: ${message}`]);
  });
  it("checks separate rule resources too, and takes allowed ports from config", async () => {
    const rule: EvaluateResource = {
      type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
      name: "ssh",
      props: { ipProtocol: "tcp", fromPort: 22, toPort: 22, cidrIpv4: "0.0.0.0/0" },
    };
    expect(await messages([rule])).toEqual([
      "security-group-no-public-ingress [mandatory] ssh: ingress from 0.0.0.0/0 on port 22: only 80, 443 may be open to the internet",
    ]);
    expect(await messages([rule], { config: { "security-group-no-public-ingress": { allowedPorts: [22, 443] } } })).toEqual([]);
    const egress: EvaluateResource = {
      type: "aws:ec2/securityGroupRule:SecurityGroupRule",
      name: "out",
      props: { type: "egress", protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] },
    };
    expect(await messages([egress])).toEqual([]);
  });
});

describe("S3 policies", () => {
  const parent = "urn:pulumi:dev::paved::paved:aws:Bucket::b";
  const bucket: EvaluateResource = {
    type: "aws:s3/bucket:Bucket",
    name: "b-bucket",
    urn: "urn:pulumi:dev::paved::paved:aws:Bucket$aws:s3/bucket:Bucket::b-bucket",
    parent,
    protect: true,
    props: { tags },
  };
  const pab = (p: Record<string, unknown> = {}): EvaluateResource => ({
    type: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    name: "b-pab",
    parent,
    props: { bucket: "b-bucket-id", blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true, ...p },
  });
  const sse: EvaluateResource = {
    type: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    name: "b-sse",
    parent,
    props: { bucket: "b-bucket-id", rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" } }] },
  };

  it("pass a bucket with its public-access block and encryption beside it", async () => {
    expect(await messages([bucket, pab(), sse])).toEqual([]);
  });
  it("flag a missing or partial public-access block, and missing encryption", async () => {
    expect(await messages([bucket, sse])).toEqual(["s3-public-access-block [mandatory] b-bucket: bucket b-bucket: no BucketPublicAccessBlock"]);
    expect(await messages([bucket, pab({ ignorePublicAcls: false, restrictPublicBuckets: undefined }), sse])).toEqual([
      "s3-public-access-block [mandatory] b-bucket: bucket b-bucket: public-access block leaves ignorePublicAcls, restrictPublicBuckets off",
    ]);
    expect(await messages([bucket, pab()])).toEqual([
      "s3-server-side-encryption [mandatory] b-bucket: bucket b-bucket: no server-side encryption configuration",
    ]);
  });
  it("link configuration to a bucket by dependency when they are not siblings", async () => {
    const loose = { ...bucket, parent: undefined, urn: "urn:pulumi:dev::paved::aws:s3/bucket:Bucket::b-bucket" };
    const other = { ...pab(), parent: undefined, dependencies: [loose.urn] };
    const otherSse = { ...sse, parent: undefined, dependencies: [loose.urn] };
    const second: EvaluateResource = { type: "aws:s3/bucket:Bucket", name: "logs", protect: true, props: { tags } };
    expect(await messages([loose, other, otherSse, second])).toEqual([
      "s3-public-access-block [mandatory] logs: bucket logs: no BucketPublicAccessBlock",
      "s3-server-side-encryption [mandatory] logs: bucket logs: no server-side encryption configuration",
    ]);
  });
  it("refuse public ACLs", async () => {
    expect(await messages([{ ...bucket, props: { tags, acl: "public-read" } }, pab(), sse])).toEqual([
      's3-no-public-acl [mandatory] b-bucket: acl "public-read" makes objects public',
    ]);
    const acl: EvaluateResource = {
      type: "aws:s3/bucketAcl:BucketAcl",
      name: "acl",
      props: {
        bucket: "x",
        accessControlPolicy: { grants: [{ grantee: { type: "Group", uri: "http://acs.amazonaws.com/groups/global/AllUsers" }, permission: "READ" }] },
      },
    };
    expect(await messages([acl])).toEqual([
      "s3-no-public-acl [mandatory] acl: a grant to http://acs.amazonaws.com/groups/global/AllUsers makes objects public",
    ]);
  });
});

describe("required-tags", () => {
  it("requires paved:team and paved:environment on taggable resources only", async () => {
    const vpc = (t?: Record<string, string>): EvaluateResource => ({ type: "aws:ec2/vpc:Vpc", name: "vpc", props: { cidrBlock: "10.0.0.0/16", tags: t } });
    expect(await messages([vpc(tags)])).toEqual([]);
    expect(await messages([vpc({ "paved:team": "payments" })])).toEqual(["required-tags [mandatory] vpc: missing tag paved:environment"]);
    expect(await messages([{ type: "aws:ec2/route:Route", name: "route", props: {} }])).toEqual([]);
    expect(await messages([vpc({ "paved:team": "payments" })], { config: { "required-tags": { requiredTags: ["paved:team"] } } })).toEqual([]);
  });
});
