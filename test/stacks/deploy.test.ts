import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { isSecretValue, runUnderMocks } from "../../stacks/pulumiMocks";
import { deploy } from "../../stacks/deploy";
import { EnvironmentSpec, SpecError } from "../../stacks/spec";

const stackSpec = (stack: string): EnvironmentSpec => parse(readFileSync(resolve(__dirname, `../../stacks/Pulumi.${stack}.yaml`), "utf8")).config["paved:spec"];

describe("deploy", () => {
  it("builds every resource of the spec and returns its outputs by name", async () => {
    const { outputs, resources } = await runUnderMocks<Record<string, Record<string, unknown>>>(() => deploy(stackSpec("payments-dev")), {
      stack: "payments-dev",
    });
    expect(Object.keys(outputs)).toEqual(["orders-db", "sessions", "order-events", "receipts", "payments-dev", "checkout-api"]);
    expect(Object.keys(outputs["orders-db"])).toEqual(["endpoint", "port", "secretArn", "securityGroupId"]);
    expect(outputs["checkout-api"]).toEqual({ serviceName: "checkout-api", deploymentName: "checkout-api" });
    expect(outputs["payments-dev"]).toEqual({ namespace: "payments-dev" });
    const components = resources.filter((r) => r.type.startsWith("paved:")).map((r) => `${r.type} ${r.name}`);
    expect(components.sort()).toEqual([
      "paved:aws:Bucket receipts",
      "paved:aws:PostgresDatabase orders-db",
      "paved:aws:Queue order-events",
      "paved:aws:RedisCache sessions",
      "paved:kubernetes:TeamNamespace payments-dev",
      "paved:kubernetes:WebService checkout-api",
    ]);
    expect(resources.some((r) => r.type === "pulumi:providers:kubernetes")).toBe(false);
  });

  it("uses an explicit Kubernetes provider for a named context", async () => {
    const { resources } = await runUnderMocks(() => deploy(stackSpec("payments-prod")), { stack: "payments-prod" });
    const provider = resources.find((r) => r.type === "pulumi:providers:kubernetes")!;
    expect(provider.name).toBe("payments-prod-kubernetes");
    expect(provider.props.context).toBe("prod-cluster");
    const deployment = resources.find((r) => r.type === "kubernetes:apps/v1:Deployment")!;
    expect((deployment.props.spec as any).replicas).toBe(3);
  });

  it("creates nothing for an invalid spec", async () => {
    let error: unknown;
    const { resources } = await runUnderMocks(() => {
      try {
        deploy({ team: "payments", environment: "dev", resources: [{ offering: "postgres", name: "db", params: { tier: "huge" } }] } as EnvironmentSpec);
      } catch (err) {
        error = err;
      }
      return {};
    });
    expect(error).toBeInstanceOf(SpecError);
    expect((error as Error).message).toBe(
      [
        'resources[0].params.tier: "huge" is not one of small, medium, large',
        'resources[0].offering: "postgres" needs network (vpcId, subnetIds) in the spec',
      ].join("\n"),
    );
    expect(resources.map((r) => r.type)).toEqual(["pulumi:pulumi:Stack"]);
  });

  it("keeps secret outputs secret", async () => {
    const spec: EnvironmentSpec = {
      team: "payments",
      environment: "dev",
      network: { vpcId: "v", subnetIds: ["a", "b"] },
      resources: [{ offering: "redis", name: "cache", params: {} }],
    };
    const { resources } = await runUnderMocks(() => deploy(spec));
    const group = resources.find((r) => r.type === "aws:elasticache/replicationGroup:ReplicationGroup")!;
    expect(isSecretValue(group.props.authToken)).toBe(true);
  });
});
