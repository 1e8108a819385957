import { describe, expect, it } from "vitest";
import { RedisCache, redisSettings } from "../../../components/aws";
import { resolveCommonArgs } from "../../../components/common";
import { isSecretValue, revealSecrets } from "../../../stacks/pulumiMocks";
import { build, buildFailure, plainStrings } from "../harness";

const network = { vpcId: "vpc-0123", subnetIds: ["subnet-a", "subnet-b"] };

function cache(environment: "dev" | "staging" | "prod", extra: Record<string, unknown> = {}) {
  return () => {
    const c = new RedisCache("sessions", { team: "payments", environment, network, ...extra });
    return { primaryEndpoint: c.primaryEndpoint, port: c.port, secretArn: c.secretArn };
  };
}

describe("redisSettings", () => {
  it("runs one node in dev and a multi-AZ pair with failover in prod", () => {
    expect(redisSettings(resolveCommonArgs({ team: "payments", environment: "dev" }), {})).toEqual({
      nodeType: "cache.t4g.small",
      engineVersion: "7.1",
      numCacheClusters: 1,
      automaticFailoverEnabled: false,
      multiAzEnabled: false,
      snapshotRetentionLimit: 1,
      port: 6379,
      protect: false,
      authTokenVersion: 1,
      authTokenUpdateStrategy: "ROTATE",
      finalSnapshot: false,
    });
    expect(redisSettings(resolveCommonArgs({ team: "payments", environment: "prod", tier: "medium" }), { engineVersion: "7.0" })).toEqual({
      nodeType: "cache.m7g.large",
      engineVersion: "7.0",
      numCacheClusters: 2,
      automaticFailoverEnabled: true,
      multiAzEnabled: true,
      snapshotRetentionLimit: 14,
      port: 6379,
      protect: true,
      authTokenVersion: 1,
      authTokenUpdateStrategy: "ROTATE",
      finalSnapshot: true,
    });
  });
});

describe("RedisCache", () => {
  it("encrypts at rest and in transit and uses the generated token, as a secret", async () => {
    const b = await build(cache("dev"));
    const group = b.props("sessions-redis");
    expect(group).toMatchObject({
      engine: "redis",
      engineVersion: "7.1",
      nodeType: "cache.t4g.small",
      numCacheClusters: 1,
      automaticFailoverEnabled: false,
      multiAzEnabled: false,
      atRestEncryptionEnabled: true,
      transitEncryptionEnabled: true,
      snapshotRetentionLimit: 1,
      port: 6379,
    });
    expect(b.get("sessions-redis").protect).toBe(false);
    const token = revealSecrets(b.get("sessions-auth-token").outputs.result) as string;
    expect(token).toMatch(/^[A-Za-z0-9]{48}$/);
    expect(isSecretValue(group.authToken)).toBe(true);
    expect(revealSecrets(group.authToken)).toBe(token);
    const version = b.props("sessions-auth-secret-version");
    expect(isSecretValue(version.secretString)).toBe(true);
    expect(revealSecrets(version.secretString)).toBe(token);
    expect(version.secretId).toBe(b.get("sessions-auth-secret").id);
    expect(b.props("sessions-auth-token")).toMatchObject({ length: 48, special: false, keepers: { version: "1" } });
  });

  it("never lets the token out in plain text", async () => {
    const b = await build(cache("prod"), "prod");
    const token = revealSecrets(b.get("sessions-auth-token").outputs.result) as string;
    for (const r of b.resources) {
      expect(plainStrings(r.props)).not.toContain(token);
    }
    expect(JSON.stringify(b.outputs)).not.toContain(token);
    expect(b.outputs).toEqual({
      primaryEndpoint: b.get("sessions-redis").outputs.primaryEndpointAddress,
      port: 6379,
      secretArn: b.get("sessions-auth-secret").outputs.arn,
    });
  });

  it("fails over across AZs in prod and protects the data", async () => {
    const b = await build(cache("prod"), "prod");
    expect(b.props("sessions-redis")).toMatchObject({
      numCacheClusters: 2,
      automaticFailoverEnabled: true,
      multiAzEnabled: true,
      snapshotRetentionLimit: 14,
      finalSnapshotIdentifier: "payments-prod-sessions-d5f196d7-final",
    });
    expect(b.get("sessions-redis").protect).toBe(true);
    expect(b.get("sessions-auth-secret").protect).toBe(true);
  });

  it("rotates the token when authTokenVersion changes", async () => {
    const b = await build(cache("dev", { authTokenVersion: 2 }));
    expect(b.props("sessions-auth-token").keepers).toEqual({ version: "2" });
    expect(b.props("sessions-redis").authTokenUpdateStrategy).toBe("ROTATE");
  });

  it.each([
    [{ engineVersion: "6.2" }, 'engineVersion "6.2" is not one of 7.0, 7.1'],
    [{ tier: "huge" }, 'tier "huge" is not one of small, medium, large'],
    [{ authTokenVersion: 0 }, "authTokenVersion 0 is not an integer between 1 and 1000000"],
    [{ network: { subnetIds: ["subnet-a"] } }, "network.vpcId is required"],
    [{ network: { vpcId: "vpc-1", subnetIds: [] } }, "network.subnetIds lists 0 subnets: at least 1 required"],
    [
      { environment: "prod", network: { vpcId: "vpc-1", subnetIds: ["subnet-a"] } },
      "network.subnetIds lists 1 subnet: at least 2 (in different availability zones) required",
    ],
    [{ allowedCidrBlocks: ["0.0.0.0/0"] }, 'allowedCidrBlocks "0.0.0.0/0" is open to the internet: list private CIDR blocks or security groups instead'],
    [{ authTokenVersion: 1.5 }, "authTokenVersion 1.5 is not an integer between 1 and 1000000"],
  ])("rejects %o before creating anything", async (override, message) => {
    const failure = await buildFailure(() => new RedisCache("sessions", { team: "payments", environment: "dev", network, ...override } as never));
    expect(failure).toEqual({ message, registered: [] });
  });

  it.each([
    [
      "sessions--a",
      'name "sessions--a" would make the ElastiCache replication group ID "sessions--a-redis-<random>", which ElastiCache refuses: it contains "--"; use single hyphens and do not end the name with "-"',
    ],
    [
      "sessions-cache-of-the-checkout",
      'name "sessions-cache-of-the-checkout" would make the ElastiCache replication group ID "sessions-cache-of-the-checkout-redis-<random>", ' +
        "which ElastiCache refuses: it would be 44 characters, more than 40; a redis name has at most 26 characters",
    ],
  ])("refuses the name %s, whose replication group ID ElastiCache would refuse, before creating anything", async (name, message) => {
    const failure = await buildFailure(() => new RedisCache(name, { team: "payments", environment: "dev", network }));
    expect(failure).toEqual({ message, registered: [] });
  });

  it("refuses an authTokenVersion above the maximum", async () => {
    const failure = await buildFailure(() => new RedisCache("sessions", { team: "payments", environment: "dev", network, authTokenVersion: 5_000_000 }));
    expect(failure).toEqual({ message: "authTokenVersion 5000000 is not an integer between 1 and 1000000", registered: [] });
  });

  it("runs a single node in dev from one subnet, closed to everyone until clients are allowed", async () => {
    const b = await build(cache("dev", { network: { vpcId: "vpc-0123", subnetIds: ["subnet-a"] }, allowedSecurityGroupIds: ["sg-app"] }));
    expect(b.props("sessions-subnets").subnetIds).toEqual(["subnet-a"]);
    expect(b.props("sessions-sg")).toMatchObject({
      vpcId: "vpc-0123",
      egress: [],
      ingress: [{ description: "Clients by security group", protocol: "tcp", fromPort: 6379, toPort: 6379, securityGroups: ["sg-app"] }],
    });
    expect(b.props("sessions-redis").securityGroupIds).toEqual([b.get("sessions-sg").id]);
    expect(b.props("sessions-redis").subnetGroupName).toBe(b.get("sessions-subnets").outputs.name);
  });

  it("keeps staging's snapshots and final snapshot on a single unprotected node", async () => {
    const b = await build(cache("staging"), "staging");
    expect(b.props("sessions-redis")).toMatchObject({
      numCacheClusters: 1,
      automaticFailoverEnabled: false,
      multiAzEnabled: false,
      snapshotRetentionLimit: 7,
      finalSnapshotIdentifier: "payments-staging-sessions-1fdf800a-final",
    });
    expect(b.get("sessions-redis").protect).toBe(false);
    expect(b.get("sessions-auth-secret").protect).toBe(false);
  });
});
