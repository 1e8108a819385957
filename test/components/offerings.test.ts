/** The door's validation of one instance: every constraint the component enforces, with the field named. */
import { describe, expect, it } from "vitest";
import { awsIdentifierProblem, maxNameLength } from "../../components/aws/naming";
import { imageReferenceProblem } from "../../components/kubernetes/rules";
import { OfferingInstance, catalogJsonSchemas, validateOfferingInstance } from "../../components/offerings";

const instance = (offering: string, name: string, params: Record<string, unknown> = {}, environment = "dev"): OfferingInstance => ({
  offering,
  team: "payments",
  environment,
  name,
  params,
});
const web = { namespace: "payments-dev", image: "ghcr.io/acme/api:1.4.2", port: 8080 };
const notDnsLabel = "is not a DNS label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)";
const pinned = "use a digest (repo@sha256:<64 hex>) or a tag other than latest (repo:1.2.3)";
const doubleHyphen = `it contains "--"; use single hyphens and do not end the name with "-"`;

describe("validateOfferingInstance", () => {
  it.each([
    [
      "redis authTokenVersion 5000000",
      instance("redis", "sessions", { authTokenVersion: 5_000_000 }),
      ["params", "authTokenVersion"],
      "5000000 is more than the maximum 1000000",
    ],
    ["redis authTokenVersion 0", instance("redis", "sessions", { authTokenVersion: 0 }), ["params", "authTokenVersion"], "0 is less than the minimum 1"],
    [
      "web-service image nginx:latest",
      instance("web-service", "api", { ...web, image: "nginx:latest" }),
      ["params", "image"],
      `"nginx:latest" is not pinned: ${pinned}`,
    ],
    ["web-service image untagged", instance("web-service", "api", { ...web, image: "nginx" }), ["params", "image"], `"nginx" is not pinned: ${pinned}`],
    [
      "web-service image with a short digest",
      instance("web-service", "api", { ...web, image: "nginx@sha256:abc" }),
      ["params", "image"],
      `"nginx@sha256:abc" has an invalid digest: ${pinned}`,
    ],
    ["web-service namespace tns-", instance("web-service", "api", { ...web, namespace: "tns-" }), ["params", "namespace"], `"tns-" ${notDnsLabel}`],
    ["web-service name api-", instance("web-service", "api-", web), ["name"], `"api-" ${notDnsLabel}`],
    [
      "web-service 1 replica in prod",
      instance("web-service", "api", { ...web, replicas: 1 }, "prod"),
      ["params", "replicas"],
      "1 is less than the minimum 2 in prod",
    ],
    ["namespace name tns-", instance("namespace", "tns-"), ["name"], `"tns-" ${notDnsLabel}`],
    [
      "postgres name orders--db",
      instance("postgres", "orders--db"),
      ["name"],
      `"orders--db" would make the RDS DB instance identifier "orders--db-db-<random>", which RDS refuses: ${doubleHyphen}`,
    ],
    [
      "postgres name orders-",
      instance("postgres", "orders-"),
      ["name"],
      `"orders-" would make the RDS DB instance identifier "orders--db-<random>", which RDS refuses: ${doubleHyphen}`,
    ],
    [
      "redis name a--b",
      instance("redis", "a--b"),
      ["name"],
      `"a--b" would make the ElastiCache replication group ID "a--b-redis-<random>", which ElastiCache refuses: ${doubleHyphen}`,
    ],
    [
      "redis name sessions-",
      instance("redis", "sessions-"),
      ["name"],
      `"sessions-" would make the ElastiCache replication group ID "sessions--redis-<random>", which ElastiCache refuses: ${doubleHyphen}`,
    ],
    [
      "redis name of 27 characters",
      instance("redis", `s${"x".repeat(26)}`),
      ["name"],
      `"s${"x".repeat(26)}" would make the ElastiCache replication group ID "s${"x".repeat(26)}-redis-<random>", which ElastiCache refuses: it would be 41 characters, more than 40; a redis name has at most 26 characters`,
    ],
    [
      "bucket name xn--files",
      instance("bucket", "xn--files"),
      ["name"],
      `"xn--files" would make the S3 bucket name "xn--files-bucket-<random>", which S3 refuses: it may not start with xn--, sthree- or amzn-s3-demo-`,
    ],
    ["a name outside NAME_PATTERN", instance("queue", "Orders_Q"), ["name"], '"Orders_Q" must match ^[a-z][a-z0-9-]{1,39}$'],
    ["an unknown offering", instance("mysql", "db"), ["offering"], '"mysql" is not an offering'],
  ])("refuses %s, naming the field", (_what, given, path, message) => {
    expect(validateOfferingInstance(given)).toEqual({ ok: false, issues: [{ path, message }] });
  });

  it("reports every problem at once, and checks the team and environment too", () => {
    const result = validateOfferingInstance({
      offering: "web-service",
      team: "Payments",
      environment: "prod",
      name: "api-",
      params: { ...web, image: "nginx", replicas: 1 },
    });
    expect(result).toEqual({
      ok: false,
      issues: [
        { path: ["team"], message: '"Payments" must be a DNS label' },
        { path: ["name"], message: `"api-" ${notDnsLabel}` },
        { path: ["params", "image"], message: `"nginx" is not pinned: ${pinned}` },
        { path: ["params", "replicas"], message: "1 is less than the minimum 2 in prod" },
      ],
    });
    expect(validateOfferingInstance({ ...instance("queue", "events"), environment: "qa" })).toEqual({
      ok: false,
      issues: [{ path: ["environment"], message: '"qa" is not one of dev, staging, prod' }],
    });
    // Below every environment's minimum: the schema's error only, not a second one for the environment.
    expect(validateOfferingInstance(instance("web-service", "api", { ...web, replicas: 0 }, "prod"))).toEqual({
      ok: false,
      issues: [{ path: ["params", "replicas"], message: "0 is less than the minimum 1" }],
    });
  });

  it("accepts what the components build, returning the params with defaults", () => {
    expect(validateOfferingInstance(instance("redis", `s${"x".repeat(25)}`, { authTokenVersion: 1_000_000 }))).toEqual({
      ok: true,
      params: { tier: "small", authTokenVersion: 1_000_000 },
    });
    expect(validateOfferingInstance(instance("postgres", "orders-db-2"))).toEqual({ ok: true, params: { tier: "small" } });
    expect(validateOfferingInstance(instance("web-service", "api", { ...web, replicas: 2 }, "prod"))).toMatchObject({ ok: true });
    expect(validateOfferingInstance(instance("web-service", "api", { ...web, image: `nginx:1.27@sha256:${"a".repeat(64)}` }))).toMatchObject({ ok: true });
    // Queues and Kubernetes objects accept doubled hyphens; S3 does too.
    for (const offering of ["queue", "bucket"]) expect(validateOfferingInstance(instance(offering, "a--b"))).toMatchObject({ ok: true });
    expect(validateOfferingInstance(instance("namespace", "team--ns"))).toMatchObject({ ok: true });
  });

  it("publishes the new limits in the JSON Schema", () => {
    const schemas = Object.fromEntries(catalogJsonSchemas().map((s) => [s.name, s.parameters as any]));
    expect(schemas.redis.properties.authTokenVersion).toMatchObject({ type: "integer", minimum: 1, maximum: 1_000_000 });
    expect(schemas["web-service"].properties.namespace.pattern).toBe("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$");
    expect(schemas["web-service"].properties.replicas).toMatchObject({ minimum: 1, maximum: 50 });
  });
});

describe("the pure checks the schemas and the components share", () => {
  it("derives each offering's longest name from the AWS limits", () => {
    expect([maxNameLength("postgres"), maxNameLength("redis"), maxNameLength("bucket")]).toEqual([52, 26, 48]);
    expect(awsIdentifierProblem("redis", "x".repeat(26))).toBeUndefined();
    expect(awsIdentifierProblem("queue", "a--")).toBeUndefined();
    expect(awsIdentifierProblem("postgres", "Orders-DB")).toBeUndefined();
    expect(awsIdentifierProblem("postgres", "orders_db")).toBe(
      'would make the RDS DB instance identifier "orders_db-db-<random>", which RDS refuses: use letters, digits and hyphens, starting with a letter',
    );
  });

  it("tells a pinned image from one that is not", () => {
    expect(imageReferenceProblem("ghcr.io/acme/api:1.4.2")).toBeUndefined();
    expect(imageReferenceProblem("localhost:5000/api")).toBe(`is not pinned: ${pinned}`);
    expect(imageReferenceProblem("")).toBe(`is not an image reference: ${pinned}`);
  });
});
