/**
 * `paved init` writes a starter paved.yaml that the service loads: hashed tokens, the
 * printed ones authenticate, one team, an approver group; it never overwrites a file.
 * `paved serve` without a paved.yaml says what is missing and how to make one.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Readable } from "node:stream";
import { pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { run } from "../../automation/commands/init";
import { loadConfig } from "../../automation/config";

const ROOT = resolve(__dirname, "../..");
let dir: string;
let cwd: string;

beforeEach(() => {
  cwd = process.cwd();
  dir = mkdtempSync(join(tmpdir(), "paved-init-"));
  process.chdir(dir);
});
afterEach(() => {
  process.chdir(cwd);
  rmSync(dir, { recursive: true, force: true });
});

async function init(...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await run(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, stdin: Readable.from([]) });
  return { code, stdout, stderr };
}

/** The tokens `paved init` printed, by person. */
function printedTokens(stdout: string): Record<string, string> {
  return Object.fromEntries([...stdout.matchAll(/^ {2}(\S+) +(paved_[A-Za-z0-9_-]{43})$/gm)].map((m) => [m[1], m[2]]));
}

describe("paved init", () => {
  it("writes a paved.yaml the service loads, with hashed tokens printed once", async () => {
    const r = await init();
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const file = join(dir, "paved.yaml");
    expect(r.stdout.split("\n")[0]).toBe(`Wrote ${file}: team app (member developer), approver group platform (approver).`);
    const tokens = printedTokens(r.stdout);
    expect(Object.keys(tokens)).toEqual(["developer", "approver"]);
    expect(tokens.developer).not.toBe(tokens.approver);
    const text = readFileSync(file, "utf8");
    expect(text).toMatch(/^demo: false$/m);
    // Only hashes are stored.
    expect(text).not.toContain(tokens.developer);
    expect(text).not.toContain(tokens.approver);
    expect(text.match(/token: "sha256:[0-9a-f]{64}"/g)).toHaveLength(2);
    const config = loadConfig(file);
    expect(config.demo).toBe(false);
    expect(config.authenticate(tokens.developer!)).toEqual({ name: "developer", teams: ["app"], groups: [] });
    expect(config.authenticate(tokens.approver!)).toEqual({ name: "approver", teams: [], groups: ["platform"] });
    expect(config.autonomy("app", "dev")).toBe("low");
    // One approver: a critical change needs them (2 could never be met, and start-up refuses that).
    expect(config.rules.critical).toEqual({ count: 1, group: "platform" });
  });

  it("takes the team and the people's names", async () => {
    const r = await init("--team", "payments", "--developer", "alice", "--approver", "bob");
    expect(r.code).toBe(0);
    const tokens = printedTokens(r.stdout);
    const config = loadConfig(join(dir, "paved.yaml"));
    expect(config.authenticate(tokens.alice!)).toEqual({ name: "alice", teams: ["payments"], groups: [] });
    expect(config.authenticate(tokens.bob!)).toEqual({ name: "bob", teams: [], groups: ["platform"] });
  });

  it("generates different tokens each time", async () => {
    const first = printedTokens((await init()).stdout);
    rmSync(join(dir, "paved.yaml"));
    const second = printedTokens((await init()).stdout);
    expect(second.developer).not.toBe(first.developer);
  });

  it("refuses to overwrite an existing paved.yaml", async () => {
    writeFileSync(join(dir, "paved.yaml"), "# mine\n");
    const r = await init();
    const stderr = `paved init: ${join(dir, "paved.yaml")} already exists; it is left as it is (move it away to start afresh)\n`;
    expect(r).toEqual({ code: 1, stdout: "", stderr });
    expect(readFileSync(join(dir, "paved.yaml"), "utf8")).toBe("# mine\n");
  });

  it.each([
    [["--team", "Payments"], 'paved init: --team "Payments" must be a DNS label (lowercase letters, digits and -, at most 63)\n'],
    [["--developer", "Al Ice"], 'paved init: --developer "Al Ice" must match ^[a-z][a-z0-9._-]{0,62}$\n'],
    [["--developer", "bob", "--approver", "bob"], "paved init: --developer and --approver must be two people: nobody approves their own request\n"],
  ])("refuses bad names %j", async (argv, message) => {
    const r = await init(...argv);
    expect(r).toEqual({ code: 2, stdout: "", stderr: message });
  });

  it("refuses unknown options with the usage", async () => {
    const r = await init("--force");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^paved init: Unknown option '--force'/);
    expect(r.stderr).toContain("Usage: paved init");
  });
});

function withoutConfig(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: "0" };
  delete env.PAVED_CONFIG;
  return env;
}

describe("paved serve without a paved.yaml", () => {
  it("says what is missing and how to make it", () => {
    const r = spawnSync(process.execPath, ["--import", pathToFileURL(require.resolve("tsx")).href, join(ROOT, "automation/cli.ts"), "serve"], {
      cwd: dir,
      env: withoutConfig(),
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      [
        `paved: no configuration file at ${join(dir, "paved.yaml")}.`,
        "The service needs a paved.yaml: the people who may sign in (with their hashed tokens),",
        "the teams and the approver groups. To write a starter one in this directory, run:",
        "",
        "  npx paved init",
        "",
        "It prints each person's bearer token once. Or set PAVED_CONFIG to an existing file.",
        "",
      ].join("\n"),
    );
  });
});
