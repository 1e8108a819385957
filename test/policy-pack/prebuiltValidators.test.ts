/**
 * The Paved pack's config validators compiled at build time (`prebuiltValidatorsModule`,
 * written by `npm run build`) judge every value as the validators ajv compiles at run
 * time, and spare a process from loading ajv's compiler. Each mode runs in a fresh Node
 * process (whether ajv's compiler is loaded is what is tested).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const root = resolve(__dirname, "../..");
// Inside the project, so that the generated module resolves ajv's runtime helpers.
mkdirSync(join(root, "node_modules", ".cache"), { recursive: true });
const dir = mkdtempSync(join(root, "node_modules", ".cache", "paved-validators-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function validateAll(mode: "compiled" | "prebuilt"): { results: string[][]; ajvCompiler: boolean } {
  const script = `
    const fs = require("node:fs");
    const engineConfig = require("./policy-pack/engineConfig");
    const { policies } = require("./policy-pack/policies");
    const infos = policies.map((p) => ({ name: p.name, enforcementLevel: p.enforcementLevel ?? "mandatory", configSchema: p.configSchema }));
    const file = ${JSON.stringify(join(dir, "configValidators.js"))};
    // Written by the first process, loaded by the second (as a build writes it, and a check loads it).
    if (${JSON.stringify(mode)} === "compiled") fs.writeFileSync(file, engineConfig.prebuiltValidatorsModule(infos));
    else engineConfig.loadPrebuiltValidators(file);
    const odd = ["x", 1.5, -1, 0, [], ["x"], {}, { dev: "x" }, null, true];
    const samples = [];
    for (const info of infos) {
      samples.push([info, {}], [info, { enforcementLevel: "sometimes" }]);
      for (const [key, schema] of Object.entries(info.configSchema?.properties ?? {})) {
        if ("default" in schema) samples.push([info, { [key]: schema.default }]);
        for (const value of odd) samples.push([info, { [key]: value }]);
      }
    }
    const results = samples.map(([info, properties]) => engineConfig.validatePolicyConfig(info, properties));
    const ajvCompiler = Object.keys(require.cache).some((f) => /[\\\\/]ajv[\\\\/]dist[\\\\/]compile[\\\\/]index\\.js$/.test(f));
    console.log(JSON.stringify({ results, ajvCompiler }));
  `;
  const r = spawnSync(process.execPath, ["--import", pathToFileURL(require.resolve("tsx")).href, "-e", script], { cwd: root, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

describe("prebuilt policy config validators", () => {
  it("give the errors ajv's run-time validators give, without loading ajv's compiler", () => {
    const compiled = validateAll("compiled");
    const prebuilt = validateAll("prebuilt");
    expect(compiled.ajvCompiler).toBe(true);
    expect(prebuilt.ajvCompiler).toBe(false);
    expect(prebuilt.results).toEqual(compiled.results);
    // The samples do reach the validators: some valid, many not.
    const errors = compiled.results.flat();
    expect(compiled.results.some((r) => r.length === 0)).toBe(true);
    expect(errors.length).toBeGreaterThan(50);
    expect(errors).toContain("rds-backup-retention: minimumDays: Invalid type. Expected: object, given: string");
  }, 60_000);
});
