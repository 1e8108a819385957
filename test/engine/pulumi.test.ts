/**
 * The `pulumi` engine: engine events to steps, policy results and digests, from recorded
 * event logs (test/fixtures/pulumi-preview, see SOURCES.md there); its start-up checks;
 * and the full adapter against the real CLI with a file backend and @pulumi/random, run
 * only when `pulumi` is on PATH.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { describe, expect, it } from "vitest";
import { previewDigest } from "../../automation/digest";
import { PulumiEngine, previewFromEvents, progressLine } from "../../automation/engine/pulumi/engine";

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
    expect(steps.map((s) => `${s.op} ${s.name} ${s.changedKeys.join(",")}`)).toEqual(["update test-bucket tags.Environment,tags.ManagedBy,tagsAll.Environment,tagsAll.ManagedBy"]);
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
    expect(progressLine({ sequence: 1, timestamp: 1, diagnosticEvent: { message: "\u001b[31mboom\u001b[0m\n", color: "never", severity: "error" } } as EngineEvent)).toBe("error: boom");
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
      await expect(PulumiEngine.create({ dataDir: dir, env: { PATH: process.env.PATH, PULUMI_CONFIG_PASSPHRASE: "x" } })).rejects.toThrow(/^the pulumi CLI cannot be run: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
    const engine = await PulumiEngine.create({ dataDir: dir, env: { ...process.env, PULUMI_CONFIG_PASSPHRASE: "test" }, program: program as never, policyPackDir: undefined });
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
});
