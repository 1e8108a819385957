/**
 * A large spec is checked in two processes (automation/check/run.ts, `runSpec`): the answer
 * is the one a single process gives, and a failure is the first part's when both fail.
 */
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { CheckAnswer, CheckRequest } from "../../automation/check/protocol";
import { SPLIT_FROM_ENTRIES, runSpec, specProcesses, startChild } from "../../automation/check/run";
import { parseSpec } from "../../stacks/spec";

const entries = [
  { offering: "namespace", params: { tier: "small" } },
  { offering: "postgres", params: { tier: "medium" } },
  { offering: "web-service", params: { namespace: "parts-dev", image: "ghcr.io/acme/api:1.0.0", port: 8080 } },
  { offering: "queue", params: { fifo: true } },
  { offering: "bucket", params: {} },
  { offering: "redis", params: {} },
];

function specOf(count: number) {
  return {
    team: "parts",
    environment: "dev",
    network: { vpcId: "vpc-0123", subnetIds: ["subnet-a", "subnet-b"] },
    // Both halves build for Kubernetes: both register the context's provider.
    kubernetes: { context: "kind-parts" },
    resources: Array.from({ length: count }, (_, i) => ({ ...entries[i % entries.length], name: `r${i}-${entries[i % entries.length].offering}` })),
  };
}

function check(spec: unknown, processes: number): Promise<CheckAnswer> {
  const request: CheckRequest & { mode: "spec" } = { mode: "spec", spec, fileName: "parts.yaml" };
  return runSpec(
    request,
    Array.from({ length: processes }, () => startChild("spec", () => undefined)),
  );
}

describe("specProcesses", () => {
  it(`starts two processes from ${SPLIT_FROM_ENTRIES} entries on two cores or more, else one`, () => {
    const text = (n: number) => stringify(specOf(n));
    expect(specProcesses(text(SPLIT_FROM_ENTRIES - 1), 2)).toBe(1);
    expect(specProcesses(text(SPLIT_FROM_ENTRIES), 2)).toBe(2);
    expect(specProcesses(text(200), 8)).toBe(2);
    expect(specProcesses(text(200), 1)).toBe(1);
    // Flow style counts too.
    expect(specProcesses(`resources:\n${"  - { offering: queue, name: q }\n".repeat(SPLIT_FROM_ENTRIES)}`, 2)).toBe(2);
  });
});

describe("runSpec in two processes", () => {
  it("answers what one process answers: every resource once, the same violations", async () => {
    const spec = parseSpec(stringify(specOf(8)), "parts.yaml");
    const [one, two] = await Promise.all([check(spec, 1), check(spec, 2)]);
    if (!one.ok || !two.ok) throw new Error(`failed: ${JSON.stringify([one, two])}`);
    const byUrn = (a: { urn: string }, b: { urn: string }) => a.urn.localeCompare(b.urn);
    expect([...two.resources].sort(byUrn)).toEqual([...one.resources].sort(byUrn));
    expect(two.resources.filter((r) => r.type === "pulumi:pulumi:Stack")).toHaveLength(1);
    expect(two.resources.filter((r) => r.type === "pulumi:providers:kubernetes")).toHaveLength(1);
    expect(two.resources.filter((r) => r.type.startsWith("paved:"))).toHaveLength(8);
    expect([two.project, two.stack, two.violations]).toEqual([one.project, one.stack, one.violations]);
    expect(two.registered).toBeUndefined();
  }, 120_000);

  it("reports the first part's failure when both parts fail, the second's when only it fails", async () => {
    // Unvalidated specs (the parent validates first): each part's deploy rejects its own bad entry.
    const bad = (name: string, tier: string) => ({ offering: "postgres", name, params: { tier } });
    const good = { offering: "queue", name: "fine", params: {} };
    const base = { team: "parts", environment: "dev", network: { vpcId: "vpc-0123", subnetIds: ["subnet-a"] } };
    const [both, rest] = await Promise.all([
      check({ ...base, resources: [bad("first-db", "huge"), bad("second-db", "tiny")] }, 2),
      check({ ...base, resources: [good, bad("second-db", "tiny")] }, 2),
    ]);
    expect(both).toEqual({ ok: false, error: 'resources[0].params.tier: "huge" is not one of small, medium, large' });
    expect(rest).toEqual({ ok: false, error: 'resources[0].params.tier: "tiny" is not one of small, medium, large' });
  }, 120_000);
});
