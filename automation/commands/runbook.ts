/**
 * `paved runbook list | show <id> | run <id> --param k=v [--dry-run] | resume <run-id> |
 * approve <run-id> <step> --digest D`: runbooks from the terminal, on the same store,
 * engine and paved.yaml as the service. Interactive at manual steps and decisions; an
 * irreversible action pauses the run (exit 3) until someone else approves it, here or
 * through the API; `resume` then goes on.
 *
 * Who you are comes from your bearer token (`PAVED_TOKEN` or `--token`), as with the API.
 */
import { createInterface } from "node:readline";
import { keyValue, readArgs } from "./args";
import { resolve } from "node:path";
import { ConfigError, loadConfig, Person } from "../config";
import { runbooks } from "../../runbooks";
import { renderRunbook } from "../../runbooks/markdown";
import type { RunView } from "../runbooks/executor";
import { DomainError } from "../errors";
import { exitCodeOf } from "./exitCodes";
import { chooseEngine, createService, Service } from "../service/main";
import type { CommandIO } from "./io";

export const usage = `Usage:
  paved runbook list
  paved runbook show <id>
  paved runbook run <id> --param key=value ... [--dry-run]
  paved runbook resume <run-id>
  paved runbook approve <run-id> <step> --digest sha256:... [--comment text]

Runs on the service's store and engine (PAVED_DATA_DIR or DATABASE_URL, PAVED_ENGINE,
PAVED_CONFIG). You are who your token says: PAVED_TOKEN or --token <token>.
--dry-run prints every step it would take and runs only the checks.
Exit: 0 done, 1 failed/rejected/cancelled, 2 bad usage or params, 3 waiting for approval.
`;

interface Args {
  command?: string;
  positional: string[];
  params: Record<string, unknown>;
  dryRun: boolean;
  token?: string;
  digest?: string;
  comment?: string;
}

/** `--param k=v` values: JSON numbers and booleans as such, anything else as a string. */
export function paramValue(raw: string): unknown {
  if (/^(true|false|-?\d+(\.\d+)?)$/.test(raw)) return JSON.parse(raw);
  return raw;
}

export function parseArgs(argv: string[]): Args {
  const { values, positionals } = readArgs(
    argv,
    {
      "dry-run": { type: "boolean" },
      param: { type: "string", multiple: true },
      token: { type: "string" },
      digest: { type: "string" },
      comment: { type: "string" },
    },
    Infinity,
  );
  const [command, ...rest] = positionals;
  return {
    command,
    positional: rest,
    params: Object.fromEntries((values.param ?? []).map((pair) => keyValue("--param", pair)).map(([k, v]) => [k, paramValue(v)])),
    dryRun: values["dry-run"] ?? false,
    token: values.token,
    digest: values.digest,
    comment: values.comment,
  };
}

const MARK: Record<string, string> = {
  succeeded: "✓",
  failed: "✗",
  skipped: "-",
  interrupted: "!",
  awaiting_answer: "?",
  awaiting_approval: "⏸",
  running: "…",
  pending: " ",
};

function printSteps(run: RunView, io: CommandIO, from: number): number {
  let printed = from;
  for (const s of run.steps) {
    if (s.n <= from || ["pending", "running", "awaiting_answer", "awaiting_approval"].includes(s.status)) continue;
    io.stdout.write(
      `${MARK[s.status] ?? " "} ${s.n}. ${s.title} [${s.kind}${s.kind === "action" ? (s.reversible ? ", reversible" : ", irreversible") : ""}]: ${s.status}\n`,
    );
    if (s.output) io.stdout.write(s.output.replace(/^/gm, "    ") + "\n");
    printed = s.n;
  }
  return printed;
}

function ask(io: CommandIO, question: string): Promise<string | undefined> {
  const rl = createInterface({ input: io.stdin, terminal: false });
  return new Promise((resolvePromise) => {
    let done = false;
    io.stdout.write(question);
    rl.once("line", (line) => {
      done = true;
      rl.close();
      resolvePromise(line.trim());
    });
    rl.once("close", () => {
      if (!done) resolvePromise(undefined);
    });
  });
}

/** Follows a run: prints steps, asks at answers, stops at approvals and at the end. */
async function follow(service: Service, person: Person, runId: string, io: CommandIO): Promise<number> {
  let shown = 0;
  for (;;) {
    const run = await service.runbooks.settle(runId);
    shown = printSteps(run, io, shown);
    if (run.status === "succeeded") {
      io.stdout.write(`run ${run.id}: succeeded${run.dryRun ? " (dry run: nothing changed)" : ""}\n`);
      return 0;
    }
    if (["failed", "rejected", "cancelled"].includes(run.status)) {
      io.stdout.write(`run ${run.id}: ${run.status}\n`);
      if (run.error) io.stderr.write(`${run.error}\n`);
      return 1;
    }
    const step = run.steps[run.currentStep - 1];
    const awaiting = step.awaiting as
      | {
          answer?: { question: string; options: string[] };
          approval?: { digest: string; risk: string; reasons: string[]; requiredApprovals: { description: string }; progress: string; plan: string[] };
        }
      | undefined;
    if (run.status === "awaiting_approval" && awaiting?.approval) {
      const a = awaiting.approval;
      io.stdout.write(
        [
          `⏸ ${step.n}. ${step.title}: ${step.reversible ? "" : "irreversible, "}waiting for approval (${a.risk} risk: ${a.requiredApprovals.description}; not from ${run.requestedBy}; so far ${a.progress})`,
          ...a.reasons.map((l) => `    why: ${l}`),
          ...a.plan.map((l) => `    ${l}`),
          `    digest ${a.digest}`,
          `Approve: PAVED_TOKEN=<approver token> paved runbook approve ${run.id} ${step.n} --digest ${a.digest}`,
          `     or: POST /runbook-runs/${run.id}/steps/${step.n}/approve {"digest":"${a.digest}"}`,
          `Then: paved runbook resume ${run.id}`,
          "",
        ].join("\n"),
      );
      return 3;
    }
    if (run.status === "awaiting_answer" && awaiting?.answer) {
      const q = awaiting.answer;
      const line = await ask(io, `? ${step.n}. ${step.title}\n    ${q.question}\n    [${q.options.join("/")}] > `);
      if (line === undefined) {
        io.stdout.write(`\nno answer (input closed): the run waits; answer later with paved runbook resume ${run.id}\n`);
        return 3;
      }
      try {
        await service.runbooks.answer(person, run.id, step.n, line);
      } catch (err) {
        if (err instanceof DomainError) io.stderr.write(`${err.message}\n`);
        else throw err;
      }
      continue;
    }
    io.stdout.write(`run ${run.id}: ${run.status}\n`);
    return 3;
  }
}

export async function run(argv: string[], io: CommandIO): Promise<number> {
  if (argv.length === 0 || argv.includes("--help") || argv.includes("-h")) {
    io.stdout.write(usage);
    return argv.length === 0 ? 2 : 0;
  }
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    io.stderr.write(`paved runbook: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  if (args.command === "list") {
    for (const r of runbooks) io.stdout.write(`${r.id.padEnd(32)} ${r.level.padEnd(10)} ${r.title}\n`);
    return 0;
  }
  if (args.command === "show") {
    const r = runbooks.find((b) => b.id === args.positional[0]);
    if (!r) {
      io.stderr.write(`paved runbook: no runbook "${args.positional[0] ?? ""}"; the runbooks are: ${runbooks.map((b) => b.id).join(", ")}\n`);
      return 2;
    }
    io.stdout.write(renderRunbook(r));
    return 0;
  }
  if (!["run", "resume", "approve"].includes(args.command ?? "")) {
    io.stderr.write(`paved runbook: unknown subcommand "${args.command}"\n\n${usage}`);
    return 2;
  }

  const env = process.env;
  let service: Service;
  try {
    const config = loadConfig(resolve(env.PAVED_CONFIG ?? "paved.yaml"));
    service = await createService({
      config,
      dataDir: env.PAVED_DATA_DIR ?? ".paved",
      databaseUrl: env.DATABASE_URL || undefined,
      engine: chooseEngine(env),
      logger: false,
      // The CLI runs runbooks only; the service's replicas run request jobs.
      startRunner: false,
    });
  } catch (err) {
    io.stderr.write(`paved runbook: ${err instanceof ConfigError ? err.message : (err as Error).message}\n`);
    return 2;
  }
  try {
    const token = args.token ?? env.PAVED_TOKEN;
    const person = token ? service.config.authenticate(token) : undefined;
    if (!person) {
      io.stderr.write(`paved runbook: ${token ? "the token is not valid" : "who are you? set PAVED_TOKEN or pass --token"}\n`);
      return 2;
    }
    if (service.engine.name === "simulate" && args.command === "run" && !args.dryRun) io.stdout.write("engine simulate: nothing real is changed\n");
    try {
      if (args.command === "run") {
        const id = args.positional[0];
        if (!id) throw new DomainError("invalid", "usage", "paved runbook run <id> --param key=value ...");
        const started = await service.runbooks.start(person, id, args.params, { dryRun: args.dryRun });
        io.stdout.write(`run ${started.id}: ${started.title}${args.dryRun ? " (dry run)" : ""}\n`);
        return await follow(service, person, started.id, io);
      }
      if (args.command === "resume") {
        const runId = args.positional[0];
        if (!runId) throw new DomainError("invalid", "usage", "paved runbook resume <run-id>");
        await service.runbooks.resume(person, runId);
        return await follow(service, person, runId, io);
      }
      const [runId, n] = args.positional;
      if (!runId || !n || !args.digest) throw new DomainError("invalid", "usage", "paved runbook approve <run-id> <step> --digest sha256:...");
      let view = await service.runbooks.approve(person, runId, Number(n), { digest: args.digest, comment: args.comment });
      io.stdout.write(`run ${runId}: step ${n} approved by ${person.name}; the run is ${view.status}\n`);
      if (view.status === "running") {
        // The last approval lets the run go on here: it runs until it ends or waits again.
        view = await service.runbooks.settle(runId);
        io.stdout.write(`run ${runId}: ${view.status}\n`);
      }
      return 0;
    } catch (err) {
      if (err instanceof DomainError) {
        io.stderr.write(`paved runbook: ${err.message}\n${(err.issues ?? []).map((i) => `  ${i.path}: ${i.message}\n`).join("")}`);
        return exitCodeOf(err.kind);
      }
      throw err;
    }
  } finally {
    await service.close(5000);
  }
}
