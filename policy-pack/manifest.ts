/**
 * The pack's name, level and version, shared by the pack (`index.ts`) and `evaluate()`, so
 * that the text `evaluate()` gives names the pack as the engine does (`paved@v0.1.0`).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The name `new PolicyPack()` is given: the engine shows it as `<name>@v<version>`. */
export const PACK_NAME = "paved";

/** The pack's level, for policies that set none and config that sets none. */
export const PACK_ENFORCEMENT_LEVEL = "mandatory" as const;

/**
 * The pack's version, as `new PolicyPack()` reads it: from the `package.json` of the pack
 * directory (`policy-pack/package.json` in a clone, `dist/policy-pack/package.json` in the
 * npm package, written by the build from the same file).
 */
export function packVersion(): string {
  const manifest = JSON.parse(readFileSync(join(__dirname, "package.json"), "utf8")) as { version?: string };
  if (!manifest.version) throw new Error(`${join(__dirname, "package.json")} has no version`);
  return manifest.version;
}
