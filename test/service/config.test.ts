/** paved.yaml: the schema, its error positions, token hashing and lookups. */
import { describe, expect, it } from "vitest";
import { Readable } from "node:stream";
import { run as hashTokenCommand } from "../../automation/commands/hashToken";
import { ConfigError, hashToken, parseConfig, parseDuration } from "../../automation/config";
import { demoConfig } from "./harness";

function errorOf(text: string): ConfigError {
  try {
    parseConfig(text, "paved.yaml");
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

const minimal = (people: string) => `people:\n${people}\nteams:\n  payments:\n    members: [alice]\n`;

describe("the shipped demo paved.yaml", () => {
  it("is marked demo and holds the people, team, approvers and rules of the brief", () => {
    const c = demoConfig();
    expect(c.demo).toBe(true);
    expect(c.authenticate("alice-dev-token")).toEqual({ name: "alice", teams: ["payments"], groups: [] });
    expect(c.authenticate("bob-dev-token")).toEqual({ name: "bob", teams: [], groups: ["platform"] });
    expect(c.authenticate("carol-dev-token")?.groups).toEqual(["platform"]);
    expect(c.authenticate("mallory")).toBeUndefined();
    expect(c.autonomy("payments", "dev")).toBe("low");
    expect(c.autonomy("payments", "prod")).toBe("low");
    expect(c.autonomy("unknown", "dev")).toBe("none");
    expect(c.rules.critical).toEqual({ count: 2, group: "platform" });
    expect(c.expiryMs).toBe(24 * 3600_000);
  });
});

describe("parseConfig", () => {
  it("accepts sha256 token hashes and compares presented tokens against them", () => {
    const c = parseConfig(minimal(`  alice: { token: "${hashToken("s3cret-token")}" }`), "paved.yaml");
    expect(c.demo).toBe(false);
    expect(c.authenticate("s3cret-token")?.name).toBe("alice");
    expect(c.authenticate(hashToken("s3cret-token"))).toBeUndefined();
  });

  it("refuses plain-text tokens outside a demo config, with the position", () => {
    const err = errorOf(minimal("  alice: { token: alice-dev-token }"));
    expect(err.message).toBe(
      "paved.yaml is not a valid Paved configuration:\n" +
        "  paved.yaml:2:19 people.alice.token: must be a sha256:<64 hex> hash (plain-text tokens are allowed only with demo: true)",
    );
  });

  it("reports every problem at once: unknown keys, members, levels, durations, groups", () => {
    const err = errorOf(
      [
        "people:",
        "  alice: { token: alice-dev-token }",
        "demo: true",
        "teams:",
        "  payments:",
        "    members: [alice, zoe]",
        "    autonomy: medium-ish",
        "approvals:",
        "  expiry: tomorrow",
        "  rules:",
        "    low: { count: 1 }",
        "    medium: { count: 1 }",
        "    high: { count: 1, group: security }",
        "    critical: { count: 2, group: platform }",
        "color: blue",
      ].join("\n"),
    );
    expect(err.issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`)).toEqual([
      '7:15 teams.payments.autonomy: "medium-ish" is not one of none, low, medium, high, critical',
      '15:1 color: unknown key "color"',
    ]);
    const second = errorOf(
      [
        "demo: true",
        "people:",
        "  alice: { token: alice-dev-token }",
        "teams:",
        "  payments:",
        "    members: [alice, zoe]",
        "approvals:",
        "  expiry: tomorrow",
        "  rules:",
        "    low: { count: 1 }",
        "    medium: { count: 1 }",
        "    high: { count: 1, group: security }",
        "    critical: { count: 2 }",
      ].join("\n"),
    );
    expect(second.issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      'teams.payments.members[1]: "zoe" is not in people',
      'approvals.expiry: "tomorrow" is not a duration like 24h, 90m or 2d',
      'approvals.rules.high.group: "security" is not in approverGroups',
    ]);
  });

  it("validates the policy pack config it carries", () => {
    const err = errorOf(`demo: true\n${minimal("  alice: { token: alice-dev-token }")}policies:\n  rds-encryption: mandatory\n`);
    expect(err.issues[0].path).toBe("policies");
    expect(err.issues[0].message).toMatch(/^unknown policy "rds-encryption" in config; the policies are: rds-storage-encrypted, /);
  });

  it("reports YAML syntax errors with their position", () => {
    const err = errorOf("people:\n  alice: { token: x-token-1 }\n  alice: { token: x-token-2 }\n");
    expect(err.message).toBe("paved.yaml is not a valid Paved configuration:\n  paved.yaml:3:3 Map keys must be unique");
  });
});

describe("parseDuration", () => {
  it("reads ms, s, m, h and d", () => {
    expect([parseDuration("250ms"), parseDuration("30s"), parseDuration("90m"), parseDuration("24h"), parseDuration("2d")]).toEqual([
      250, 30_000, 5_400_000, 86_400_000, 172_800_000,
    ]);
    expect(parseDuration("1.5h")).toBeUndefined();
    expect(parseDuration("h")).toBeUndefined();
  });
});

describe("paved hash-token", () => {
  async function hash(input: string, args: string[] = []) {
    let stdout = "";
    let stderr = "";
    const code = await hashTokenCommand(args, {
      stdout: { write: (c: string) => (stdout += c) },
      stderr: { write: (c: string) => (stderr += c) },
      stdin: Readable.from([input]),
    });
    return { code, stdout, stderr };
  }

  it("prints the hash paved.yaml stores, which authenticates the token", async () => {
    const res = await hash("s3cret-token\n");
    expect(res).toEqual({ code: 0, stdout: "sha256:" + hashToken("s3cret-token").slice(7) + "\n", stderr: "" });
    const c = parseConfig(minimal(`  alice: { token: "${res.stdout.trim()}" }`), "paved.yaml");
    expect(c.authenticate("s3cret-token")?.name).toBe("alice");
  });

  it("refuses a token on the command line, and a short one", async () => {
    expect((await hash("", ["s3cret-token"])).code).toBe(2);
    expect(await hash("short\n")).toEqual({
      code: 2,
      stdout: "",
      stderr: "paved hash-token: a token is at least 8 characters, without spaces or line breaks\n",
    });
  });
});

describe("a configuration that could never work", () => {
  const base = (extra: string[]) =>
    [
      "demo: true",
      "people:",
      "  alice: { token: alice-dev-token }",
      "  bob: { token: bob-dev-token }",
      "teams:",
      "  payments:",
      "    members: [alice]",
      "approverGroups:",
      "  platform: [bob]",
      ...extra,
    ].join("\n");

  it("refuses two people with the same token, with file:line:col", () => {
    const hashed = hashToken("shared-token-1");
    const err = errorOf(
      ["people:", `  alice: { token: "${hashed}" }`, `  bob: { token: "${hashed}" }`, "teams:", "  payments:", "    members: [alice]"].join("\n"),
    );
    expect(err.message).toBe(
      `paved.yaml is not a valid Paved configuration:\n  paved.yaml:3:17 people.bob.token: is the same token as alice's: each person needs a token of their own`,
    );
    // A plain demo token and its hash are the same token too.
    const mixed = errorOf(
      ["demo: true", "people:", "  alice: { token: shared-token-1 }", `  bob: { token: "${hashed}" }`, "teams:", "  payments:", "    members: [alice]"].join(
        "\n",
      ),
    );
    expect(mixed.issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`)).toEqual([
      "4:17 people.bob.token: is the same token as alice's: each person needs a token of their own",
    ]);
  });

  it("refuses a zero or negative approval expiry", () => {
    expect(errorOf(base(["approvals:", "  expiry: 0s"])).issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`)).toEqual([
      '11:11 approvals.expiry: "0s" is zero: every approval would expire at once; use a duration like 24h, 90m or 2d',
    ]);
    expect(errorOf(base(["approvals:", "  expiry: -5m"])).issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      'approvals.expiry: "-5m" is not a positive duration like 24h, 90m or 2d',
    ]);
  });

  it("refuses an approval rule its group has too few members to satisfy", () => {
    const err = errorOf(
      base([
        "approvals:",
        "  rules:",
        "    low: { count: 1 }",
        "    medium: { count: 1 }",
        "    high: { count: 1, group: platform }",
        "    critical: { count: 2, group: platform }",
      ]),
    );
    expect(err.issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`)).toEqual([
      "15:24 approvals.rules.critical.count: needs 2 approvals from platform, which has 1 member (bob): no critical-risk change could ever be approved",
    ]);
  });
});
