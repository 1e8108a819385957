/**
 * `paved pr-comment [<preview.json> | -] [--event-log <file>] [--environment <env>]
 * [--stack <name>] [--autonomy <level>] [--max-chars <n>]`: renders `pulumi preview
 * --json` (a file, or stdin) as a pull-request comment in Markdown on stdout. Exit 0,
 * 1 when a mandatory policy blocks the change, 2 for input it cannot read or bad usage.
 */
import { readFileSync } from "node:fs";
import { readArgs } from "./args";
import { ENVIRONMENTS, Environment } from "../../components/guardrails";
import { ParsedPreview, PreviewInputError, combinePreview, parseEventLog, parsePreviewJson } from "../preview/parse";
import { GITHUB_COMMENT_LIMIT, render } from "../prComment/render";
import { Autonomy, RISK_LEVELS } from "../risk";
import type { CommandIO } from "./io";

export const usage = `Usage:
  paved pr-comment [<preview.json> | -] [--event-log <events.jsonl>] [--environment dev|staging|prod]
                   [--stack <name>] [--autonomy none|low|medium|high|critical] [--max-chars <n>]

Renders the output of \`pulumi preview --json\` (the file, or stdin when it is "-" or
left out) as a pull-request comment in GitHub Markdown on stdout: a verdict (risk and the
approvals it needs), counts by operation, policy results, and the changed resources with
their risk and changed keys. No resource value is printed. The first line is a hidden
marker, <!-- paved:pr-comment stack=<name> -->, for a workflow to find and update its
comment.

Options:
  --event-log <file>     the engine event log (\`pulumi preview --event-log <file>\`): adds the
                         policy results, which the JSON preview leaves out. Given alone,
                         without a preview, the steps are read from it too.
  --environment <env>    environment of resources without a paved:environment tag
                         (default: prod, the strictest, as the policy pack assumes)
  --stack <name>         stack name for the marker and title (default: from the URNs)
  --autonomy <level>     highest risk applied without approval (default: none)
  --max-chars <n>        longest comment (default: ${GITHUB_COMMENT_LIMIT}, GitHub's limit); longer
                         ones are cut between sections with a note of what was left out
Exit: 0 rendered, 1 blocked by a mandatory policy, 2 unreadable input or bad usage.
`;

export interface PrCommentOptions {
  /** A file, "-" for stdin, or undefined (stdin, unless only an event log is given). */
  preview?: string;
  eventLog?: string;
  environment?: Environment;
  stack?: string;
  autonomy: Autonomy;
  maxChars: number;
}

const AUTONOMY: readonly string[] = ["none", ...RISK_LEVELS];

/** Parses the arguments; throws an Error with the problem on bad ones. */
export function parseArgs(argv: string[]): PrCommentOptions {
  const { values, positionals } = readArgs(
    argv,
    {
      "event-log": { type: "string" },
      environment: { type: "string" },
      stack: { type: "string" },
      autonomy: { type: "string" },
      "max-chars": { type: "string" },
    },
    1,
  );
  const env = values.environment;
  if (env !== undefined && !(ENVIRONMENTS as readonly string[]).includes(env))
    throw new Error(`--environment "${env}" is not one of ${ENVIRONMENTS.join(", ")}`);
  const level = values.autonomy ?? "none";
  if (!AUTONOMY.includes(level)) throw new Error(`--autonomy "${level}" is not one of ${AUTONOMY.join(", ")}`);
  const raw = values["max-chars"];
  const maxChars = raw === undefined ? GITHUB_COMMENT_LIMIT : Number(raw);
  if (!Number.isInteger(maxChars) || maxChars < 1000) throw new Error(`--max-chars takes a whole number of at least 1000, got "${raw}"`);
  return {
    preview: positionals[0],
    eventLog: values["event-log"],
    environment: env as Environment | undefined,
    stack: values.stack,
    autonomy: level as Autonomy,
    maxChars,
  };
}

async function readStream(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(parts);
}

function readInput(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new PreviewInputError(`cannot read the file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, file);
  }
}

export async function run(argv: string[], io: CommandIO): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout.write(usage);
    return 0;
  }
  let options: PrCommentOptions;
  try {
    options = parseArgs(argv);
  } catch (err) {
    io.stderr.write(`paved pr-comment: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  let parsed: ParsedPreview;
  try {
    const fromStdin = options.preview === "-" || (options.preview === undefined && options.eventLog === undefined);
    if (fromStdin && (io.stdin as { isTTY?: boolean }).isTTY) {
      io.stderr.write(`paved pr-comment: give the preview file, or pipe \`pulumi preview --json\` in\n\n${usage}`);
      return 2;
    }
    const preview = fromStdin
      ? parsePreviewJson(await readStream(io.stdin), "<stdin>")
      : options.preview !== undefined
        ? parsePreviewJson(readInput(options.preview), options.preview)
        : undefined;
    const events = options.eventLog !== undefined ? parseEventLog(readInput(options.eventLog), options.eventLog) : undefined;
    parsed = combinePreview(preview, events);
  } catch (err) {
    if (err instanceof PreviewInputError) {
      io.stderr.write(`paved pr-comment: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const result = render(
    {
      preview: parsed,
      ...(options.stack ? { stack: options.stack } : {}),
      environment: options.environment ?? "prod",
      environmentAssumed: options.environment === undefined,
      autonomy: options.autonomy,
    },
    { maxChars: options.maxChars },
  );
  io.stdout.write(result.markdown);
  if (result.truncated) io.stderr.write(`paved pr-comment: the comment was cut to ${options.maxChars} characters\n`);
  return result.blocked ? 1 : 0;
}
