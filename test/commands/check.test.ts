import { resolve } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { run } from "../../automation/commands/check";

const root = resolve(__dirname, "../..");

async function check(...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await run(argv, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    stdin: Readable.from([]),
  });
  return { code, stdout, stderr };
}

describe("paved check <spec>", () => {
  it.each(["payments-dev.yaml", "search-staging.yaml", "ledger-prod.yaml"])("passes the example %s", async (file) => {
    const r = await check(resolve(root, "stacks/examples", file));
    expect(r.stdout).toContain("Policies: no violations.");
    expect(r.stdout).toMatch(/^PASSED: 0 mandatory, 0 advisory violations \(\d+\.\d s\)$/m);
    expect(r.code).toBe(0);
  });

  it("prints the resource tree with type tokens", async () => {
    const r = await check(resolve(root, "stacks/examples/payments-dev.yaml"));
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("Resources (20) of paved/payments-dev:");
    expect(lines.slice(1, 8)).toEqual([
      "  pulumi:pulumi:Stack paved-payments-dev",
      "  ├─ paved:aws:Queue order-events",
      "  │  ├─ aws:sqs/queue:Queue order-events-dlq",
      "  │  ├─ aws:sqs/queuePolicy:QueuePolicy order-events-dlq-policy",
      "  │  ├─ aws:sqs/redriveAllowPolicy:RedriveAllowPolicy order-events-dlq-redrive-allow",
      "  │  ├─ aws:sqs/queue:Queue order-events-queue",
      "  │  └─ aws:sqs/queuePolicy:QueuePolicy order-events-queue-policy",
    ]);
    expect(lines).toContain("  └─ paved:aws:Bucket receipts");
    expect(lines).toContain("     └─ aws:s3/bucketVersioning:BucketVersioning receipts-versioning");
  });

  it("rejects an invalid spec with every error and its position, without running it", async () => {
    const r = await check(resolve(root, "test/fixtures/specs/invalid.yaml"));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      [
        'invalid.yaml:2:14 environment: "production" is not one of dev, staging, prod',
        'invalid.yaml:7:13 resources[0].params.tier: "xlarge" is not one of small, medium, large',
        'invalid.yaml:8:7 resources[0].params.public: unknown key "public"',
        'invalid.yaml:9:15 resources[1].offering: "mysql" is not one of postgres, redis, queue, bucket, namespace, web-service',
      ].join("\n") + "\n",
    );
    const json = JSON.parse((await check(resolve(root, "test/fixtures/specs/invalid.yaml"), "--json")).stdout);
    expect(json.status).toBe("error");
    expect(json.errors[1]).toEqual({
      path: "resources[0].params.tier",
      message: 'invalid.yaml:7:13 resources[0].params.tier: "xlarge" is not one of small, medium, large',
      line: 7,
      column: 13,
      file: "invalid.yaml",
    });
  });

  it("says when the file cannot be read", async () => {
    const r = await check("no/such/spec.yaml");
    expect([r.code, r.stderr]).toEqual([2, "cannot read no/such/spec.yaml: ENOENT\n"]);
  });
});

describe("paved check --program", () => {
  it("checks the root program's example stacks clean", async () => {
    for (const stack of ["payments-dev", "payments-prod"]) {
      const r = await check("--program", root, "--stack", stack, "--json");
      const report = JSON.parse(r.stdout);
      expect([stack, r.code, report.status, report.violations]).toEqual([stack, 0, "passed", []]);
      expect(report.summary.resources).toBeGreaterThan(30);
    }
  });

  it("flags a deliberately insecure program and exits 1", async () => {
    const r = await check("--program", resolve(root, "test/fixtures/insecure-program"), "--json");
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ status: "failed", project: "legacy", stack: "dev", summary: { resources: 4, mandatory: 7, advisory: 0 } });
    expect(report.violations.map((v: any) => `${v.resourceName} ${v.policyName}: ${v.message}`)).toEqual([
      'debug k8s-image-pinned: container "shell" image "ubuntu:latest" uses the latest tag',
      "debug k8s-no-host-namespaces: pod sets hostNetwork: true",
      'debug k8s-no-privileged-containers: container "shell" is privileged',
      'legacy-db rds-instance-class: instanceClass "db.m5.24xlarge" is not one of db.t4g.small, db.m7g.large, db.r7g.xlarge',
      "legacy-db rds-no-public-access: publiclyAccessible is true: databases are reached from inside the VPC only",
      "legacy-db rds-storage-encrypted: storageEncrypted is false: it must be true",
      "wide-open security-group-no-public-ingress: ingress from 0.0.0.0/0 on port 22: only 80, 443 may be open to the internet",
    ]);
    expect(report.violations[0].urn).toBe("urn:pulumi:dev::legacy::pulumi:pulumi:Stack$kubernetes:core/v1:Pod::debug");
    // What the program prints goes to stderr, never into the report.
    expect(r.stderr).toContain("building the legacy stack");
    expect(r.stdout).not.toContain("building the legacy stack");
  });

  it("prints the violations grouped by level in text form", async () => {
    const r = await check("--program", resolve(root, "test/fixtures/insecure-program"), "--config", "dbClass=db.t4g.small");
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      ["mandatory (6):", "  k8s-image-pinned: kubernetes:core/v1:Pod debug", '    container "shell" image "ubuntu:latest" uses the latest tag'].join("\n"),
    );
    expect(r.stdout).not.toContain("rds-instance-class");
    expect(r.stdout).toMatch(/^FAILED: 6 mandatory, 0 advisory violations/m);
  });

  it("names the config key a program reads but was not given", async () => {
    const r = await check("--program", resolve(root, "test/fixtures/config-program"));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("failed: index.ts:8:36: Missing required configuration variable 'needs-config:visibilityTimeout'");
    const ok = await check("--program", resolve(root, "test/fixtures/config-program"), "--config", "visibilityTimeout=45");
    expect([ok.code, ok.stdout.split("\n").slice(-2)[0]]).toEqual([0, expect.stringMatching(/^PASSED: 0 mandatory/)]);
  }, 120_000);

  it("exits 2 with the error of a program that throws", async () => {
    const r = await check("--program", resolve(root, "test/fixtures/throwing-program"), "--json");
    expect(r.code).toBe(2);
    const report = JSON.parse(r.stdout);
    expect(report.status).toBe("error");
    expect(report.errors).toEqual([
      {
        message: `paved check: ${resolve(root, "test/fixtures/throwing-program")} failed: index.ts:5:7: regions.json is missing eu-west-3`,
        file: "index.ts",
        line: 5,
        column: 7,
      },
    ]);
    // Not Pulumi's promise-leak banner: the program's own error only.
    expect(r.stderr).not.toContain("promises were still active");
  }, 120_000);

  it("names the component, the resource and the position where a component throws", async () => {
    const dir = resolve(root, "test/fixtures/throwing-component");
    const r = await check("--program", dir);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    const lines = r.stderr.split("\n").filter((l) => l && !l.startsWith("paved check: running"));
    expect(lines).toEqual([`paved check: ${dir} failed: PostgresDatabase "orders-db" at index.ts:8:19: tier "huge" is not one of small, medium, large`]);
    const json = JSON.parse((await check("--program", dir, "--json")).stdout);
    expect(json.errors[0]).toMatchObject({ file: "index.ts", line: 8, column: 19, resource: "PostgresDatabase orders-db" });
  }, 120_000);
});

describe("usage", () => {
  it.each([
    [[], "give a spec file or --program <dir>"],
    [["a.yaml", "--program", "x"], "give a spec file or --program, not both"],
    [["--config", "novalue", "a.yaml"], '--config takes key=value, got "novalue"'],
    [["--frobnicate"], "unknown option --frobnicate"],
    [["--stack"], "--stack needs a value"],
  ])("%o -> exit 2: %s", async (argv, message) => {
    const r = await check(...argv);
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n")[0]).toBe(`paved check: ${message}`);
  });
});
