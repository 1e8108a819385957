/**
 * Benchmark: evaluates 10,000 generated resources of mixed types through `evaluate` with
 * the Paved pack, then through the overlapping policies of @pulumi/awsguard (loaded
 * in-process, no PolicyPack constructed), and prints resources per second for both.
 *
 *   npm run bench:policy [-- --count 10000]
 */
import { performance } from "node:perf_hooks";
import { EvaluateResource, Policy, evaluate } from "../policy-pack/api";

function argCount(): number {
  const i = process.argv.indexOf("--count");
  return i >= 0 ? Number(process.argv[i + 1]) : 10_000;
}

const tags = (env: string) => ({ "paved:team": "payments", "paved:environment": env });

/** 10 kinds of resources, in equal shares, some compliant and some not. */
export function generateResources(count: number): EvaluateResource[] {
  const out: EvaluateResource[] = [];
  const envs = ["dev", "staging", "prod"];
  for (let i = 0; out.length < count; i++) {
    const env = envs[i % 3];
    const bad = i % 7 === 0;
    const parent = `urn:pulumi:dev::bench::paved:aws:Bucket::b${i}`;
    const kinds: EvaluateResource[] = [
      {
        type: "aws:rds/instance:Instance",
        name: `db${i}`,
        protect: env === "prod",
        props: {
          instanceClass: "db.m7g.large",
          storageEncrypted: !bad,
          publiclyAccessible: bad,
          backupRetentionPeriod: 14,
          deletionProtection: true,
          multiAz: true,
          tags: tags(env),
        },
      },
      {
        type: "aws:ec2/securityGroup:SecurityGroup",
        name: `sg${i}`,
        props: { ingress: [{ protocol: "tcp", fromPort: bad ? 22 : 443, toPort: bad ? 22 : 443, cidrBlocks: ["0.0.0.0/0"] }], tags: tags(env) },
      },
      { type: "aws:s3/bucket:Bucket", name: `bucket${i}`, parent, protect: env === "prod", props: { tags: tags(env) } },
      {
        type: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        name: `pab${i}`,
        parent,
        props: { bucket: `bucket${i}`, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: !bad },
      },
      { type: "aws:sqs/queue:Queue", name: `q${i}`, protect: env === "prod", props: { sqsManagedSseEnabled: !bad, tags: tags(env) } },
      {
        type: "aws:elasticache/replicationGroup:ReplicationGroup",
        name: `cache${i}`,
        protect: env === "prod",
        props: { atRestEncryptionEnabled: true, transitEncryptionEnabled: !bad, tags: tags(env) },
      },
      {
        type: "aws:iam/policy:Policy",
        name: `pol${i}`,
        props: { policy: JSON.stringify({ Statement: [{ Effect: "Allow", Action: bad ? "*" : "s3:GetObject", Resource: "*" }] }), tags: tags(env) },
      },
      {
        type: "kubernetes:apps/v1:Deployment",
        name: `web${i}`,
        props: {
          metadata: { name: `web${i}`, labels: { "paved.dev/environment": env } },
          spec: {
            template: {
              spec: {
                securityContext: { runAsNonRoot: true },
                containers: [
                  {
                    name: "app",
                    image: bad ? "nginx" : "nginx:1.27",
                    resources: { requests: { cpu: "1", memory: "1Gi" }, limits: { cpu: "1", memory: "1Gi" } },
                  },
                ],
              },
            },
          },
        },
      },
      {
        type: "kubernetes:core/v1:Namespace",
        name: `ns${i}`,
        protect: env === "prod",
        props: { metadata: { name: `ns${i}`, labels: { "pod-security.kubernetes.io/enforce": "restricted", "paved.dev/environment": env } } },
      },
      { type: "kubernetes:core/v1:ResourceQuota", name: `quota${i}`, props: { metadata: { name: "q", namespace: `ns${i}` }, spec: { hard: { pods: "10" } } } },
    ];
    out.push(...kinds.slice(0, count - out.length));
  }
  return out;
}

async function time(label: string, resources: EvaluateResource[], policies?: Policy[]): Promise<number> {
  await evaluate(resources.slice(0, 500), { policies }); // warm up
  const start = performance.now();
  const violations = await evaluate(resources, { policies });
  const seconds = (performance.now() - start) / 1000;
  const perSecond = resources.length / seconds;
  console.log(
    `${label.padEnd(44)} ${resources.length} resources in ${(seconds * 1000).toFixed(0)} ms: ${perSecond.toFixed(0)} resources/s (${violations.length} violations)`,
  );
  return perSecond;
}

async function main(): Promise<void> {
  const resources = generateResources(argCount());
  const { policies } = await import("../policy-pack/policies");
  const full = await time(`paved, whole pack (${policies.length} policies)`, resources);
  // Like for like: Paved's policies that check what the awsguard ones below check.
  const overlapping = policies.filter((p) => ["rds-storage-encrypted", "rds-no-public-access", "rds-backup-retention"].includes(p.name));
  const paved = await time(`paved (${overlapping.length} overlapping policies)`, resources, overlapping);
  // The awsguard policies that check what Paved's RDS policies check. Requiring the module
  // registers its policies; it does not construct the AwsGuard pack.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const database = require("@pulumi/awsguard/database");
  const awsguard: Policy[] = [database.rdsStorageEncrypted, database.rdsInstancePublicAccess, database.rdsInstanceBackupEnabled];
  const guard = await time(`@pulumi/awsguard (${awsguard.length} overlapping policies)`, resources, awsguard);
  console.log(`ratio paved / awsguard, same checks (resources per second): ${(paved / guard).toFixed(2)}`);
  console.log(`whole pack: ${full >= 10_000 ? "meets" : "MISSES"} the target of 10,000 resources in under one second`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
