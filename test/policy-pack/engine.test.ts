/**
 * The policy pack under the Pulumi CLI's loader, from the built package: started as the
 * CLI starts it (see analyzerHost.ts for the sources), driven over gRPC as the CLI drives
 * it, and compared with `evaluate()` on the same resources, default and custom config,
 * secrets and unknowns included. No CLI needed.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { catalog } from "../../components/catalog";
import {
  EvaluateResource,
  PolicyConfigError,
  PolicyPackConfig,
  engineText,
  evaluate,
  policies,
  resolvePolicyConfig,
  runUnderMocks,
} from "../../policy-pack/api";
import {
  AnalyzedResource,
  AnalyzerDriver,
  EngineDiagnostic,
  ExitedPack,
  FakeEngine,
  InstalledPackage,
  StartedPack,
  buildAndInstall,
  repo,
  resolveRunPolicyPack,
  startFakeEngine,
  startPack,
} from "./analyzerHost";

const ctx = { project: "paved", stack: "payments-prod", organization: "organization", dryRun: true };
const SECRET = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270" };
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const urn = (type: string, name: string) => `urn:pulumi:${ctx.stack}::${ctx.project}::${type}::${name}`;
const version = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")).version as string;

/** What the components create (prod and dev), a few insecure raw resources, secrets and unknowns. */
async function resources(): Promise<AnalyzedResource[]> {
  const network = { vpcId: "vpc-0123", subnetIds: ["subnet-a", "subnet-b"] };
  const { resources: registered } = await runUnderMocks(
    () => {
      catalog.postgres.build("orders-db", catalog.postgres.params.parse({ tier: "small" }), { team: "payments", environment: "prod", network });
      catalog.redis.build("sessions", catalog.redis.params.parse({}), { team: "payments", environment: "dev", network });
      catalog.bucket.build("receipts", catalog.bucket.params.parse({}), { team: "payments", environment: "dev", network });
      catalog.namespace.build("payments-dev", catalog.namespace.params.parse({}), { team: "payments", environment: "dev", network });
      new aws.rds.Instance("legacy-db", {
        engine: "postgres",
        instanceClass: "db.m5.24xlarge",
        allocatedStorage: 100,
        publiclyAccessible: pulumi.secret(true),
        backupRetentionPeriod: 3,
        username: "admin",
        password: pulumi.secret("hunter2hunter2"),
        tags: { "paved:team": "payments", "paved:environment": "staging" },
      });
      new aws.ec2.SecurityGroup("wide-open", {
        ingress: [
          { protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["0.0.0.0/0"] },
          { protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"] },
        ],
        tags: { "paved:team": "payments" },
      });
      new k8s.core.v1.Namespace("bare", { metadata: { name: "bare" } });
      new k8s.core.v1.Pod("debug", {
        metadata: { name: "debug", namespace: "bare" },
        spec: { hostNetwork: true, containers: [{ name: "shell", image: "ubuntu", securityContext: { privileged: true } }] },
      });
      return {};
    },
    { project: ctx.project, stack: ctx.stack },
  );
  const out: AnalyzedResource[] = registered
    .filter((r) => r.type !== "pulumi:pulumi:Stack")
    .map((r) => ({ urn: r.urn, type: r.type, name: r.name, props: r.props, protect: r.protect, parent: r.parent, dependencies: r.dependencies }));
  // What a first preview sends: ids and computed outputs unknown.
  out.push({
    urn: urn("aws:rds/instance:Instance", "new-db"),
    type: "aws:rds/instance:Instance",
    name: "new-db",
    props: {
      instanceClass: "db.t4g.small",
      storageEncrypted: UNKNOWN,
      publiclyAccessible: false,
      backupRetentionPeriod: UNKNOWN,
      tags: { "paved:team": "payments", "paved:environment": "prod" },
    },
  });
  out.push({
    urn: urn("aws:s3/bucketAclV2:BucketAclV2", "logs-acl"),
    type: "aws:s3/bucketAclV2:BucketAclV2",
    name: "logs-acl",
    props: { bucket: UNKNOWN, acl: { ...SECRET, value: "public-read" } },
  });
  out.push({
    urn: urn("kubernetes:core/v1:Namespace", "computed"),
    type: "kubernetes:core/v1:Namespace",
    name: "computed",
    props: { metadata: { name: UNKNOWN, labels: UNKNOWN } },
  });
  return out;
}

interface Compared {
  policyName: string;
  enforcementLevel: string;
  urn: string;
  description: string;
  text: string;
}

const fromEngine = (d: EngineDiagnostic, resourceUrn?: string): Compared => ({
  policyName: d.policyName,
  enforcementLevel: d.enforcementLevel,
  urn: d.urn || resourceUrn || "",
  description: d.description,
  text: d.message,
});

const CUSTOM: PolicyPackConfig = {
  all: "advisory",
  "security-group-no-public-ingress": { allowedPorts: [22, 443] },
  "rds-backup-retention": { enforcementLevel: "mandatory", minimumDays: { dev: 3, staging: 7, prod: 30 } },
  "k8s-image-pinned": "disabled",
  "stateful-resources-protected": { environment: "dev" },
  "rds-instance-class": { allowedInstanceClasses: ["db.m5.24xlarge", "db.t4g.small"] },
};

describe("the policy pack under the CLI's loader, built and installed as node_modules/paved", () => {
  let installed: InstalledPackage;
  let engine: FakeEngine;
  let pack: StartedPack;
  let driver: AnalyzerDriver;
  let analyzed: AnalyzedResource[];

  beforeAll(async () => {
    installed = buildAndInstall();
    engine = await startFakeEngine();
    const started = await startPack(installed.packDir, engine.address, ctx);
    if (!("port" in started)) throw new Error(`the pack exited with code ${started.code} before printing its port:\n${started.stderr}`);
    pack = started;
    driver = new AnalyzerDriver(pack.port);
    analyzed = await resources();
  }, 600_000);

  afterAll(async () => {
    driver?.close();
    await pack?.stop();
    await engine?.close();
    installed?.cleanup();
  });

  it("ships a pack directory the CLI loads: package.json, PulumiPolicy.yaml and compiled JavaScript", () => {
    expect(installed.shipped).toEqual(
      expect.arrayContaining([
        "dist/policy-pack/package.json",
        "dist/policy-pack/PulumiPolicy.yaml",
        "dist/policy-pack/index.js",
        "dist/policy-pack/policies/aws.js",
        "dist/components/guardrails.js",
      ]),
    );
    expect(installed.shipped.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
    expect(JSON.parse(readFileSync(join(installed.packDir, "package.json"), "utf8"))).toMatchObject({ name: "paved-policy-pack", version, main: "index.js" });
    expect(readFileSync(join(installed.packDir, "PulumiPolicy.yaml"), "utf8")).toMatch(/^runtime: nodejs$/m);
    // The analyzer script resolves the runner from the pack directory: the application's @pulumi/pulumi.
    expect(resolveRunPolicyPack(installed.packDir)).toBe(realpathSync(join(repo, "node_modules/@pulumi/pulumi/cmd/run-policy-pack/index.js")));
  });

  it("answers the CLI's start-up calls: Handshake (unimplemented, as the CLI allows), ConfigureStack, GetAnalyzerInfo, GetPluginInfo", async () => {
    expect(await driver.handshake(engine.address, installed.packDir)).toBe(grpc.status.UNIMPLEMENTED);
    await driver.configureStack(ctx);
    const info = await driver.analyzerInfo();
    expect({ name: info.name, version: info.version, supportsConfig: info.supportsConfig }).toEqual({ name: "paved", version, supportsConfig: true });
    expect(info.policies.map((p) => p.name)).toEqual(policies.map((p) => p.name));
    for (const [i, p] of info.policies.entries()) {
      expect(p.enforcementLevel).toBe("mandatory");
      expect(p.configSchema?.properties).toEqual(JSON.parse(JSON.stringify(policies[i].configSchema!.properties)));
    }
    expect(info.initialConfig).toEqual({});
    const policyVersion = JSON.parse(readFileSync(join(repo, "node_modules/@pulumi/policy/package.json"), "utf8")).version as string;
    expect(await driver.pluginVersion()).toBe(policyVersion.replace(/^v/, ""));
  });

  for (const [label, config] of [
    ["default config", {}],
    ["custom config (all advisory, one disabled, properties set)", CUSTOM],
  ] as [string, PolicyPackConfig][]) {
    it(`gives the diagnostics evaluate() gives, text included (${label})`, async () => {
      const { errors, sent } = await driver.configure(config);
      expect(errors).toEqual([]);
      // evaluate() resolves the config to what the CLI sends with Configure.
      const resolved = resolvePolicyConfig(policies, config);
      for (const p of policies) {
        const c = sent.get(p.name)!;
        expect(resolved.get(p.name)).toEqual({ enforcementLevel: c.enforcementLevel, properties: c.properties ?? {} });
      }

      const viaEngine: Compared[] = [];
      for (const r of analyzed) viaEngine.push(...(await driver.analyze(r)).map((d) => fromEngine(d, r.urn)));
      const stackDiagnostics = await driver.analyzeStack(analyzed);
      viaEngine.push(...stackDiagnostics.map((d) => fromEngine(d)));

      const violations = await evaluate(analyzed as EvaluateResource[], { config, project: ctx.project, stack: ctx.stack });
      const inProcess: Compared[] = violations.map((v) => ({
        policyName: v.policyName,
        enforcementLevel: v.enforcementLevel,
        urn: v.urn ?? "",
        description: v.description,
        text: engineText(v),
      }));
      expect(inProcess).toEqual(viaEngine);

      // The engine's text is "<description>\n<message>", or the "can't run" advisory alone.
      for (const [i, v] of violations.entries()) {
        if (v.message.startsWith("can't run")) expect(viaEngine[i].text).toBe(v.message);
        else expect(viaEngine[i].text).toBe(`${v.description}\n${v.message}`);
      }
      const advisories = viaEngine.filter((d) => d.text.startsWith("can't run"));
      expect(advisories.length).toBeGreaterThan(0);
      expect(advisories[0].text).toMatch(
        new RegExp(`^can't run policy '[a-z0-9-]+' from policy pack 'paved@v${version.replace(/\./g, "\\.")}' during preview: `),
      );
      expect(new Set(viaEngine.map((d) => d.policyName)).size).toBeGreaterThan(8);
    });
  }

  it("shows the secret's and the unknown's effect identically (secret unwrapped, unknown -> advisory)", async () => {
    await driver.configure({});
    const [legacy] = analyzed.filter((r) => r.name === "legacy-db");
    expect((legacy.props.publiclyAccessible as Record<string, unknown>)["4dabf18193072939515e22adb298388d"]).toBe(SECRET["4dabf18193072939515e22adb298388d"]);
    const legacyDiagnostics = (await driver.analyze(legacy)).map((d) => d.policyName);
    expect(legacyDiagnostics).toContain("rds-no-public-access");
    const newDb = analyzed.find((r) => r.name === "new-db")!;
    expect((await driver.analyze(newDb)).map((d) => [d.policyName, d.enforcementLevel])).toEqual(
      (await evaluate([newDb as EvaluateResource])).map((v) => [v.policyName, v.enforcementLevel]),
    );
  });

  it("from a clone: policy-pack/ (package.json main pack.js) runs the compiled pack; unbuilt, it says to build", async () => {
    expect(JSON.parse(readFileSync(join(repo, "policy-pack", "package.json"), "utf8"))).toMatchObject({ version, main: "pack.js" });
    // The clone's layout: policy-pack/ next to dist/ (here the installed package's dist/).
    const clone = join(installed.root, "node_modules", "paved");
    const sourceDir = join(clone, "policy-pack");
    mkdirSync(sourceDir);
    for (const f of ["package.json", "pack.js", "PulumiPolicy.yaml"]) cpSync(join(repo, "policy-pack", f), join(sourceDir, f));
    const started = await startPack(sourceDir, engine.address, ctx);
    if (!("port" in started)) throw new Error(`the pack exited with code ${started.code}:\n${started.stderr}`);
    const client = new AnalyzerDriver(started.port);
    try {
      expect((await client.analyzerInfo()).version).toBe(version);
    } finally {
      client.close();
      await started.stop();
    }
    const unbuilt = mkdtempSync(join(tmpdir(), "paved-unbuilt-"));
    try {
      mkdirSync(join(unbuilt, "policy-pack"));
      for (const f of ["package.json", "pack.js", "PulumiPolicy.yaml"]) cpSync(join(repo, "policy-pack", f), join(unbuilt, "policy-pack", f));
      symlinkSync(join(repo, "node_modules"), join(unbuilt, "node_modules"));
      const exited = await startPack(join(unbuilt, "policy-pack"), engine.address, ctx);
      expect("code" in exited && exited.code).toBe(32);
      expect((exited as ExitedPack).stderr).toContain(
        `Error: the Paved policy pack is not built: run \`npm run build\` in ${unbuilt} (it compiles the pack to ${join(unbuilt, "dist", "policy-pack", "index.js")})`,
      );
    } finally {
      rmSync(unbuilt, { recursive: true, force: true });
    }
  });

  it.each([
    [
      { "security-group-no-public-ingress": { allowedPorts: ["22"] } },
      ["security-group-no-public-ingress: allowedPorts.0: Invalid type. Expected: number, given: string"],
    ],
    [{ "rds-backup-retention": { minimumDays: { prod: "30" } } }, ["rds-backup-retention: minimumDays.prod: Invalid type. Expected: number, given: string"]],
  ])("config the CLI stops on, evaluate() refuses with the same errors: %j", async (config, expected) => {
    const { errors } = await driver.configure(config);
    expect(errors).toEqual(expected);
    let error: PolicyConfigError | undefined;
    await evaluate(analyzed as EvaluateResource[], { config: config as never }).catch((e) => (error = e));
    expect(error).toBeInstanceOf(PolicyConfigError);
    expect(error!.issues).toEqual(expected);
  });
});
