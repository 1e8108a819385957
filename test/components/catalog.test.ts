import { describe, expect, it } from "vitest";
import { z } from "zod";
import { catalog, catalogJsonSchemas } from "../../components/catalog";
import { ENVIRONMENTS, OFFERINGS, TIERS, componentTypes, isOffering, taggableResourceTypes } from "../../components/guardrails";
import { revealSecrets } from "../../stacks/pulumiMocks";
import { build, plainStrings } from "./harness";

const network = { vpcId: "vpc-0123", subnetIds: ["subnet-a", "subnet-b"] };
const sampleParams: Record<string, Record<string, unknown>> = {
  postgres: {},
  redis: {},
  queue: {},
  bucket: {},
  namespace: {},
  "web-service": { namespace: "payments-dev", image: "ghcr.io/acme/api:1.4.2", port: 8080 },
};

describe("catalog", () => {
  it("offers the six offerings, each with its component type", () => {
    expect(Object.keys(catalog)).toEqual(["postgres", "redis", "queue", "bucket", "namespace", "web-service"]);
    for (const name of OFFERINGS) {
      expect(catalog[name].name).toBe(name);
      expect(catalog[name].componentType).toBe(componentTypes[name]);
    }
    expect(OFFERINGS.filter((o) => !catalog[o].stateful)).toEqual(["web-service"]);
    expect(isOffering("postgres")).toBe(true);
    expect(isOffering("mysql")).toBe(false);
    expect(isOffering("toString")).toBe(false);
  });

  it("publishes a JSON Schema for every offering, rejecting unknown keys", () => {
    const schemas = catalogJsonSchemas();
    expect(schemas.map((s) => s.name)).toEqual(OFFERINGS);
    for (const s of schemas) {
      expect(s.parameters).toMatchObject({ type: "object", additionalProperties: false });
    }
    expect((schemas[0].parameters as any).properties.tier).toMatchObject({ type: "string", enum: ["small", "medium", "large"], default: "small" });
    expect((schemas[0].parameters as any).properties.storageGb).toMatchObject({ type: "integer", minimum: 20, maximum: 2000 });
    expect((schemas[5].parameters as any).required).toEqual(["namespace", "image", "port"]);
  });

  it("builds the schemas once: the same answer every time, frozen so that no caller can change the next one", () => {
    const first = catalogJsonSchemas();
    expect(catalogJsonSchemas()).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first[0].parameters)).toBe(true);
    expect(() => {
      (first[0].parameters as any).properties.tier.default = "large";
    }).toThrow(TypeError);
    expect((catalogJsonSchemas()[0].parameters as any).properties.tier.default).toBe("small");
  });

  it("validates parameters strictly, with the field named", () => {
    const unknown = catalog.bucket.params.safeParse({ public: true });
    expect(unknown.success).toBe(false);
    expect(z.flattenError(unknown.error!).formErrors).toEqual(['Unrecognized key: "public"']);
    const storage = catalog.postgres.params.safeParse({ tier: "small", storageGb: 500 });
    expect(storage.error!.issues.map((i) => [i.path.join("."), i.message])).toEqual([["storageGb", "500 is not between 20 and 100 (the small tier's range)"]]);
    expect(catalog.postgres.params.parse({})).toEqual({ tier: "small" });
    expect(catalog.queue.params.parse({})).toEqual({ fifo: false, visibilityTimeoutSeconds: 30 });
  });

  it("says which context is missing", async () => {
    await build(() => {
      expect(() => catalog.postgres.build("db", { tier: "small" }, { team: "payments", environment: "dev" })).toThrow(
        'offering "postgres" needs a network (vpcId, subnetIds) for team payments in dev',
      );
      return {};
    });
  });
});

describe.each(ENVIRONMENTS)("every offering in %s", (environment) => {
  it.each(OFFERINGS)("%s: children tagged or labelled, parented, and no secret in plain text", async (offering) => {
    for (const tier of offering === "bucket" || offering === "queue" ? [undefined] : TIERS) {
      const definition = catalog[offering];
      const params = definition.params.parse({ ...sampleParams[offering], ...(tier ? { tier } : {}) });
      const b = await build(() => definition.build("thing", params, { team: "payments", environment, network }).outputs, environment);
      const component = b.resources.find((r) => r.type === componentTypes[offering])!;
      expect(component).toBeDefined();
      const children = b.resources.filter((r) => r.custom);
      expect(children.length).toBeGreaterThan(1);
      const secrets: string[] = [];
      for (const child of children) {
        expect(child.parent, child.name).toBe(component.urn);
        expect(child.name.startsWith("thing-"), child.name).toBe(true);
        if (taggableResourceTypes.includes(child.type)) {
          expect(child.props.tags, child.name).toEqual({
            "paved:team": "payments",
            "paved:environment": environment,
            "paved:offering": offering,
            "paved:managed-by": "paved",
          });
        }
        if (child.type.startsWith("kubernetes:")) {
          expect((child.props.metadata as any).labels, child.name).toMatchObject({
            "paved.dev/team": "payments",
            "paved.dev/environment": environment,
            "paved.dev/offering": offering,
            "app.kubernetes.io/managed-by": "paved",
          });
        }
        if (child.type === "random:index/randomPassword:RandomPassword") {
          secrets.push(revealSecrets(child.outputs.result) as string);
        }
      }
      for (const secret of secrets) {
        for (const r of b.resources) expect(plainStrings(r.props)).not.toContain(secret);
        expect(JSON.stringify(b.outputs)).not.toContain(secret);
      }
      for (const r of b.resources) {
        const keys = JSON.stringify(r.props);
        expect(keys).not.toMatch(/"password":/);
      }
    }
  });
});
