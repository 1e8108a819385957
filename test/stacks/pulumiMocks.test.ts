import { describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as aws from "@pulumi/aws";
import { isSecretValue, revealSecrets, runUnderMocks } from "../../stacks/pulumiMocks";

class Group extends pulumi.ComponentResource {
  public readonly bucketName: pulumi.Output<string>;
  public readonly token: pulumi.Output<string>;
  constructor(name: string, opts?: pulumi.ComponentResourceOptions) {
    super("paved:test:Group", name, {}, opts);
    const bucket = new aws.s3.Bucket(`${name}-bucket`, { tags: { a: "b" } }, { parent: this, protect: true });
    const pw = new random.RandomPassword(`${name}-token`, { length: 16 }, { parent: this });
    new aws.secretsmanager.SecretVersion(`${name}-sv`, { secretId: "x", secretString: pw.result }, { parent: this, dependsOn: [bucket] });
    this.bucketName = bucket.bucket;
    this.token = pw.result;
    this.registerOutputs({ bucketName: this.bucketName, token: this.token });
  }
}

describe("runUnderMocks", () => {
  it("records parents, protect, dependencies, URNs and secret inputs", async () => {
    const { resources, outputs } = await runUnderMocks(
      () => {
        const g = new Group("g");
        return { bucketName: g.bucketName, token: g.token };
      },
      { project: "proj", stack: "dev" },
    );
    const byName = Object.fromEntries(resources.map((r) => [r.name, r]));
    expect(resources.map((r) => r.type).sort()).toEqual([
      "aws:s3/bucket:Bucket",
      "aws:secretsmanager/secretVersion:SecretVersion",
      "paved:test:Group",
      "pulumi:pulumi:Stack",
      "random:index/randomPassword:RandomPassword",
    ]);
    expect(byName["g"].parent).toBe("urn:pulumi:dev::proj::pulumi:pulumi:Stack::proj-dev");
    expect(byName["g"].custom).toBe(false);
    expect(byName["g-bucket"].urn).toBe("urn:pulumi:dev::proj::paved:test:Group$aws:s3/bucket:Bucket::g-bucket");
    expect(byName["g-bucket"].parent).toBe(byName["g"].urn);
    expect(byName["g-bucket"].protect).toBe(true);
    expect(byName["g-token"].protect).toBe(false);
    expect(byName["g-sv"].dependencies).toContain(byName["g-bucket"].urn);
    expect(isSecretValue(byName["g-sv"].props.secretString)).toBe(true);
    expect(revealSecrets(byName["g-sv"].props.secretString)).toMatch(/^[A-Za-z0-9]{16}$/);
    expect((outputs as Record<string, unknown>).bucketName).toMatch(/^g-bucket-[0-9a-f]{8}$/);
  });

  it("gives the same outputs on every run and applies config", async () => {
    const run = () =>
      runUnderMocks(
        () => {
          const cfg = new pulumi.Config();
          const b = new aws.s3.Bucket(cfg.require("name"));
          return { arn: b.arn };
        },
        { config: { name: "logs" } },
      );
    const a = await run();
    const b = await run();
    expect(a.outputs).toEqual({ arn: `arn:aws:s3:::logs-${a.resources[1].id!.slice(5)}` });
    expect(b.outputs).toEqual(a.outputs);
  });
});
