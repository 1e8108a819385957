/**
 * The check's child defers @pulumi/pulumi's TypeScript shim, Automation API and gRPC
 * (automation/check/lazyPulumi.ts): a spec check loads none of them, and a program that
 * serializes a function, reads `pulumi.automation` or uses gRPC still gets them. Each case runs in a
 * fresh Node process (the module cache is what is tested).
 */
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";

const root = resolve(__dirname, "../..");

function runScript(script: string): any {
  const r = spawnSync(process.execPath, ["--import", pathToFileURL(require.resolve("tsx")).href, "-e", script], { cwd: root, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

const PRELUDE = `
require("./automation/check/preload");
const { deferredPulumiFiles, lazyModuleLoaded } = require("./automation/check/lazyPulumi");
const files = deferredPulumiFiles();
const state = () => ({
  typescriptFiles: Object.keys(require.cache).filter((f) => /[\\\\/]typescript(@[\\d.]+)?[\\\\/]/.test(f)).length,
  shim: lazyModuleLoaded(files.typescriptShim),
  automation: lazyModuleLoaded(files.automation),
  grpc: [files.grpc, ...files.grpcServices].filter((f) => lazyModuleLoaded(f)).length,
  others: [files.normalizePackageData, files.opentelemetry].filter((f) => lazyModuleLoaded(f)).length,
});
`;

describe("the check child's deferred Pulumi modules", () => {
  it("loads no TypeScript, Automation API or gRPC for a spec check, and still serializes a function", () => {
    const out = runScript(`${PRELUDE}
      const { deploy } = require("./stacks/deploy");
      const { evaluate } = require("./policy-pack/evaluate");
      const { runUnderMocks } = require("./stacks/pulumiMocks");
      const { parseSpec } = require("./stacks/spec");
      const spec = parseSpec(require("node:fs").readFileSync("stacks/examples/payments-dev.yaml", "utf8"), "payments-dev.yaml");
      (async () => {
        const { resources } = await runUnderMocks(() => deploy(spec), { stack: "payments-dev" });
        const violations = await evaluate(resources.filter((r) => r.type !== "pulumi:pulumi:Stack"));
        const before = state();
        const pulumi = require("@pulumi/pulumi");
        const sf = await pulumi.runtime.serializeFunction(() => 6 * 7);
        console.log(JSON.stringify({ resources: resources.length, violations, before, after: state(), text: sf.text }));
      })();
    `);
    expect([out.resources, out.violations]).toEqual([20, []]);
    expect(out.before).toEqual({ typescriptFiles: 0, shim: false, automation: false, grpc: 0, others: 0 });
    // serializeFunction parses the function with TypeScript: loaded then, and it works.
    expect(out.after).toEqual({ typescriptFiles: 1, shim: true, automation: false, grpc: 0, others: 0 });
    expect(out.text).toContain("return () => 6 * 7;");
  }, 60_000);

  it("calls the real normalize-package-data through its proxy", () => {
    const out = runScript(`${PRELUDE}
      require("@pulumi/pulumi");
      const before = state();
      const normalize = require(files.normalizePackageData);
      const data = { name: "x", version: "1.0.0", license: "apache-2.0" };
      normalize(data);
      console.log(JSON.stringify({ before, id: data._id, after: state() }));
    `);
    expect(out).toEqual({
      before: { typescriptFiles: 0, shim: false, automation: false, grpc: 0, others: 0 },
      id: "x@1.0.0",
      after: { typescriptFiles: 0, shim: false, automation: false, grpc: 0, others: 1 },
    });
  }, 60_000);

  it("gives gRPC to a program that uses it", () => {
    const out = runScript(`${PRELUDE}
      require("@pulumi/pulumi");
      const before = state();
      const grpc = require("@grpc/grpc-js");
      console.log(JSON.stringify({ before, unavailable: grpc.status.UNAVAILABLE, server: typeof grpc.Server, after: state() }));
    `);
    expect(out).toEqual({
      before: { typescriptFiles: 0, shim: false, automation: false, grpc: 0, others: 0 },
      unavailable: 14,
      server: "function",
      after: { typescriptFiles: 0, shim: false, automation: false, grpc: 1, others: 0 },
    });
  }, 60_000);

  it("gives the Automation API to a program that reads it", () => {
    const out = runScript(`${PRELUDE}
      const pulumi = require("@pulumi/pulumi");
      const before = state();
      const { LocalWorkspace } = pulumi.automation;
      const direct = require("@pulumi/pulumi/automation");
      console.log(JSON.stringify({
        before,
        after: state(),
        workspace: typeof LocalWorkspace,
        same: direct.LocalWorkspace === LocalWorkspace,
        keys: Object.keys(pulumi.automation).includes("LocalWorkspace"),
      }));
    `);
    expect(out).toEqual({
      before: { typescriptFiles: 0, shim: false, automation: false, grpc: 0, others: 0 },
      // The Automation API loads gRPC (it talks to the engine).
      after: { typescriptFiles: 0, shim: false, automation: true, grpc: 1, others: 0 },
      workspace: "function",
      same: true,
      keys: true,
    });
  }, 60_000);
});
