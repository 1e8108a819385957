import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { POLICY_INTERNALS_MINOR, checkPolicyVersion } from "../../policy-pack/engineInternals";
import { EvaluateResource, PolicyConfigError, engineText, evaluate, policies, resolvePolicyConfig } from "../../policy-pack/api";

const publicDb: EvaluateResource = {
  type: "aws:rds/instance:Instance",
  name: "db",
  protect: false,
  props: {
    instanceClass: "db.t4g.small",
    storageEncrypted: true,
    publiclyAccessible: true,
    backupRetentionPeriod: 1,
    tags: { "paved:team": "payments", "paved:environment": "dev" },
  },
};

describe("pack config", () => {
  it("names every policy in kebab-case with a description and a config schema", () => {
    expect(policies.map((p) => p.name)).toEqual([
      "rds-storage-encrypted",
      "rds-no-public-access",
      "rds-backup-retention",
      "rds-instance-class",
      "rds-deletion-protection",
      "elasticache-encryption",
      "s3-public-access-block",
      "s3-server-side-encryption",
      "s3-no-public-acl",
      "sqs-encryption",
      "security-group-no-public-ingress",
      "iam-no-wildcard-admin",
      "required-tags",
      "k8s-no-privileged-containers",
      "k8s-run-as-non-root",
      "k8s-resources-set",
      "k8s-image-pinned",
      "k8s-no-host-namespaces",
      "k8s-namespace-pod-security",
      "k8s-namespace-resource-quota",
      "stateful-resources-protected",
    ]);
    for (const p of policies) {
      expect(p.name).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(p.description.length).toBeGreaterThan(20);
      expect(p.configSchema).toBeDefined();
    }
  });

  it("is mandatory by default, advisory where config says so, and off when disabled", async () => {
    expect((await evaluate([publicDb])).map((v) => [v.policyName, v.enforcementLevel])).toEqual([["rds-no-public-access", "mandatory"]]);
    expect((await evaluate([publicDb], { config: { "rds-no-public-access": "advisory" } })).map((v) => v.enforcementLevel)).toEqual(["advisory"]);
    expect((await evaluate([publicDb], { config: { all: "advisory" } })).map((v) => v.enforcementLevel)).toEqual(["advisory"]);
    expect(
      (await evaluate([publicDb], { config: { all: "advisory", "rds-no-public-access": { enforcementLevel: "mandatory" } } })).map((v) => v.enforcementLevel),
    ).toEqual(["mandatory"]);
    expect(await evaluate([publicDb], { config: { "rds-no-public-access": "disabled" } })).toEqual([]);
    expect((await evaluate([publicDb], { enforcementLevel: "advisory" })).map((v) => v.enforcementLevel)).toEqual(["advisory"]);
    expect((await evaluate([publicDb], { config: { "rds-no-public-access": "remediate" } })).map((v) => v.enforcementLevel)).toEqual(["mandatory"]);
  });

  it("applies schema defaults and rejects bad config with the reason", () => {
    const resolved = resolvePolicyConfig(policies, { "rds-backup-retention": { environment: "staging" } });
    expect(resolved.get("rds-backup-retention")).toEqual({
      enforcementLevel: "mandatory",
      properties: { environment: "staging", minimumDays: { dev: 1, staging: 7, prod: 14 } },
    });
    expect(resolved.get("security-group-no-public-ingress")!.properties).toEqual({ allowedPorts: [80, 443] });
    expect(() => resolvePolicyConfig(policies, { "no-such-policy": "advisory" })).toThrow(PolicyConfigError);
    expect(() => resolvePolicyConfig(policies, { "rds-no-public-access": { minimumDays: 3 } })).toThrow(
      'rds-no-public-access: unknown config property "minimumDays"; it takes none',
    );
  });

  // What `pulumi preview --policy-pack-config` stops on, worded as the CLI words it
  // (pulumi/pulumi pkg/resource/analyzer/config.go, pkg/engine/update.go; gojsonschema's messages).
  it.each([
    [
      { "security-group-no-public-ingress": { allowedPorts: ["22"] } },
      ["security-group-no-public-ingress: allowedPorts.0: Invalid type. Expected: number, given: string"],
    ],
    [{ "rds-backup-retention": { minimumDays: { prod: "30" } } }, ["rds-backup-retention: minimumDays.prod: Invalid type. Expected: number, given: string"]],
    [
      { "rds-backup-retention": { environment: "qa" }, "rds-deletion-protection": { environment: "qa" } },
      [
        'rds-backup-retention: environment: environment must be one of the following: "dev", "staging", "prod"',
        'rds-deletion-protection: environment: environment must be one of the following: "dev", "staging", "prod"',
      ],
    ],
    [
      { "rds-instance-class": { allowedInstanceClasses: "db.t4g.small" } },
      ["rds-instance-class: allowedInstanceClasses: Invalid type. Expected: array, given: string"],
    ],
    [{ "required-tags": { requiredTags: [1, "paved:team"] } }, ["required-tags: requiredTags.0: Invalid type. Expected: string, given: integer"]],
  ])("rejects %j as the CLI does", (config, issues) => {
    let error: PolicyConfigError | undefined;
    try {
      resolvePolicyConfig(policies, config as never);
    } catch (err) {
      error = err as PolicyConfigError;
    }
    expect(error).toBeInstanceOf(PolicyConfigError);
    expect(error!.issues).toEqual(issues);
    expect(error!.message).toBe(issues.map((i) => `validating policy config: paved 0.1.0  ${i}`).join("\n"));
  });

  it("rejects what the CLI's config parser rejects, with its message", () => {
    expect(() => resolvePolicyConfig(policies, { "rds-no-public-access": "sometimes" as never })).toThrow(
      'parsing enforcement level for "rds-no-public-access": "sometimes" is not a valid enforcement level',
    );
    expect(() => resolvePolicyConfig(policies, { "rds-no-public-access": { enforcementLevel: 3 } as never })).toThrow(
      'parsing enforcement level for "rds-no-public-access": 3 is not a valid enforcement level; must be a string',
    );
    expect(() => resolvePolicyConfig(policies, { "rds-no-public-access": 5 as never })).toThrow(
      'parsing "rds-no-public-access": 5 is not a valid value; must be a string or object',
    );
  });

  it("evaluate() refuses bad config instead of evaluating with it", async () => {
    const sg: EvaluateResource = {
      type: "aws:ec2/securityGroup:SecurityGroup",
      name: "sg",
      props: { ingress: [{ protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["0.0.0.0/0"] }], tags: { "paved:team": "t", "paved:environment": "dev" } },
    };
    await expect(evaluate([sg], { config: { "security-group-no-public-ingress": { allowedPorts: ["22"] } } })).rejects.toThrow(
      "validating policy config: paved 0.1.0  security-group-no-public-ingress: allowedPorts.0: Invalid type. Expected: number, given: string",
    );
    await expect(evaluate([publicDb], { config: { "rds-backup-retention": { minimumDays: { prod: "30" } } } })).rejects.toThrow(
      "validating policy config: paved 0.1.0  rds-backup-retention: minimumDays.prod: Invalid type. Expected: number, given: string",
    );
  });

  it("replaces a property as a whole, as the CLI does (no deep merge with the default)", () => {
    const resolved = resolvePolicyConfig(policies, { all: "advisory", "rds-backup-retention": { minimumDays: { prod: 30 } } });
    expect(resolved.get("rds-backup-retention")).toEqual({ enforcementLevel: "advisory", properties: { minimumDays: { prod: 30 } } });
  });

  it("unwraps secrets as the engine does and reports unknowns during preview as advisory", async () => {
    const secretWrapped: EvaluateResource = {
      ...publicDb,
      props: { ...publicDb.props, publiclyAccessible: { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value: false } },
    };
    expect(await evaluate([secretWrapped])).toEqual([]);
    const unknown: EvaluateResource = { ...publicDb, props: { ...publicDb.props, publiclyAccessible: "04da6b54-80e4-46f7-96ec-b56ff0331ba9" } };
    const [advisory, ...rest] = await evaluate([unknown]);
    expect(rest).toEqual([]);
    expect(advisory).toMatchObject({
      policyName: "rds-no-public-access",
      enforcementLevel: "advisory",
      description: "RDS instances must not be publicly accessible.",
    });
    expect(advisory.message).toMatch(/^can't run policy 'rds-no-public-access' from policy pack 'paved@v0\.1\.0' during preview: /);
    expect(engineText(advisory)).toBe(advisory.message);
  });

  it("gives the violation's URN, defaulting to one made from stack, project, type and name", async () => {
    const [v] = await evaluate([publicDb], { stack: "payments-dev", project: "shop" });
    expect(v).toEqual({
      policyName: "rds-no-public-access",
      enforcementLevel: "mandatory",
      message: "publiclyAccessible is true: databases are reached from inside the VPC only",
      description: "RDS instances must not be publicly accessible.",
      resourceName: "db",
      resourceType: "aws:rds/instance:Instance",
      urn: "urn:pulumi:payments-dev::shop::aws:rds/instance:Instance::db",
    });
  });
});

describe("@pulumi/policy internals", () => {
  it("are read from the minor package.json pins, and another minor is refused", () => {
    const manifest = JSON.parse(readFileSync(join(__dirname, "..", "..", "package.json"), "utf8"));
    expect(manifest.dependencies["@pulumi/policy"]).toBe(`~${POLICY_INTERNALS_MINOR}.0`);
    const installed = JSON.parse(readFileSync(join(__dirname, "..", "..", "node_modules", "@pulumi", "policy", "package.json"), "utf8")).version;
    expect(() => checkPolicyVersion(installed)).not.toThrow();
    expect(() => checkPolicyVersion("v1.22.0")).toThrow(
      "@pulumi/policy v1.22.0 is installed, but Paved's evaluate() reads internals of @pulumi/policy 1.21.x: install the version package.json pins",
    );
  });
});
