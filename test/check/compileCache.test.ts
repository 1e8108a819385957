/**
 * Node's compile cache, which `paved` and the check's child enable before loading anything
 * (automation/compileCache.ts): in Node's directory (`NODE_COMPILE_CACHE`, else
 * `<tmpdir>/node-compile-cache`), filled as modules load, off with `NODE_DISABLE_COMPILE_CACHE=1`.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const root = resolve(__dirname, "../..");
const work = mkdtempSync(join(tmpdir(), "paved-compile-cache-test-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs `script` in a fresh Node process (under tsx) with `env` on top of ours; its last line as JSON. */
function runScript(script: string, env: Record<string, string | undefined>): any {
  const r = spawnSync(process.execPath, ["--import", pathToFileURL(require.resolve("tsx")).href, "-e", script], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, NODE_COMPILE_CACHE: undefined, NODE_DISABLE_COMPILE_CACHE: undefined, ...env },
  });
  if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

/** Files under `dir`, recursively. */
function files(dir: string): string[] {
  return existsSync(dir)
    ? readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => e.name)
    : [];
}

describe("the compile cache", () => {
  it("is enabled by the check's child before it loads anything, in <tmpdir>/node-compile-cache", () => {
    const tmp = mkdtempSync(join(work, "tmp-"));
    const out = runScript(
      `require("./automation/check/preload");
       const before = require("node:module").getCompileCacheDir?.();
       require("yaml");
       console.log(JSON.stringify({ before }));`,
      { TMPDIR: tmp },
    );
    expect(out.before.startsWith(join(tmp, "node-compile-cache") + "/")).toBe(true);
    // Written when the process exits: the compiled code of what it loaded (yaml has ~70 files).
    expect(files(join(tmp, "node-compile-cache")).length).toBeGreaterThan(50);
  }, 60_000);

  it("uses NODE_COMPILE_CACHE when set, and is off with NODE_DISABLE_COMPILE_CACHE=1", () => {
    const dir = join(work, "chosen");
    const script = `const { enableCompileCache } = require("./automation/compileCache");
       const directory = enableCompileCache() ?? null;
       require("yaml");
       console.log(JSON.stringify({ directory }));`;
    expect(runScript(script, { NODE_COMPILE_CACHE: dir }).directory.startsWith(dir + "/")).toBe(true);
    expect(files(dir).length).toBeGreaterThan(50);

    const tmp = mkdtempSync(join(work, "off-"));
    expect(runScript(script, { TMPDIR: tmp, NODE_DISABLE_COMPILE_CACHE: "1" })).toEqual({ directory: null });
    expect(existsSync(join(tmp, "node-compile-cache"))).toBe(false);
  }, 60_000);
});
