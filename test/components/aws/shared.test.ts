/**
 * What every AWS component owes, checked the same way for all four: children parented to
 * the component, the `paved:` tags (plus the user's) on every taggable child, no secret in
 * plain text in any child's inputs or in the component's outputs.
 */
import { describe, expect, it } from "vitest";
import { Bucket, PostgresDatabase, Queue, RedisCache } from "../../../components/aws";
import { Environment, taggableResourceTypes } from "../../../components/guardrails";
import { isSecretValue, revealSecrets } from "../../../stacks/pulumiMocks";
import { build, plainStrings } from "../harness";

const network = { vpcId: "vpc-0123", subnetIds: ["subnet-a", "subnet-b"] };
const extraTags = { "cost-center": "cc-42" };

interface Case {
  offering: string;
  type: string;
  program: (environment: Environment) => () => Record<string, unknown>;
  /** Every child, by name, with its type: a child added or dropped fails the test. */
  children: Record<string, string>;
  outputs: string[];
}

const cases: Case[] = [
  {
    offering: "postgres",
    type: "paved:aws:PostgresDatabase",
    program: (environment) => () => {
      const c = new PostgresDatabase("orders-db", { team: "payments", environment, network, tags: extraTags });
      return { endpoint: c.endpoint, port: c.port, secretArn: c.secretArn, securityGroupId: c.securityGroupId };
    },
    children: {
      "orders-db-subnets": "aws:rds/subnetGroup:SubnetGroup",
      "orders-db-sg": "aws:ec2/securityGroup:SecurityGroup",
      "orders-db-params": "aws:rds/parameterGroup:ParameterGroup",
      "orders-db-db": "aws:rds/instance:Instance",
    },
    outputs: ["endpoint", "port", "secretArn", "securityGroupId"],
  },
  {
    offering: "redis",
    type: "paved:aws:RedisCache",
    program: (environment) => () => {
      const c = new RedisCache("sessions", { team: "payments", environment, network, tags: extraTags });
      return { primaryEndpoint: c.primaryEndpoint, port: c.port, secretArn: c.secretArn };
    },
    children: {
      "sessions-auth-token": "random:index/randomPassword:RandomPassword",
      "sessions-auth-secret": "aws:secretsmanager/secret:Secret",
      "sessions-auth-secret-version": "aws:secretsmanager/secretVersion:SecretVersion",
      "sessions-subnets": "aws:elasticache/subnetGroup:SubnetGroup",
      "sessions-sg": "aws:ec2/securityGroup:SecurityGroup",
      "sessions-redis": "aws:elasticache/replicationGroup:ReplicationGroup",
    },
    outputs: ["primaryEndpoint", "port", "secretArn"],
  },
  {
    offering: "queue",
    type: "paved:aws:Queue",
    program: (environment) => () => {
      const c = new Queue("orders", { team: "payments", environment, tags: extraTags });
      return { url: c.url, arn: c.arn, deadLetterUrl: c.deadLetterUrl };
    },
    children: {
      "orders-dlq": "aws:sqs/queue:Queue",
      "orders-queue": "aws:sqs/queue:Queue",
      "orders-queue-policy": "aws:sqs/queuePolicy:QueuePolicy",
      "orders-dlq-policy": "aws:sqs/queuePolicy:QueuePolicy",
      "orders-dlq-redrive-allow": "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy",
    },
    outputs: ["url", "arn", "deadLetterUrl"],
  },
  {
    offering: "bucket",
    type: "paved:aws:Bucket",
    program: (environment) => () => {
      const c = new Bucket("receipts", { team: "payments", environment, tags: extraTags });
      return { bucketName: c.bucketName, arn: c.arn };
    },
    children: {
      "receipts-bucket": "aws:s3/bucket:Bucket",
      "receipts-ownership": "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
      "receipts-public-access-block": "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
      "receipts-encryption": "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
      "receipts-versioning": "aws:s3/bucketVersioning:BucketVersioning",
      "receipts-lifecycle": "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
      "receipts-policy": "aws:s3/bucketPolicy:BucketPolicy",
    },
    outputs: ["bucketName", "arn"],
  },
];

/** Input keys that would hold a credential if one were ever set. */
const credentialKeys = ["password", "masterPassword", "authToken", "secretString", "secretBinary"];

describe.each(cases)("$type", (c) => {
  it.each(["dev", "prod"] as const)("parents every child to the component and tags every taggable one (%s)", async (environment) => {
    const b = await build(c.program(environment), environment);
    const component = b.resources.filter((r) => r.type === c.type);
    expect(component).toHaveLength(1);
    const children = b.resources.filter((r) => r.parent === component[0].urn);
    expect(Object.fromEntries(children.map((r) => [r.name, r.type]))).toEqual(c.children);
    // Nothing else was registered: no child escaped the component.
    expect(b.resources.filter((r) => r.type !== "pulumi:pulumi:Stack").length).toBe(children.length + 1);

    const taggable = children.filter((r) => taggableResourceTypes.includes(r.type));
    expect(taggable.length).toBeGreaterThan(0);
    for (const child of taggable) {
      expect({ name: child.name, tags: child.props.tags }).toEqual({
        name: child.name,
        tags: {
          "cost-center": "cc-42",
          "paved:team": "payments",
          "paved:environment": environment,
          "paved:offering": c.offering,
          "paved:managed-by": "paved",
        },
      });
    }
  });

  it("keeps credentials secret in every child and out of the outputs", async () => {
    const b = await build(c.program("prod"), "prod");
    const secretValues: string[] = [];
    for (const r of b.resources) {
      for (const key of credentialKeys) {
        const value = r.props[key];
        if (value === undefined) continue;
        expect({ resource: r.name, key, secret: isSecretValue(value) }).toEqual({ resource: r.name, key, secret: true });
        secretValues.push(String(revealSecrets(value)));
      }
      if (r.type === "random:index/randomPassword:RandomPassword") {
        expect(isSecretValue(r.outputs.result)).toBe(true);
        secretValues.push(String(revealSecrets(r.outputs.result)));
      }
    }
    // The Redis token is the only credential Paved generates; the database's lives in AWS.
    expect(secretValues.length).toBe(c.offering === "redis" ? 3 : 0);
    expect(Object.keys(b.outputs).sort()).toEqual([...c.outputs].sort());
    for (const secret of secretValues) {
      expect(secret.length).toBeGreaterThanOrEqual(16);
      for (const r of b.resources) {
        expect(plainStrings(r.props)).not.toContain(secret);
      }
      expect(JSON.stringify(b.outputs)).not.toContain(secret);
    }
  });
});
