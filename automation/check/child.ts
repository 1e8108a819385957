/**
 * The child process of `paved check`: runs a spec or a Pulumi TypeScript program under
 * Pulumi mocks, evaluates what it registered against the policy pack, and writes the
 * answer as JSON to file descriptor 3. Whatever the program prints goes to stderr, so the
 * parent's stdout carries the report only. Started with tsx's loader, so a program's
 * TypeScript runs without a build.
 */
// First: defers the parts of @pulumi/pulumi a check never uses, before anything loads it.
import "./preload";
import { existsSync, readFileSync, writeSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import { createInterface } from "node:readline";
import { evaluate } from "../../policy-pack/evaluate";
import { runUnderMocks } from "../../stacks/pulumiMocks";
import type { CheckAnswer, CheckRequest, CheckedResource, FailurePosition } from "./protocol";

// Pulumi records a stack trace for every resource and promise; translating each through
// tsx's source maps doubled the time of a run. Reports carry messages, not stacks.
process.setSourceMapsEnabled(false);
// Pulumi's debuggablePromise captures a stack trace for every promise it makes (to name a
// leaked one): with none captured a 200-entry check ran 1.5x faster. Errors keep their
// messages; a failed program is run again with source maps, and stack traces, to locate it.
const STACK_TRACE_LIMIT = Error.stackTraceLimit;
Error.stackTraceLimit = 0;

function answer(a: CheckAnswer): never {
  writeSync(3, JSON.stringify(a));
  // A failure exits non-zero: with 0, Pulumi's exit hook prints its promise-leak banner
  // (the failed program's registrations never finished) before the real error.
  process.exit(a.ok ? 0 : 1);
}

/** The program directory of a `--program` check: failures are located in its files. */
let programDir: string | undefined;

function failure(err: unknown): never {
  const error = (err as Error)?.message ?? String(err);
  const at = programDir && err instanceof Error ? locateFailure(err.stack ?? "", programDir, (f) => readFileSync(f, "utf8")) : undefined;
  answer({ ok: false, error, ...(at ? { at } : {}) });
}

/**
 * The first stack frame in the program's own files (not its node_modules), the component
 * whose constructor was running when it threw (the nearest \`new X\` frame above), and the
 * resource name when the call site passes it as a string literal.
 */
export function locateFailure(stack: string, dir: string, read: (file: string) => string): FailurePosition | undefined {
  const frames = stack
    .split("\n")
    .map((l) => /^\s+at (?:(.*?) \()?(.+?):(\d+):(\d+)\)?$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ fn: m[1] ?? "", file: m[2]!, line: Number(m[3]), column: Number(m[4]) }));
  const root = resolve(dir) + sep;
  const index = frames.findIndex((f) => f.file.startsWith(root) && !f.file.slice(root.length).split(sep).includes("node_modules"));
  if (index < 0) return undefined;
  const frame = frames[index]!;
  const component = frames
    .slice(0, index)
    .map((f) => /^new (\w+)$/.exec(f.fn)?.[1])
    .filter((c): c is string => c !== undefined)
    .pop();
  let name: string | undefined;
  if (component) {
    try {
      const line = read(frame.file).split("\n")[frame.line - 1] ?? "";
      name = /^new\s+[\w$.]+\s*\(\s*(["'`])([^"'`]*)\1/.exec(line.slice(frame.column - 1))?.[2];
    } catch {
      // The position still says where.
    }
  }
  const position = { file: relative(dir, frame.file), line: frame.line, column: frame.column };
  return { ...position, ...(component ? { component } : {}), ...(name !== undefined ? { name } : {}) };
}

// A program's console output must not reach the report.
console.log = (...args: unknown[]) => process.stderr.write(args.map(String).join(" ") + "\n");
console.info = console.log;

process.on("unhandledRejection", (err) => failure(err));
process.on("uncaughtException", (err) => failure(err));

/** Project name, program entry and stack config of a Pulumi program directory. */
export function loadProgram(dir: string, stack: string, overrides: Record<string, string>) {
  const projectFile = ["Pulumi.yaml", "Pulumi.yml"].map((f) => join(dir, f)).find(existsSync);
  if (!projectFile) throw new Error(`${dir} has no Pulumi.yaml`);
  // Loaded here, not at the top: a spec check reads no YAML in the child.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { parse: parseYaml } = require("yaml") as typeof import("yaml");
  const project = parseYaml(readFileSync(projectFile, "utf8")) as { name?: string; main?: string; stackConfigDir?: string };
  const name = project.name ?? "project";
  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  const stackFile = join(dir, project.stackConfigDir ?? ".", `Pulumi.${stack}.yaml`);
  if (existsSync(stackFile)) {
    const stackConfig = (parseYaml(readFileSync(stackFile, "utf8")) as { config?: Record<string, unknown> })?.config ?? {};
    for (const [k, v] of Object.entries(stackConfig)) {
      const key = k.includes(":") ? k : `${name}:${k}`;
      if (v && typeof v === "object" && "secure" in (v as object)) {
        // Encrypted values cannot be read without the stack's secrets provider.
        config[key] = "[secret]";
        secretKeys.push(key);
      } else {
        config[key] = typeof v === "string" ? v : JSON.stringify(v);
      }
    }
  }
  for (const [k, v] of Object.entries(overrides)) config[k.includes(":") ? k : `${name}:${k}`] = v;
  return { project: name, entry: resolve(dir, project.main ?? "."), config, secretKeys };
}

/** The lines the parent writes on stdin, one JSON document each. */
let stdinLines: AsyncIterator<string> | undefined;

async function nextLine(): Promise<string> {
  stdinLines ??= createInterface({ input: process.stdin, crlfDelay: Infinity })[Symbol.asyncIterator]();
  const next = await stdinLines.next();
  if (next.done) throw new Error("the check process was given no request");
  return next.value;
}

/**
 * The request: the argument itself, or with `- <mode>` the first line on stdin. A spec's
 * child is started before the parent has validated the spec: it loads what a spec check
 * needs while it waits.
 */
async function readRequest(): Promise<CheckRequest> {
  if (process.argv[2] !== "-") return JSON.parse(process.argv[2]) as CheckRequest;
  if (process.argv[3] === "spec") await import("../../stacks/deploy");
  return JSON.parse(await nextLine()) as CheckRequest;
}

async function main(): Promise<void> {
  const request = await readRequest();
  let project: string;
  let stack: string;
  let program: () => unknown;
  let config: Record<string, string> = {};
  let secretKeys: string[] = [];
  if (request.mode === "spec") {
    const { deployStepwise } = await import("../../stacks/deploy");
    const spec = request.spec as { team: string; environment: string };
    project = "paved";
    stack = `${spec.team}-${spec.environment}`;
    program = () => deployStepwise(request.spec as never);
  } else {
    // Without source maps a position would point into tsx's output: locate failures only with them.
    if (request.sourceMaps) {
      Error.stackTraceLimit = STACK_TRACE_LIMIT;
      process.setSourceMapsEnabled(true);
      programDir = request.dir;
    }
    const loaded = loadProgram(request.dir, request.stack, request.config);
    ({ project, config, secretKeys } = loaded);
    stack = request.stack;
    // The program is a CommonJS module loaded where it lies, as Pulumi's Node.js host loads it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    program = () => require(loaded.entry);
  }
  const { resources } = await runUnderMocks(program, { project, stack, config, secretKeys });
  const checked = resources.filter((r) => r.type !== "pulumi:pulumi:Stack");
  const violations = await evaluate(checked, { project, stack });
  answer({ ok: true, project, stack, resources: resources.map(checkedResource), violations });
}

function checkedResource(r: CheckedResource): CheckedResource {
  return { type: r.type, name: r.name, urn: r.urn, parent: r.parent, custom: r.custom };
}

if (require.main === module) {
  main().catch((err: unknown) => failure(err));
}
