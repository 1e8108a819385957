import { describe, expect, it } from "vitest";
import { PostgresDatabase, postgresSettings } from "../../../components/aws";
import { resolveCommonArgs } from "../../../components/common";
import { build, buildFailure } from "../harness";

const network = { vpcId: "vpc-0123", subnetIds: ["subnet-a", "subnet-b"] };

function db(environment: "dev" | "staging" | "prod", extra: Record<string, unknown> = {}) {
  return () => {
    const d = new PostgresDatabase("orders-db", { team: "payments", environment, network, ...extra });
    return { endpoint: d.endpoint, port: d.port, secretArn: d.secretArn, securityGroupId: d.securityGroupId };
  };
}

describe("postgresSettings", () => {
  it("derives dev and prod settings from the guardrails", () => {
    expect(postgresSettings(resolveCommonArgs({ team: "payments", environment: "dev" }), {})).toEqual({
      instanceClass: "db.t4g.small",
      engineVersion: "16",
      parameterFamily: "postgres16",
      allocatedStorage: 20,
      maxAllocatedStorage: 40,
      port: 5432,
      backupRetentionPeriod: 1,
      multiAz: false,
      deletionProtection: false,
      skipFinalSnapshot: true,
      protect: false,
    });
    expect(postgresSettings(resolveCommonArgs({ team: "payments", environment: "prod", tier: "large" }), { engineVersion: "17", storageGb: 300 })).toEqual({
      instanceClass: "db.r7g.xlarge",
      engineVersion: "17",
      parameterFamily: "postgres17",
      allocatedStorage: 300,
      maxAllocatedStorage: 600,
      port: 5432,
      backupRetentionPeriod: 14,
      multiAz: true,
      deletionProtection: true,
      skipFinalSnapshot: false,
      protect: true,
    });
  });

  it("uses staging's backups without prod's availability", () => {
    const s = postgresSettings(resolveCommonArgs({ team: "payments", environment: "staging", tier: "medium" }), {});
    expect([s.instanceClass, s.allocatedStorage, s.backupRetentionPeriod, s.multiAz, s.deletionProtection, s.skipFinalSnapshot]).toEqual([
      "db.m7g.large",
      100,
      7,
      false,
      false,
      false,
    ]);
  });
});

describe("PostgresDatabase", () => {
  it("registers an encrypted, private, SSL-only dev database with a managed password", async () => {
    const b = await build(db("dev"));
    const instance = b.props("orders-db-db");
    expect(instance).toMatchObject({
      engine: "postgres",
      engineVersion: "16",
      instanceClass: "db.t4g.small",
      allocatedStorage: 20,
      maxAllocatedStorage: 40,
      storageEncrypted: true,
      publiclyAccessible: false,
      manageMasterUserPassword: true,
      username: "paved_admin",
      dbName: "orders_db",
      backupRetentionPeriod: 1,
      multiAz: false,
      deletionProtection: false,
      skipFinalSnapshot: true,
      port: 5432,
    });
    expect(instance.password).toBeUndefined();
    expect(instance.finalSnapshotIdentifier).toBeUndefined();
    expect(b.get("orders-db-db").protect).toBe(false);
    expect(b.props("orders-db-params")).toMatchObject({ family: "postgres16", parameters: [{ name: "rds.force_ssl", value: "1" }] });
    expect(b.props("orders-db-subnets").subnetIds).toEqual(["subnet-a", "subnet-b"]);
    expect(instance.dbSubnetGroupName).toMatch(/^orders-db-subnets-[0-9a-f]{8}$/);
    expect(instance.dbSubnetGroupName).toBe(b.get("orders-db-subnets").outputs.name);
    expect(instance.parameterGroupName).toBe(b.get("orders-db-params").outputs.name);
    expect(instance.vpcSecurityGroupIds).toEqual([b.get("orders-db-sg").id]);
  });

  it("makes prod multi-AZ, deletion-protected, snapshotted on delete and protected", async () => {
    const b = await build(db("prod"), "prod");
    expect(b.props("orders-db-db")).toMatchObject({
      backupRetentionPeriod: 14,
      multiAz: true,
      deletionProtection: true,
      skipFinalSnapshot: false,
      finalSnapshotIdentifier: "payments-prod-orders-db-51371d6f-final",
    });
    expect(b.get("orders-db-db").protect).toBe(true);
  });

  it("parents every child to the component and exposes the outputs", async () => {
    const b = await build<Record<string, unknown>>(db("dev"));
    const component = b.get("orders-db");
    expect(component.type).toBe("paved:aws:PostgresDatabase");
    for (const child of ["orders-db-subnets", "orders-db-sg", "orders-db-params", "orders-db-db"]) {
      expect(b.get(child).parent).toBe(component.urn);
    }
    const instance = b.get("orders-db-db").outputs as Record<string, any>;
    expect(b.outputs).toEqual({
      endpoint: instance.address,
      port: 5432,
      secretArn: instance.masterUserSecrets[0].secretArn,
      securityGroupId: b.get("orders-db-sg").id,
    });
  });

  it("opens the port only to the allowed clients", async () => {
    const closed = await build(db("dev"));
    expect(closed.props("orders-db-sg")).toMatchObject({ vpcId: "vpc-0123", ingress: [], egress: [] });
    const open = await build(
      db("dev", { allowedSecurityGroupIds: ["sg-app"], allowedCidrBlocks: ["10.0.0.0/16", "172.31.0.0/16", "192.168.1.0/24", "100.64.0.0/10", "fd00::/8"] }),
    );
    expect(open.props("orders-db-sg").ingress).toEqual([
      { description: "Clients by security group", protocol: "tcp", fromPort: 5432, toPort: 5432, securityGroups: ["sg-app"] },
      {
        description: "Clients by IPv4 CIDR",
        protocol: "tcp",
        fromPort: 5432,
        toPort: 5432,
        cidrBlocks: ["10.0.0.0/16", "172.31.0.0/16", "192.168.1.0/24", "100.64.0.0/10"],
      },
      { description: "Clients by IPv6 CIDR", protocol: "tcp", fromPort: 5432, toPort: 5432, ipv6CidrBlocks: ["fd00::/8"] },
    ]);
  });

  it("restores from a snapshot when asked", async () => {
    const b = await build(db("dev", { snapshotIdentifier: "orders-db-2026-11-01" }));
    const instance = b.props("orders-db-db");
    expect(instance.snapshotIdentifier).toBe("orders-db-2026-11-01");
    // The snapshot brings its own database and master user; the password stays managed.
    expect(instance.dbName).toBeUndefined();
    expect(instance.username).toBeUndefined();
    expect(instance.manageMasterUserPassword).toBe(true);
    expect(instance).toMatchObject({ storageEncrypted: true, publiclyAccessible: false });
  });

  it("keeps staging's backups and final snapshot without prod's availability or protect", async () => {
    const b = await build(db("staging", { tier: "medium" }), "staging");
    const instance = b.props("orders-db-db");
    expect(instance).toMatchObject({
      instanceClass: "db.m7g.large",
      allocatedStorage: 100,
      maxAllocatedStorage: 200,
      backupRetentionPeriod: 7,
      multiAz: false,
      deletionProtection: false,
      skipFinalSnapshot: false,
      finalSnapshotIdentifier: "payments-staging-orders-db-ecee7686-final",
    });
    expect(instance.snapshotIdentifier).toBeUndefined();
    expect(b.get("orders-db-db").protect).toBe(false);
  });

  it.each([
    [{ tier: "xlarge" }, 'tier "xlarge" is not one of small, medium, large'],
    [{ environment: "qa" }, 'environment "qa" is not one of dev, staging, prod'],
    [{ team: "Payments" }, `team "Payments" is not a DNS label (lowercase letters, digits and '-', at most 63 characters, starting with a letter)`],
    [{ engineVersion: "9.6" }, 'engineVersion "9.6" is not one of 15, 16, 17'],
    [{ storageGb: 5 }, "storageGb 5 is not an integer between 20 and 100"],
    [{ tier: "large", storageGb: 100 }, "storageGb 100 is not an integer between 200 and 2000"],
    [{ storageGb: 20.5 }, "storageGb 20.5 is not an integer between 20 and 100"],
    [{ network: undefined }, "network is required: { vpcId, subnetIds }"],
    [{ network: { vpcId: "vpc-1", subnetIds: [] } }, "network.subnetIds lists 0 subnets: at least 2 (in different availability zones) required"],
    [{ network: { vpcId: "vpc-1", subnetIds: ["subnet-a"] } }, "network.subnetIds lists 1 subnet: at least 2 (in different availability zones) required"],
    [{ snapshotIdentifier: "" }, 'snapshotIdentifier "" must be a non-empty string'],
    [{ allowedSecurityGroupIds: "sg-app" }, 'allowedSecurityGroupIds "sg-app" is not a list of security group ids'],
    [{ allowedCidrBlocks: ["::/0"] }, 'allowedCidrBlocks "::/0" is open to the internet: list private CIDR blocks or security groups instead'],
    [{ allowedCidrBlocks: ["0.0.0.0/0"] }, 'allowedCidrBlocks "0.0.0.0/0" is open to the internet: list private CIDR blocks or security groups instead'],
    [{ allowedCidrBlocks: ["10.0.0.300/8"] }, 'allowedCidrBlocks "10.0.0.300/8" is not a CIDR block'],
    // Malformed IPv6 a character-class regex used to accept, and prefixes past the address size.
    [{ allowedCidrBlocks: ["fd00:::1/64"] }, 'allowedCidrBlocks "fd00:::1/64" is not a CIDR block'],
    [{ allowedCidrBlocks: ["::::/8"] }, 'allowedCidrBlocks "::::/8" is not a CIDR block'],
    [{ allowedCidrBlocks: ["fd00::/129"] }, 'allowedCidrBlocks "fd00::/129" is not a CIDR block'],
    [{ allowedCidrBlocks: ["10.0.0.0/33"] }, 'allowedCidrBlocks "10.0.0.0/33" is not a CIDR block'],
    [{ allowedCidrBlocks: ["10.0.0.0"] }, 'allowedCidrBlocks "10.0.0.0" is not a CIDR block'],
    [
      { allowedCidrBlocks: ["fe80::/10"] },
      'allowedCidrBlocks "fe80::/10" is not private address space: one of 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7 (or a block inside one)',
    ],
    [{ allowedCidrBlocks: ["10.0.0.0/0"] }, 'allowedCidrBlocks "10.0.0.0/0" is open to the internet: list private CIDR blocks or security groups instead'],
    [
      { allowedCidrBlocks: ["8.8.8.0/24"] },
      'allowedCidrBlocks "8.8.8.0/24" is not private address space: one of 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7 (or a block inside one)',
    ],
    [
      { allowedCidrBlocks: ["172.0.0.0/8"] },
      'allowedCidrBlocks "172.0.0.0/8" is not private address space: one of 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7 (or a block inside one)',
    ],
    [
      { allowedCidrBlocks: ["2001:db8::/32"] },
      'allowedCidrBlocks "2001:db8::/32" is not private address space: one of 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7 (or a block inside one)',
    ],
    [{ tags: { "paved:team": "other" } }, 'tags key "paved:team" is reserved: keys starting with "paved:" or "paved.dev/" are set by Paved'],
  ])("rejects %o before creating anything", async (override, message) => {
    const failure = await buildFailure(() => new PostgresDatabase("orders-db", { team: "payments", environment: "dev", network, ...override } as never));
    expect(failure).toEqual({ message, registered: [] });
  });

  it.each([
    [
      "orders--db",
      'name "orders--db" would make the RDS DB instance identifier "orders--db-db-<random>", which RDS refuses: it contains "--"; use single hyphens and do not end the name with "-"',
    ],
    [
      "orders-",
      'name "orders-" would make the RDS DB instance identifier "orders--db-<random>", which RDS refuses: it contains "--"; use single hyphens and do not end the name with "-"',
    ],
    [
      "orders_db",
      'name "orders_db" would make the RDS DB instance identifier "orders_db-db-<random>", which RDS refuses: use letters, digits and hyphens, starting with a letter',
    ],
  ])("refuses the name %s, whose identifiers RDS would refuse, before creating anything", async (name, message) => {
    const failure = await buildFailure(() => new PostgresDatabase(name, { team: "payments", environment: "dev", network }));
    expect(failure).toEqual({ message, registered: [] });
  });
});
