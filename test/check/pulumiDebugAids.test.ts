/**
 * The check's child turns off two debugging aids of @pulumi/pulumi
 * (automation/check/pulumiDebugAids.ts) and builds a spec entry by entry
 * (`deployStepwise`): what a program registers, with what inputs, and what the policies
 * say of it must not change. Compared in this process (its own, as every test file's):
 * first with the aids on and `deploy`, then with them off.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it, vi } from "vitest";
import { turnOffPulumiDebugAids } from "../../automation/check/pulumiDebugAids";
import { evaluate } from "../../policy-pack/evaluate";
import { deploy, deployStepwise } from "../../stacks/deploy";
import { RegisteredResource, runUnderMocks } from "../../stacks/pulumiMocks";
import { EnvironmentSpec, parseSpec } from "../../stacks/spec";

const root = resolve(__dirname, "../..");

/** Every example spec's entries in one spec: every offering, and a Kubernetes provider. */
function allExamples(): EnvironmentSpec {
  const specs = ["payments-dev", "search-staging", "ledger-prod"].map((f) =>
    parseSpec(readFileSync(resolve(root, "stacks/examples", `${f}.yaml`), "utf8"), `${f}.yaml`),
  );
  return { ...specs[0], kubernetes: { context: "kind-aids" }, resources: specs.flatMap((s) => s.resources) };
}

/** What a check reads of a run, in an order that does not depend on registration order. */
async function observe(program: () => unknown, project = "paved", config: Record<string, string> = {}) {
  const { resources } = await runUnderMocks(program, { project, stack: "aids-dev", config });
  const violations = await evaluate(
    resources.filter((r) => r.type !== "pulumi:pulumi:Stack"),
    { project, stack: "aids-dev" },
  );
  const seen = (r: RegisteredResource) => ({
    type: r.type,
    name: r.name,
    urn: r.urn,
    parent: r.parent,
    custom: r.custom,
    protect: r.protect,
    dependencies: [...r.dependencies].sort(),
    props: r.props,
  });
  return {
    resources: resources.map(seen).sort((a, b) => a.urn.localeCompare(b.urn)),
    violations: violations.map((v) => JSON.stringify(v)).sort(),
  };
}

/** The deliberately insecure program, run afresh (it registers its resources as it loads). */
async function insecureProgram() {
  vi.resetModules();
  await import("../fixtures/insecure-program/index");
}

describe("turning off Pulumi's debugging aids, and deploying entry by entry", () => {
  it("registers the same resources with the same inputs, and the policies say the same", async () => {
    const spec = allExamples();
    const programConfig = { "legacy:dbClass": "db.t3.micro" };
    const specBefore = await observe(() => deploy(spec));
    const programBefore = await observe(insecureProgram, "legacy", programConfig);

    expect(turnOffPulumiDebugAids()).toEqual(["debuggablePromise", "Resource.stackTrace"]);

    const specAfter = await observe(() => deployStepwise(spec));
    const programAfter = await observe(insecureProgram, "legacy", programConfig);
    expect(specAfter).toEqual(specBefore);
    expect(programAfter).toEqual(programBefore);
    // Not vacuous: the spec builds every example's resources, the program is flagged.
    expect(specBefore.resources).toHaveLength(52);
    expect(programBefore.violations).toHaveLength(7);
  });

  it("are off in the check's child process before any program runs", () => {
    const script = `
      require("./automation/check/preload");
      const { Resource } = require("@pulumi/pulumi/resource");
      const debuggable = require("@pulumi/pulumi/runtime/debuggable");
      const p = Promise.resolve(1);
      console.log(JSON.stringify({ frames: Resource.stackTrace(0), same: debuggable.debuggablePromise(p, "x") === p }));
    `;
    const r = spawnSync(process.execPath, ["--import", pathToFileURL(require.resolve("tsx")).href, "-e", script], { cwd: root, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split("\n").pop()!)).toEqual({ frames: [], same: true });
  });
});
