/**
 * The check's child defers @pulumi/pulumi's TypeScript shim and Automation API
 * (automation/check/lazyPulumi.ts): a spec check loads neither, and a program that
 * serializes a function or reads `pulumi.automation` still gets them. Each case runs in a
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
});
`;

describe("the check child's deferred Pulumi modules", () => {
  it("loads no TypeScript and no Automation API for a spec check, and still serializes a function", () => {
    const out = runScript(`${PRELUDE}
      require("./stacks/deploy");
      require("./policy-pack/evaluate");
      const before = state();
      const pulumi = require("@pulumi/pulumi");
      pulumi.runtime.serializeFunction(() => 6 * 7).then((sf) => {
        console.log(JSON.stringify({ before, after: state(), text: sf.text }));
      });
    `);
    expect(out.before).toEqual({ typescriptFiles: 0, shim: false, automation: false });
    // serializeFunction parses the function with TypeScript: loaded then, and it works.
    expect(out.after).toEqual({ typescriptFiles: 1, shim: true, automation: false });
    expect(out.text).toContain("return () => 6 * 7;");
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
      before: { typescriptFiles: 0, shim: false, automation: false },
      after: { typescriptFiles: 0, shim: false, automation: true },
      workspace: "function",
      same: true,
      keys: true,
    });
  }, 60_000);
});
