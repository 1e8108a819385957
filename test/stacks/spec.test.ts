import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { SpecError, parseSpec, validateSpec } from "../../stacks/spec";

function errors(text: string, file = "payments-dev.yaml"): string[] {
  try {
    parseSpec(text, file);
  } catch (err) {
    expect(err).toBeInstanceOf(SpecError);
    return (err as Error).message.split("\n");
  }
  throw new Error("the spec was accepted");
}

const valid = `team: payments
environment: dev
network:
  vpcId: vpc-0123
  subnetIds: [subnet-a, subnet-b]
resources:
  - offering: postgres
    name: orders-db
  - offering: queue
    name: events
    params:
      fifo: true
`;

describe("parseSpec", () => {
  it("returns the spec with each offering's defaults applied", () => {
    expect(parseSpec(valid, "payments-dev.yaml")).toEqual({
      team: "payments",
      environment: "dev",
      network: { vpcId: "vpc-0123", subnetIds: ["subnet-a", "subnet-b"] },
      resources: [
        { offering: "postgres", name: "orders-db", params: { tier: "small" } },
        { offering: "queue", name: "events", params: { fifo: true, visibilityTimeoutSeconds: 30 } },
      ],
    });
  });

  it("reports every error at once, with file, line, column and path", () => {
    const text = `team: Payments
environment: dev
owner: alice
resources:
  - offering: postgres
    name: orders-db
  - offering: redis
    name: cache
    params:
      tier: xlarge
      engineVersion: "6.2"
  - offering: postgres
    name: orders-db
    params: { storageGb: 5000 }
  - offering: queue
    name: q
    params: { visibilityTimeoutSeconds: -1 }
`;
    expect(errors(text)).toEqual([
      "payments-dev.yaml:1:7 team: \"Payments\" must be a DNS label (lowercase letters, digits and '-', starting with a letter)",
      'payments-dev.yaml:3:1 owner: unknown key "owner"',
      'payments-dev.yaml:5:15 resources[0].offering: "postgres" needs network (vpcId, subnetIds) in the spec',
      'payments-dev.yaml:7:15 resources[1].offering: "redis" needs network (vpcId, subnetIds) in the spec',
      'payments-dev.yaml:10:13 resources[1].params.tier: "xlarge" is not one of small, medium, large',
      'payments-dev.yaml:11:22 resources[1].params.engineVersion: "6.2" is not one of 7.0, 7.1',
      'payments-dev.yaml:12:15 resources[2].offering: "postgres" needs network (vpcId, subnetIds) in the spec',
      'payments-dev.yaml:13:11 resources[2].name: "orders-db" is already the name of resources[0]',
      "payments-dev.yaml:14:26 resources[2].params.storageGb: 5000 is more than the maximum 2000",
      'payments-dev.yaml:16:11 resources[3].name: "q" must match ^[a-z][a-z0-9-]{1,39}$',
      "payments-dev.yaml:17:41 resources[3].params.visibilityTimeoutSeconds: -1 is less than the minimum 0",
    ]);
  });

  it("checks storage against the chosen tier's range", () => {
    const text = valid.replace("    name: orders-db\n", "    name: orders-db\n    params: { tier: medium, storageGb: 20 }\n");
    expect(errors(text)).toEqual(["payments-dev.yaml:9:40 resources[0].params.storageGb: 20 is not between 50 and 500 (the medium tier's range)"]);
  });

  it("reports missing fields at their parent and YAML syntax errors at their position", () => {
    expect(errors("team: payments\nresources: []\n")).toEqual(["payments-dev.yaml:1:1 environment: is required"]);
    expect(errors("team: payments\nenvironment: [dev\n")[0]).toMatch(/^payments-dev\.yaml:\d+:\d+ /);
    expect(errors("resources: {}\nteam: payments\nenvironment: dev\n")).toEqual(["payments-dev.yaml:1:12 resources: expected array, got {}"]);
  });

  it("reports what the components would refuse at its position: pinned images, DNS labels, AWS identifiers, ranges", () => {
    const text = `team: payments
environment: prod
network: { vpcId: vpc-0123, subnetIds: [subnet-a, subnet-b] }
resources:
  - offering: web-service
    name: api
    params:
      namespace: payments-prod
      image: nginx:latest
      port: 8080
      replicas: 1
  - offering: namespace
    name: tns-
  - offering: postgres
    name: orders--db
  - offering: redis
    name: sessions-
    params: { authTokenVersion: 5000000 }
`;
    const pinned = "use a digest (repo@sha256:<64 hex>) or a tag other than latest (repo:1.2.3)";
    const doubled = 'it contains "--"; use single hyphens and do not end the name with "-"';
    expect(errors(text, "payments-prod.yaml")).toEqual([
      `payments-prod.yaml:9:14 resources[0].params.image: "nginx:latest" is not pinned: ${pinned}`,
      "payments-prod.yaml:11:17 resources[0].params.replicas: 1 is less than the minimum 2 in prod",
      `payments-prod.yaml:13:11 resources[1].name: "tns-" is not a DNS label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)`,
      `payments-prod.yaml:15:11 resources[2].name: "orders--db" would make the RDS DB instance identifier "orders--db-db-<random>", which RDS refuses: ${doubled}`,
      `payments-prod.yaml:17:11 resources[3].name: "sessions-" would make the ElastiCache replication group ID "sessions--redis-<random>", which ElastiCache refuses: ${doubled}`,
      "payments-prod.yaml:18:33 resources[3].params.authTokenVersion: 5000000 is more than the maximum 1000000",
    ]);
  });

  it("does not repeat a name error the envelope already reports", () => {
    const text = "team: payments\nenvironment: dev\nresources:\n  - offering: namespace\n    name: Team_NS\n";
    expect(errors(text)).toEqual(['payments-dev.yaml:5:11 resources[0].name: "Team_NS" must match ^[a-z][a-z0-9-]{1,39}$']);
  });

  it("lets a web service default to the spec's namespace", () => {
    const spec = parseSpec(
      "team: search\nenvironment: dev\nkubernetes: { namespace: search-dev }\nresources:\n  - offering: web-service\n    name: api\n    params: { image: 'a/b:1', port: 80 }\n",
      "s.yaml",
    );
    expect(spec.resources[0].params).toEqual({ tier: "small", namespace: "search-dev", image: "a/b:1", port: 80 });
  });
});

describe("validateSpec", () => {
  it("validates objects too (the service and the root program pass objects)", () => {
    const result = validateSpec({ team: "payments", environment: "dev", resources: [{ offering: "bucket", name: "logs", params: { x: 1 } }] });
    expect(result).toEqual({ ok: false, issues: [{ path: ["resources", 0, "params", "x"], message: 'unknown key "x"' }] });
  });

  it("accepts every shipped example", () => {
    for (const file of ["payments-dev.yaml", "search-staging.yaml", "ledger-prod.yaml"]) {
      const path = resolve(__dirname, "../../stacks/examples", file);
      expect(() => parseSpec(readFileSync(path, "utf8"), file)).not.toThrow();
    }
  });
});
