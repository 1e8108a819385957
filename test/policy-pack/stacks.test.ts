import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import { describe, expect, it } from "vitest";
import { catalog } from "../../components/catalog";
import { ENVIRONMENTS, OFFERINGS, TIERS } from "../../components/guardrails";
import { evaluateProgram } from "../../policy-pack/api";

const network = { vpcId: "vpc-0123", subnetIds: ["subnet-a", "subnet-b"] };
const sampleParams: Record<string, Record<string, unknown>> = {
  "web-service": { namespace: "payments-dev", image: "ghcr.io/acme/api:1.4.2", port: 8080 },
};

describe("the paved road passes its own guardrails", () => {
  for (const environment of ENVIRONMENTS) {
    it(`every offering in every tier in ${environment}: no violation at all`, async () => {
      const { violations, resources } = await evaluateProgram(
        () => {
          for (const offering of OFFERINGS) {
            const tiers = "tier" in (catalog[offering].params as any).shape ? TIERS : [undefined];
            for (const tier of tiers) {
              const params = catalog[offering].params.parse({ ...sampleParams[offering], ...(tier ? { tier } : {}) });
              catalog[offering].build(`${offering}-${tier ?? "x"}`, params, { team: "payments", environment, network });
            }
          }
          return {};
        },
        { stack: environment },
      );
      expect(resources.length).toBeGreaterThan(80);
      expect(violations).toEqual([]);
    });
  }
});

describe("a deliberately insecure raw stack", () => {
  it("gives the expected violations", async () => {
    const { violations } = await evaluateProgram(
      () => {
        new aws.rds.Instance("legacy-db", {
          engine: "postgres",
          instanceClass: "db.m5.24xlarge",
          allocatedStorage: 100,
          publiclyAccessible: true,
          username: "admin",
          password: "hunter2hunter2",
          tags: { "paved:team": "payments", "paved:environment": "dev" },
        });
        new aws.ec2.SecurityGroup("wide-open", {
          ingress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }],
          tags: { "paved:team": "payments", "paved:environment": "dev" },
        });
        new k8s.core.v1.Pod("debug", {
          metadata: { name: "debug", namespace: "default" },
          spec: { hostNetwork: true, containers: [{ name: "shell", image: "ubuntu", securityContext: { privileged: true } }] },
        });
        return {};
      },
      { stack: "dev" },
    );
    expect(violations.map((v) => `${v.policyName} ${v.resourceName}: ${v.message}`).sort()).toEqual([
      'k8s-image-pinned debug: container "shell" image "ubuntu" has no tag (it means latest)',
      "k8s-no-host-namespaces debug: pod sets hostNetwork: true",
      'k8s-no-privileged-containers debug: container "shell" is privileged',
      'k8s-resources-set debug: container "shell" does not set resources requests.cpu, requests.memory, limits.cpu, limits.memory',
      'k8s-run-as-non-root debug: container "shell" does not set runAsNonRoot: true',
      "rds-backup-retention legacy-db: backupRetentionPeriod is unset: at least 1 days are required in dev",
      'rds-instance-class legacy-db: instanceClass "db.m5.24xlarge" is not one of db.t4g.small, db.m7g.large, db.r7g.xlarge',
      "rds-no-public-access legacy-db: publiclyAccessible is true: databases are reached from inside the VPC only",
      "rds-storage-encrypted legacy-db: storageEncrypted is unset: it must be true",
      "security-group-no-public-ingress wide-open: ingress from 0.0.0.0/0 on all ports: only 80, 443 may be open to the internet",
    ]);
    expect(violations.every((v) => v.enforcementLevel === "mandatory")).toBe(true);
  });
});
