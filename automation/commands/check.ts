/**
 * `paved check <spec.yaml>` and `paved check --program <dir> [--stack NAME]
 * [--config key=value ...] [--json]`: runs a spec or a Pulumi TypeScript program under
 * mocks in a child process and checks it against the policy pack. Exit 0 clean, 1 on a
 * mandatory violation, 2 on an invalid spec, a program that throws, or bad usage.
 */
import { readFileSync } from "node:fs";
import { keyValue, readArgs } from "./args";
import { basename, resolve } from "node:path";
import { StartedChild, renderTree, renderViolations, runChild, runSpec, startChild } from "../check/run";
import type { CheckRequest } from "../check/protocol";
import type { CommandIO } from "./io";

export const usage = `Usage:
  paved check <spec.yaml> [--json]
  paved check --program <dir> [--stack NAME] [--config key=value ...] [--json]

Runs the environment spec, or the Pulumi TypeScript program in <dir> (its Pulumi.yaml
and Pulumi.<stack>.yaml), under Pulumi mocks, then checks every resource against the
Paved policy pack. Nothing is provisioned; no credentials or Pulumi CLI are needed.

Options:
  --program <dir>        check a Pulumi program directory instead of a spec
  --stack <name>         stack whose Pulumi.<name>.yaml config is read (default: dev)
  --config key=value     set a config value (repeatable; a bare key gets the project's namespace)
  --json                 print a machine-readable report
Exit: 0 clean (advisory violations allowed), 1 mandatory violation, 2 invalid input.
`;

interface Options {
  spec?: string;
  program?: string;
  stack: string;
  config: Record<string, string>;
  json: boolean;
}

/** Parses the arguments; throws an Error with a usage message on bad ones. */
export function parseArgs(argv: string[]): Options {
  const { values, positionals } = readArgs(
    argv,
    { json: { type: "boolean" }, program: { type: "string" }, stack: { type: "string" }, config: { type: "string", multiple: true } },
    1,
  );
  const options: Options = {
    spec: positionals[0],
    program: values.program,
    stack: values.stack ?? "dev",
    config: Object.fromEntries((values.config ?? []).map((pair) => keyValue("--config", pair))),
    json: values.json ?? false,
  };
  if (options.spec && options.program) throw new Error("give a spec file or --program, not both");
  if (!options.spec && !options.program) throw new Error("give a spec file or --program <dir>");
  return options;
}

export async function run(argv: string[], io: CommandIO): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout.write(usage);
    return 0;
  }
  let options: Options;
  try {
    options = parseArgs(argv);
  } catch (err) {
    io.stderr.write(`paved check: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  const started = Date.now();
  const target = options.spec ?? options.program!;
  const fail = (errors: { message: string; path?: string; line?: number; column?: number; file?: string; resource?: string }[]) => {
    if (options.json) io.stdout.write(JSON.stringify({ target, status: "error", errors }, null, 2) + "\n");
    for (const e of errors) io.stderr.write(`${e.message}\n`);
    return 2;
  };

  const onOutput = (chunk: string) => io.stderr.write(chunk);
  let request: CheckRequest;
  let child: StartedChild | undefined;
  if (options.spec) {
    const file = resolve(options.spec);
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      return fail([{ message: `cannot read ${options.spec}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }]);
    }
    // The check process starts now and loads Pulumi and the components while the spec is
    // validated here (another core): it is sent the spec once valid, stopped otherwise.
    child = startChild("spec", onOutput);
    // Validate here, with positions, before running anything.
    const { parseSpec, SpecError, formatIssue } = await import("../../stacks/spec");
    try {
      const spec = parseSpec(text, basename(file));
      request = { mode: "spec", spec, fileName: basename(file) };
    } catch (err) {
      child.cancel();
      if (err instanceof SpecError) {
        return fail(err.issues.map((i) => ({ ...i, file: basename(file), message: formatIssue(i, basename(file)) })));
      }
      throw err;
    }
  } else {
    request = { mode: "program", dir: resolve(options.program!), stack: options.stack, config: options.config };
  }

  // Progress on stderr only when it takes over a second; the program's own output too.
  const progress = setTimeout(() => io.stderr.write(`paved check: running ${target} under mocks...\n`), 1000);
  let answer = await (request.mode === "spec" ? runSpec(request, child!) : runChild(request, onOutput)).finally(() => clearTimeout(progress));
  if (!answer.ok && request.mode === "program" && !answer.at) {
    // Positions in the program's TypeScript need source maps, which slow every run: only a failed run pays for them.
    const again = await runChild({ ...request, sourceMaps: true }, () => undefined);
    if (!again.ok && again.at) answer = again;
  }
  if (!answer.ok) {
    const at = answer.at;
    if (!at) return fail([{ message: `paved check: ${target} failed: ${answer.error}` }]);
    const what = at.component ? `${at.component}${at.name !== undefined ? ` "${at.name}"` : ""} at ` : "";
    const where = `${at.file}:${at.line}:${at.column}`;
    return fail([
      {
        message: `paved check: ${target} failed: ${what}${where}: ${answer.error}`,
        file: at.file,
        line: at.line,
        column: at.column,
        ...(at.component ? { resource: at.name !== undefined ? `${at.component} ${at.name}` : at.component } : {}),
      },
    ]);
  }
  // Registration order varies from run to run: report in a stable order.
  answer.violations.sort(
    (a, b) => (a.resourceName ?? "").localeCompare(b.resourceName ?? "") || a.policyName.localeCompare(b.policyName) || a.message.localeCompare(b.message),
  );
  const mandatory = answer.violations.filter((v) => v.enforcementLevel === "mandatory").length;
  const advisory = answer.violations.length - mandatory;
  const status = mandatory > 0 ? "failed" : "passed";
  if (options.json) {
    io.stdout.write(
      JSON.stringify(
        {
          target,
          status,
          project: answer.project,
          stack: answer.stack,
          summary: { resources: answer.resources.length, mandatory, advisory },
          resources: answer.resources,
          violations: answer.violations,
        },
        null,
        2,
      ) + "\n",
    );
  } else {
    const lines = [
      `Resources (${answer.resources.length}) of ${answer.project}/${answer.stack}:`,
      ...renderTree(answer.resources).map((l) => `  ${l}`),
      "",
      ...renderViolations(answer.violations),
      "",
      `${status === "passed" ? "PASSED" : "FAILED"}: ${mandatory} mandatory, ${advisory} advisory violation${advisory === 1 ? "" : "s"} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
    ];
    io.stdout.write(lines.join("\n") + "\n");
  }
  return mandatory > 0 ? 1 : 0;
}
