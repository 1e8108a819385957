/**
 * The door and the component cannot disagree: for every offering x environment x tier,
 * instances `validateOfferingInstance` accepts (drawn from a wide generator, boundary and
 * invalid values included, and filtered by the door itself) build under Pulumi mocks; and
 * near-misses (one constraint broken at a time) are refused by the door, naming the field,
 * and by the component, naming the argument, before it creates anything.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { catalog } from "../../components/catalog";
import { PavedArgumentError } from "../../components/common";
import {
  ENVIRONMENTS,
  Environment,
  NAME_PATTERN,
  OFFERINGS,
  Offering,
  TEAM_PATTERN,
  TIERS,
  Tier,
  componentTypes,
  engineVersions,
  environments,
  queueDefaults,
  redisAuthTokenDefaults,
  tiers,
  webServiceDefaults,
} from "../../components/guardrails";
import { OfferingInstance, validateOfferingInstance } from "../../components/offerings";
import { formatPath } from "../../components/zodIssues";
import { runUnderMocks } from "../../stacks/pulumiMocks";

const network = { vpcId: "vpc-0123", subnetIds: ["subnet-a", "subnet-b"] };

/** Integers in [min, max], its edges, just outside it, and fractions: the values a range check must sort. */
function around(min: number, max: number): fc.Arbitrary<number> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min, max }) },
    fc.constantFrom(min, max, min - 1, max + 1),
    fc.double({ min: min - 1, max: max + 1, noNaN: true }),
  );
}

const hex64 = fc.stringMatching(/^[a-f0-9]{64}$/);
const repository = fc.stringMatching(/^([a-z0-9-]{1,10}(\.[a-z]{2,5})?(:[0-9]{2,5})?\/)?[a-z0-9]{1,8}([._-][a-z0-9]{1,5}){0,2}(\/[a-z0-9]{1,6})?$/);
const tag = fc.oneof(fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,12}$/), fc.constant("latest"));
const image = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(repository, tag).map(([r, t]) => `${r}:${t}`) },
  { weight: 2, arbitrary: fc.tuple(repository, hex64).map(([r, d]) => `${r}@sha256:${d}`) },
  fc.tuple(repository, tag, hex64).map(([r, t, d]) => `${r}:${t}@sha256:${d}`),
  repository,
  fc.string({ maxLength: 20 }),
);

/** Names the request and spec envelopes let through (NAME_PATTERN), biased towards ordinary ones. */
const name = fc.oneof(fc.stringMatching(/^[a-z][a-z0-9]{1,9}(-[a-z0-9]{1,8}){0,2}$/), fc.stringMatching(NAME_PATTERN));
const team = fc.stringMatching(TEAM_PATTERN);

/** Params a requester might send for `offering`: mostly valid, with edges and mistakes mixed in. */
function paramsOf(offering: Offering, tier: Tier | undefined): fc.Arbitrary<Record<string, unknown>> {
  const storage = tiers[tier ?? "small"].rds.storageGb;
  switch (offering) {
    case "postgres":
      return fc.record(
        {
          tier: fc.constant(tier),
          engineVersion: fc.constantFrom(...engineVersions.postgres.allowed, "12", "16.1"),
          storageGb: fc.oneof(fc.integer({ min: storage.min, max: storage.max }), around(20, 2000)),
          snapshotIdentifier: fc.oneof(
            fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9-]{0,30}$/),
            fc.constantFrom("", "1-snapshot", "arn:aws:rds:eu-west-1:123456789012:snapshot:orders-final"),
          ),
        },
        { requiredKeys: ["tier"] },
      );
    case "redis":
      return fc.record(
        {
          tier: fc.constant(tier),
          engineVersion: fc.constantFrom(...engineVersions.redis.allowed, "6.2"),
          authTokenVersion: fc.oneof(around(redisAuthTokenDefaults.initialVersion, redisAuthTokenDefaults.maxVersion), fc.constant(5_000_000)),
        },
        { requiredKeys: ["tier"] },
      );
    case "queue": {
      const range = queueDefaults.visibilityTimeoutSeconds;
      return fc.record({ fifo: fc.oneof(fc.boolean(), fc.constant("yes")), visibilityTimeoutSeconds: around(range.min, range.max) }, { requiredKeys: [] });
    }
    case "bucket":
      return fc.oneof({ weight: 4, arbitrary: fc.constant({}) }, fc.constant({ public: true }));
    case "namespace":
      return fc.record({ tier: fc.constant(tier) });
    case "web-service":
      return fc.record(
        {
          tier: fc.constant(tier),
          namespace: fc.oneof(fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/), fc.stringMatching(/^[a-zA-Z0-9_-]{1,12}$/)),
          image,
          port: around(1, 65535),
          replicas: around(1, webServiceDefaults.maxReplicas),
        },
        { requiredKeys: ["tier", "namespace", "image", "port"] },
      );
  }
}

/** The tiers an offering's schema takes (none for queue and bucket). */
function tiersOf(offering: Offering): (Tier | undefined)[] {
  return offering === "queue" || offering === "bucket" ? [undefined] : [...TIERS];
}

function instances(offering: Offering, environment: Environment, tier: Tier | undefined): fc.Arbitrary<OfferingInstance> {
  return fc.record({ team, name, params: paramsOf(offering, tier) }).map((i) => ({ offering, environment, ...i }));
}

/** Instances the door accepts, with the params it hands on (defaults applied). */
function accepted(offering: Offering, environment: Environment, tier: Tier | undefined) {
  return instances(offering, environment, tier)
    .map((instance) => ({ instance, result: validateOfferingInstance(instance) }))
    .filter((x) => x.result.ok)
    .map((x) => ({ instance: x.instance, params: (x.result as { params: Record<string, unknown> }).params }));
}

/** Builds the component under mocks as the program does; returns the error it threw, if any, and what it registered. */
async function buildIt(offering: Offering, environment: Environment, instance: OfferingInstance, params: Record<string, unknown>) {
  let error: unknown;
  const { resources } = await runUnderMocks(
    () => {
      try {
        catalog[offering].build(instance.name, params, { team: instance.team, environment, network });
      } catch (err) {
        error = err;
      }
      return {};
    },
    { stack: environment },
  );
  return { error, resources };
}

const combinations = OFFERINGS.flatMap((offering) =>
  ENVIRONMENTS.flatMap((environment) => tiersOf(offering).map((tier) => [offering, environment, tier ?? "-"] as const)),
);

describe("what the door accepts, the component builds", () => {
  it.each(combinations)("%s in %s, tier %s", async (offering, environment, tierName) => {
    const tier = tierName === "-" ? undefined : tierName;
    await fc.assert(
      fc.asyncProperty(accepted(offering, environment, tier), async ({ instance, params }) => {
        const { error, resources } = await buildIt(offering, environment, instance, params);
        expect(error, `${JSON.stringify(instance)} was accepted by the door but refused by the component`).toBeUndefined();
        expect(resources.filter((r) => r.type === componentTypes[offering])).toHaveLength(1);
        expect(resources.filter((r) => r.custom).length).toBeGreaterThan(1);
      }),
      // Each build under mocks takes up to ~0.2 s on a loaded machine: a few per combination.
      { numRuns: 2 },
    );
  });
});

/** One constraint broken: the field the door must name, and the argument the component must name (none: door only). */
interface NearMiss {
  what: string;
  path: string;
  argument?: string;
  bad: fc.Arbitrary<unknown>;
  apply(instance: OfferingInstance, bad: unknown): OfferingInstance;
}

const setParam =
  (key: string) =>
  (i: OfferingInstance, bad: unknown): OfferingInstance => ({ ...i, params: { ...(i.params as object), [key]: bad } });
const setName = (i: OfferingInstance, bad: unknown): OfferingInstance => ({ ...i, name: bad as string });
const outside = (min: number, max: number) =>
  fc.oneof(
    fc.integer({ min: min - 1000, max: min - 1 }),
    fc.integer({ min: max + 1, max: max + 10_000_000 }),
    fc.double({ min, max, noNaN: true }).filter((x) => !Number.isInteger(x)),
  );

const doubleHyphen = fc.stringMatching(/^[a-z][a-z0-9]{0,12}--[a-z0-9]{1,12}$/);
const trailingHyphen = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}[a-z0-9]-$/);

function nearMisses(offering: Offering, environment: Environment, tier: Tier | undefined): NearMiss[] {
  const unknownKey: NearMiss = {
    what: "an unknown key",
    path: "params.publiclyAccessible",
    bad: fc.anything().filter((v) => v !== undefined),
    apply: setParam("publiclyAccessible"),
  };
  const badTier: NearMiss = { what: "a tier", path: "params.tier", argument: "tier", bad: fc.constantFrom("xlarge", "Small", ""), apply: setParam("tier") };
  const storage = tiers[tier ?? "small"].rds.storageGb;
  const replicas = { min: environments[environment].minReplicas, max: webServiceDefaults.maxReplicas };
  switch (offering) {
    case "postgres":
      return [
        unknownKey,
        badTier,
        {
          what: "an engine version",
          path: "params.engineVersion",
          argument: "engineVersion",
          bad: fc.constantFrom("12", "16.1", "latest"),
          apply: setParam("engineVersion"),
        },
        {
          what: "storage outside the tier",
          path: "params.storageGb",
          argument: "storageGb",
          bad: outside(storage.min, storage.max),
          apply: setParam("storageGb"),
        },
        { what: "a name with --", path: "name", argument: "name", bad: doubleHyphen, apply: setName },
        { what: "a name ending in -", path: "name", argument: "name", bad: trailingHyphen, apply: setName },
      ];
    case "redis":
      return [
        unknownKey,
        badTier,
        {
          what: "an engine version",
          path: "params.engineVersion",
          argument: "engineVersion",
          bad: fc.constantFrom("6.2", "7"),
          apply: setParam("engineVersion"),
        },
        {
          what: "an AUTH token version",
          path: "params.authTokenVersion",
          argument: "authTokenVersion",
          bad: outside(redisAuthTokenDefaults.initialVersion, redisAuthTokenDefaults.maxVersion),
          apply: setParam("authTokenVersion"),
        },
        { what: "a name with --", path: "name", argument: "name", bad: doubleHyphen, apply: setName },
        { what: "a name ending in -", path: "name", argument: "name", bad: trailingHyphen, apply: setName },
        {
          what: "a name too long for a replication group ID",
          path: "name",
          argument: "name",
          bad: fc.stringMatching(/^[a-z][a-z0-9]{26,39}$/),
          apply: setName,
        },
      ];
    case "queue": {
      const range = queueDefaults.visibilityTimeoutSeconds;
      return [
        unknownKey,
        {
          what: "a visibility timeout",
          path: "params.visibilityTimeoutSeconds",
          argument: "visibilityTimeoutSeconds",
          bad: outside(range.min, range.max),
          apply: setParam("visibilityTimeoutSeconds"),
        },
        { what: "fifo", path: "params.fifo", argument: "fifo", bad: fc.constantFrom("true", 1, "yes"), apply: setParam("fifo") },
      ];
    }
    case "bucket":
      return [
        unknownKey,
        {
          what: "a name with a prefix S3 reserves",
          path: "name",
          argument: "name",
          bad: fc.stringMatching(/^(xn--|sthree-|amzn-s3-demo-)[a-z0-9]{1,10}$/),
          apply: setName,
        },
      ];
    case "namespace":
      return [unknownKey, badTier, { what: "a name that is not a DNS label", path: "name", argument: "namespaceName", bad: trailingHyphen, apply: setName }];
    case "web-service":
      return [
        unknownKey,
        badTier,
        {
          what: "an image not pinned",
          path: "params.image",
          argument: "image",
          bad: fc.oneof(
            repository,
            repository.map((r) => `${r}:latest`),
            fc.tuple(repository, fc.stringMatching(/^[a-f0-9]{1,63}$/)).map(([r, d]) => `${r}@sha256:${d}`),
          ),
          apply: setParam("image"),
        },
        { what: "a port", path: "params.port", argument: "port", bad: outside(1, 65535), apply: setParam("port") },
        { what: "replicas", path: "params.replicas", argument: "replicas", bad: outside(replicas.min, replicas.max), apply: setParam("replicas") },
        {
          what: "a namespace that is not a DNS label",
          path: "params.namespace",
          argument: "namespace",
          bad: fc.oneof(trailingHyphen, fc.constantFrom("Payments", "team_ns", "-ns")),
          apply: setParam("namespace"),
        },
        { what: "a name that is not a DNS label", path: "name", argument: "name", bad: trailingHyphen, apply: setName },
      ];
  }
}

describe("near-misses: the door refuses them, naming the field, and so does the component", () => {
  it.each(combinations)("%s in %s, tier %s", async (offering, environment, tierName) => {
    const tier = tierName === "-" ? undefined : tierName;
    for (const miss of nearMisses(offering, environment, tier)) {
      await fc.assert(
        fc.asyncProperty(accepted(offering, environment, tier), miss.bad, async ({ instance, params }, bad) => {
          const broken = miss.apply(instance, bad);
          const result = validateOfferingInstance(broken);
          expect(result.ok, `${miss.what}: ${JSON.stringify(broken)} was accepted`).toBe(false);
          const paths = result.ok ? [] : result.issues.map((i) => formatPath(i.path));
          expect(paths, miss.what).toContain(miss.path);
          if (miss.argument === undefined) return;
          // The component gets the accepted params with the one mistake in them.
          const brokenParams = miss.path.startsWith("params.") ? { ...params, [miss.path.slice("params.".length)]: bad } : params;
          // Components validate before creating anything, so this needs no mocks: a refusal is a throw.
          const build = () => catalog[offering].build(broken.name, brokenParams, { team: broken.team, environment, network });
          expect(build, `${miss.what}: ${JSON.stringify(broken)} was built`).toThrow(PavedArgumentError);
          try {
            build();
          } catch (err) {
            expect((err as PavedArgumentError).argument, miss.what).toBe(miss.argument);
          }
        }),
        { numRuns: 4 },
      );
    }
  });
});
