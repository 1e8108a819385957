/**
 * `paved init`: writes a starter `paved.yaml` in the current directory, so that
 * `npx paved serve` has people, a team and an approver group to work with. Each person's
 * bearer token is random, printed once, and stored only as its sha256. An existing file
 * is never overwritten.
 */
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { TEAM_PATTERN } from "../../components/guardrails";
import { hashToken, parseConfig } from "../config";
import type { CommandIO } from "./io";

export const usage = `Usage: paved init [--team <name>] [--developer <name>] [--approver <name>]

Writes a starter paved.yaml in the current directory (demo: false): one team with one
developer, an approver group "platform" with one approver, and the default approval
rules, except that critical changes need that one approver (raise it to 2 with a second). Each person's bearer token is generated, printed once, and stored only as its
sha256 hash. An existing paved.yaml is never overwritten.

  --team <name>       the team (default: app)
  --developer <name>  the team's first member (default: developer)
  --approver <name>   the platform approver (default: approver)
`;

const PERSON = /^[a-z][a-z0-9._-]{0,62}$/;

/** A random bearer token: 32 bytes, base64url, with a prefix that says what it is. */
export function newToken(): string {
  return `paved_${randomBytes(32).toString("base64url")}`;
}

/** The starter paved.yaml for `team`, with the sha256 of each person's token. */
export function starterConfig(input: { team: string; developer: string; approver: string; developerToken: string; approverToken: string }): string {
  return `# Paved service configuration, written by \`paved init\`.
# Who may sign in, which teams they belong to, who approves what. Tokens are stored as
# sha256 hashes only: to add a person, pick a random token and store
#   printf %s "$TOKEN" | npx paved hash-token
demo: false

people:
  ${input.developer}: { token: "${hashToken(input.developerToken)}" }
  ${input.approver}: { token: "${hashToken(input.approverToken)}" }

teams:
  ${input.team}:
    members: [${input.developer}]
    # Changes up to this risk apply with no human (creates in dev and staging, tag-only
    # updates); anything riskier waits for approval. \`none\`: every change waits.
    autonomy: low
    environments: {}
    # Offerings that need a network (postgres, redis) or a cluster (namespace,
    # web-service) read them per environment, for example:
    # environments:
    #   dev:
    #     network: { vpcId: vpc-0123456789abcdef0, subnetIds: [subnet-aaaa, subnet-bbbb] }
    #     kubernetes: { context: dev-cluster, namespace: ${input.team}-dev }

approverGroups:
  platform: [${input.approver}]

approvals:
  # How long an approval counts, and how long a request waits for one.
  expiry: 24h
  rules:
    low: { count: 1 }
    medium: { count: 1 }
    high: { count: 1, group: platform }
    # Two distinct approvers for critical changes once platform has two people; with one
    # member, 2 could never be met (start-up refuses such a rule).
    critical: { count: 1, group: platform }
`;
}

export async function run(argv: string[], io: CommandIO): Promise<number> {
  let values: { team?: string; developer?: string; approver?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { team: { type: "string" }, developer: { type: "string" }, approver: { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    io.stderr.write(`paved init: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  const team = values.team ?? "app";
  const developer = values.developer ?? "developer";
  const approver = values.approver ?? "approver";
  if (!TEAM_PATTERN.test(team)) {
    io.stderr.write(`paved init: --team "${team}" must be a DNS label (lowercase letters, digits and -, at most 63)\n`);
    return 2;
  }
  for (const [flag, name] of [
    ["--developer", developer],
    ["--approver", approver],
  ] as const) {
    if (!PERSON.test(name)) {
      io.stderr.write(`paved init: ${flag} "${name}" must match ${PERSON.source}\n`);
      return 2;
    }
  }
  if (developer === approver) {
    io.stderr.write("paved init: --developer and --approver must be two people: nobody approves their own request\n");
    return 2;
  }
  const file = resolve("paved.yaml");
  const developerToken = newToken();
  const approverToken = newToken();
  const text = starterConfig({ team, developer, approver, developerToken, approverToken });
  // What is written must load: the service would refuse it otherwise.
  parseConfig(text, file);
  try {
    writeFileSync(file, text, { flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") {
      io.stderr.write(`paved init: ${file} already exists; it is left as it is (move it away to start afresh)\n`);
      return 1;
    }
    throw err;
  }
  io.stdout.write(
    [
      `Wrote ${file}: team ${team} (member ${developer}), approver group platform (${approver}).`,
      "",
      "Bearer tokens, shown this once (paved.yaml keeps only their sha256; keep them somewhere safe):",
      `  ${developer.padEnd(Math.max(developer.length, approver.length))}  ${developerToken}`,
      `  ${approver.padEnd(Math.max(developer.length, approver.length))}  ${approverToken}`,
      "",
      "Next: npx paved serve, then open http://127.0.0.1:8080/ and sign in with a token",
      `(or: curl -H "Authorization: Bearer <token>" http://127.0.0.1:8080/catalog).`,
      "",
    ].join("\n"),
  );
  return 0;
}
