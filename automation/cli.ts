#!/usr/bin/env node
/**
 * The `paved` command. Each subcommand lives in `automation/commands/<name>.ts` and exports
 * `run(argv, io) => Promise<exitCode>`; this file only dispatches.
 */
import type { CommandIO } from "./commands/io";
import { enableCompileCache } from "./compileCache";

type Command = { summary: string; load: () => Promise<{ run(argv: string[], io: CommandIO): Promise<number> }> };

export const commands: Record<string, Command> = {
  init: { summary: "write a starter paved.yaml here (one team, an approver group, tokens printed once)", load: () => import("./commands/init") },
  check: { summary: "check a spec or a Pulumi program against the policy pack, under mocks", load: () => import("./commands/check") },
  serve: { summary: "serve the self-service API and page (configured by the environment)", load: () => import("./commands/serve") },
  "hash-token": { summary: "print the sha256 of a bearer token (read on stdin) for paved.yaml", load: () => import("./commands/hashToken") },
  runbook: { summary: "list, show and run runbooks (interactive; irreversible steps wait for approval)", load: () => import("./commands/runbook") },
  mcp: { summary: "serve Paved's MCP tools over stdio for an agent (PAVED_URL, PAVED_TOKEN)", load: () => import("./commands/mcp") },
  "pr-comment": { summary: "render `pulumi preview --json` as a pull-request comment (risk, approvals, policies)", load: () => import("./commands/prComment") },
};

export function usage(): string {
  const lines = ["Usage: paved <command> [options]", "", "Commands:"];
  for (const [name, c] of Object.entries(commands)) {
    lines.push(`  ${name.padEnd(12)} ${c.summary}`);
  }
  lines.push("", "Run 'paved <command> --help' for a command's options.");
  return lines.join("\n") + "\n";
}

export async function main(argv: string[], io: CommandIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    io.stderr.write(`paved: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const mod = await command.load();
  return mod.run(rest, io);
}

if (require.main === module) {
  // Before any command is loaded (see compileCache.ts).
  enableCompileCache();
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin }).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`paved: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 2;
    },
  );
}
