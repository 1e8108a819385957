/**
 * The `pulumi` engine: engine events to steps, policy results and digests, from recorded
 * event logs (test/fixtures/pulumi-preview, see SOURCES.md there); its start-up checks;
 * and the full adapter against the real CLI with a file backend and @pulumi/random, run
 * only when `pulumi` is on PATH.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { describe, expect, it } from "vitest";
import { previewDigest } from "../../automation/digest";
import {
  POLICY_CONFIG_FILE,
  PulumiEngine,
  checkPolicyPackDir,
  policyPackOptions,
  previewFromEvents,
  progressLine,
} from "../../automation/engine/pulumi/engine";
import { evaluate, policies, resolvePolicyConfig } from "../../policy-pack/api";
import { parsePolicyPackConfig, reconcilePolicyPackConfig } from "../../policy-pack/engineConfig";

const FIXTURES = join(__dirname, "..", "fixtures", "pulumi-preview");
const events = (file: string): EngineEvent[] =>
  readFileSync(join(FIXTURES, file), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as EngineEvent);

const pulumiOnPath = (process.env.PATH ?? "").split(":").some((d) => d && existsSync(join(d, "pulumi")));

describe("engine events to steps", () => {
  it("collapses a replacement into one replace step, with its keys; the root stack is left out", () => {
    const { steps, violations, errors } = previewFromEvents(events("pulumi-display-aws-webserver-replace-preview-engine-events.json"));
    expect(steps.map((s) => [s.op, s.type, s.name, s.changedKeys, s.replaceKeys])).toEqual([
      ["same", "aws:ec2/securityGroup:SecurityGroup", "web-secgrp", [], []],
      ["replace", "aws:ec2/instance:Instance", "web-server-www", ["userData"], ["userData"]],
    ]);
    expect(violations).toEqual([]);
    expect(errors).toEqual([]);
  });

  it("maps policy events to violations (Pulumi Cloud event format)", () => {
    const { steps, violations } = previewFromEvents(events("drift-adopter-aws-s3-cloud-preview-engine-events.json"));
    expect(steps.map((s) => `${s.op} ${s.name} ${s.changedKeys.join(",")}`)).toEqual([
      "update test-bucket tags.Environment,tags.ManagedBy,tagsAll.Environment,tagsAll.ManagedBy",
    ]);
    expect(violations).toEqual([
      {
        policyName: "s3-bucket-replication-enabled",
        enforcementLevel: "advisory",
        message: "Encourages use of cross-region replication for S3 buckets.\nS3 buckets should have cross-region replication.",
        description: "",
        resourceName: "test-bucket",
        urn: "urn:pulumi:test::simple-s3::aws:s3/bucket:Bucket::test-bucket",
        resourceType: "aws:s3/bucket:Bucket",
      },
    ]);
  });

  it("gives the same digest whatever order the events arrive in, another one when a step changes", () => {
    const log = events("pulumi-display-aws-eks-large-preview-engine-events.json");
    const config = { action: "update", spec: { team: "t" } };
    const forward = previewDigest(previewFromEvents(log).steps, config);
    const backward = previewDigest(previewFromEvents([...log].reverse()).steps, config);
    expect(backward).toBe(forward);
    const changed = previewFromEvents(log).steps.map((s) => (s.op === "update" ? { ...s, changedKeys: [...s.changedKeys, "tags"] } : s));
    expect(previewDigest(changed, config)).not.toBe(forward);
  });

  it("turns resource steps, diagnostics and policy results into progress lines", () => {
    const log = events("pulumi-display-aws-webserver-replace-preview-engine-events.json");
    const lines = log.map(progressLine).filter((l): l is string => l !== undefined);
    expect(lines).toContain("create-replacement aws:ec2/instance:Instance web-server-www");
    expect(lines).toContain("delete-replaced aws:ec2/instance:Instance web-server-www");
    expect(lines.some((l) => l.startsWith("same "))).toBe(false);
    expect(
      progressLine({ sequence: 1, timestamp: 1, diagnosticEvent: { message: "\u001b[31mboom\u001b[0m\n", color: "never", severity: "error" } } as EngineEvent),
    ).toBe("error: boom");
  });
});

describe("policy results and config", () => {
  const policyEvent = (policyName: string, message: string, enforcementLevel = "mandatory") =>
    ({
      sequence: 1,
      timestamp: 1,
      policyEvent: {
        resourceUrn: "urn:pulumi:dev::paved::aws:rds/instance:Instance::db",
        message: `<{%reset%}>${message}<{%reset%}>\n`,
        color: "raw",
        policyName,
        policyPackName: "paved",
        policyPackVersion: "0.1.0",
        policyPackVersionTag: "0.1.0",
        enforcementLevel,
      },
    }) as unknown as EngineEvent;

  it("gives a Paved policy's result as evaluate() does: the engine's description line split off, advisories whole", async () => {
    const db = { type: "aws:rds/instance:Instance", name: "db", urn: "urn:pulumi:dev::paved::aws:rds/instance:Instance::db" };
    const [expected] = await evaluate([
      { ...db, props: { publiclyAccessible: true, storageEncrypted: true, tags: { "paved:team": "t", "paved:environment": "dev" } } },
    ]);
    const advisoryText =
      "can't run policy 'rds-storage-encrypted' from policy pack 'paved@v0.1.0' during preview: string value at .storageEncrypted can't be known during preview";
    const { violations } = previewFromEvents([
      policyEvent("rds-no-public-access", `${expected.description}\n${expected.message}`),
      policyEvent("rds-storage-encrypted", advisoryText, "advisory"),
    ]);
    expect(violations[0]).toEqual(expected);
    expect(violations[1]).toMatchObject({ policyName: "rds-storage-encrypted", enforcementLevel: "advisory", message: advisoryText });
  });

  it("passes paved.yaml's policies to the CLI as a config file in the job's work directory", () => {
    const workDir = mkdtempSync(join(tmpdir(), "paved-work-"));
    try {
      expect(policyPackOptions("/pack", workDir)).toEqual({ policyPacks: ["/pack"] });
      expect(policyPackOptions("/pack", workDir, {})).toEqual({ policyPacks: ["/pack"] });
      expect(readdirSync(workDir)).toEqual([]);
      const config = {
        all: "advisory" as const,
        "rds-backup-retention": { enforcementLevel: "mandatory" as const, minimumDays: { dev: 3, staging: 7, prod: 30 } },
      };
      expect(policyPackOptions("/pack", workDir, config)).toEqual({ policyPacks: ["/pack"], policyPackConfigs: [join(workDir, POLICY_CONFIG_FILE)] });
      const file = JSON.parse(readFileSync(join(workDir, POLICY_CONFIG_FILE), "utf8"));
      expect(file).toEqual(config);
      // Read back as the CLI reads --policy-pack-config, it resolves to what evaluate() uses.
      const infos = policies.map((p) => ({
        name: p.name,
        enforcementLevel: p.enforcementLevel ?? ("mandatory" as const),
        configSchema: p.configSchema as never,
      }));
      const { config: cli, errors } = reconcilePolicyPackConfig(infos, undefined, parsePolicyPackConfig(file));
      expect(errors).toEqual([]);
      const resolved = resolvePolicyConfig(policies, config);
      for (const p of policies)
        expect(resolved.get(p.name)).toEqual({ enforcementLevel: cli.get(p.name)!.enforcementLevel, properties: cli.get(p.name)!.properties ?? {} });
      expect(resolved.get("rds-backup-retention")!.enforcementLevel).toBe("mandatory");
      expect(resolved.get("rds-no-public-access")!.enforcementLevel).toBe("advisory");
    } finally {
      rmSync(workDir, { recursive: true, force: true });
    }
  });

  it("refuses at start-up the policy config the CLI would stop on", async () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-pulumi-"));
    try {
      await expect(
        PulumiEngine.create({
          dataDir: dir,
          env: { PATH: process.env.PATH, PULUMI_CONFIG_PASSPHRASE: "x" },
          policyConfig: { "security-group-no-public-ingress": { allowedPorts: ["22"] } },
        }),
      ).rejects.toThrow(
        "validating policy config: paved 0.1.0  security-group-no-public-ingress: allowedPorts.0: Invalid type. Expected: number, given: string",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("checks the pack directory: its files, and in a clone that the pack is built", () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-packdir-"));
    try {
      expect(() => checkPolicyPackDir(dir)).toThrow(`${dir} is not a policy pack directory: it has no PulumiPolicy.yaml`);
      const source = join(dir, "policy-pack");
      mkdirSync(source);
      for (const f of ["PulumiPolicy.yaml", "package.json", "pack.js"]) cpSync(join(__dirname, "..", "..", "policy-pack", f), join(source, f));
      expect(() => checkPolicyPackDir(source)).toThrow(
        `the policy pack in ${source} is not built: run \`npm run build\` (it compiles the pack to ${join(dir, "dist", "policy-pack", "index.js")})`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("start-up checks", () => {
  it("refuses a file backend without PULUMI_CONFIG_PASSPHRASE", async () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-pulumi-"));
    try {
      await expect(PulumiEngine.create({ dataDir: dir, env: { PATH: process.env.PATH } })).rejects.toThrow(
        "PULUMI_CONFIG_PASSPHRASE is not set: the file backend encrypts each stack's secrets with it (set it, or PULUMI_CONFIG_PASSPHRASE_FILE, or use another backend)",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(pulumiOnPath)("says the CLI cannot be run when it is missing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-pulumi-"));
    try {
      await expect(PulumiEngine.create({ dataDir: dir, env: { PATH: process.env.PATH, PULUMI_CONFIG_PASSPHRASE: "x" } })).rejects.toThrow(
        /^the pulumi CLI cannot be run: /,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the workflow that runs these tests on the real CLI (.github/workflows/engine.yml)", () => {
  it("installs the CLI of the SDK's version, builds the pack, runs this file and fails if it was skipped", async () => {
    const { parse } = await import("yaml");
    const workflow = parse(readFileSync(join(__dirname, "..", "..", ".github", "workflows", "engine.yml"), "utf8"));
    const steps = workflow.jobs.cli.steps as { name?: string; uses?: string; run?: string; with?: Record<string, string> }[];
    const index = (pred: (s: (typeof steps)[number]) => boolean) => steps.findIndex(pred);
    const cli = index((s) => s.uses?.startsWith("pulumi/actions@") === true);
    const build = index((s) => s.run === "npm run build");
    const tests = index((s) => s.run?.includes("npx vitest run test/engine/pulumi.test.ts") === true);
    expect(steps[cli].with).toEqual({ "pulumi-version": "${{ steps.sdk.outputs.version }}" });
    expect(cli).toBeGreaterThan(0);
    expect(build).toBeGreaterThan(cli);
    expect(tests).toBeGreaterThan(build);
    expect(steps[tests].run).toContain("no \\`pulumi\\` on PATH");
    expect(workflow.jobs.cli.env.PULUMI_CONFIG_PASSPHRASE).toBeDefined();
    expect(JSON.stringify(workflow)).not.toContain("secrets.");
  });
});

if (!pulumiOnPath) console.log("pulumi engine against the real CLI skipped: no `pulumi` on PATH");

describe.skipIf(!pulumiOnPath)("the adapter against the real CLI (file backend, @pulumi/random)", () => {
  it("previews, applies, previews no change, and destroys a protected resource only when unprotected", async () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-pulumi-"));
    const random = await import("@pulumi/random");
    const program = (spec: { resources: { name: string; params: Record<string, unknown> }[] }) => {
      const out: Record<string, unknown> = {};
      for (const r of spec.resources) {
        const pet = new random.RandomPet(r.name, { length: Number(r.params.length ?? 2) }, { protect: true });
        out[r.name] = { id: pet.id };
      }
      return out;
    };
    const engine = await PulumiEngine.create({
      dataDir: dir,
      env: { ...process.env, PULUMI_CONFIG_PASSPHRASE: "test" },
      program: program as never,
      policyPackDir: undefined,
    });
    const spec = { team: "t", environment: "dev" as const, resources: [{ offering: "queue" as const, name: "pet", params: { length: 2 } }] };
    const op = { stack: "t-dev-pet", spec, action: "create" as const };
    try {
      const first = await engine.preview(op);
      expect(first.steps.map((s) => `${s.op} ${s.type}`)).toEqual(["create random:index/randomPet:RandomPet"]);
      const applied = await engine.apply(op, { digest: first.digest });
      expect(Object.keys(applied.outputs)).toEqual(["pet"]);
      const again = await engine.preview({ ...op, action: "update" });
      expect(again.steps.every((s) => s.op === "same")).toBe(true);
      const destroy = { ...op, action: "destroy" as const };
      const plan = await engine.preview(destroy);
      expect(plan.steps.map((s) => s.op)).toEqual(["delete"]);
      await expect(engine.apply(destroy, { digest: plan.digest })).rejects.toThrow(/protect/);
      await engine.apply(destroy, { digest: plan.digest, unprotect: true });
    } finally {
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it("runs the pack with paved.yaml's policies on preview and up: config makes a RandomPet stateful, prod", async () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-pulumi-"));
    const random = await import("@pulumi/random");
    const program = () => ({ id: new random.RandomPet("pet", { length: 2 }).id });
    const spec = { team: "t", environment: "dev" as const, resources: [] };
    const make = (policyConfig?: Record<string, unknown>) =>
      PulumiEngine.create({
        dataDir: dir,
        env: { ...process.env, PULUMI_CONFIG_PASSPHRASE: "test" },
        program: program as never,
        policyConfig: policyConfig as never,
      });
    try {
      const plain = await make();
      expect((await plain.preview({ stack: "t-dev-plain", spec, action: "create" })).violations).toEqual([]);
      const configured = await make({ "stateful-resources-protected": { environment: "prod", statefulTypes: ["random:index/randomPet:RandomPet"] } });
      const preview = await configured.preview({ stack: "t-dev-pet", spec, action: "create" });
      expect(preview.violations.map((v) => [v.policyName, v.enforcementLevel, v.message])).toEqual([
        [
          "stateful-resources-protected",
          "mandatory",
          "random:index/randomPet:RandomPet holds data and is not protected in prod: set the protect resource option",
        ],
      ]);
      await expect(configured.apply({ stack: "t-dev-pet", spec, action: "create" }, { digest: preview.digest })).rejects.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
