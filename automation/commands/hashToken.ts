/**
 * `paved hash-token`: reads a bearer token on stdin and prints the `sha256:<hex>` that
 * paved.yaml stores for it (tokens never go on the command line, where the shell's
 * history would keep them).
 */
import { hashToken } from "../config";
import type { CommandIO } from "./io";

export const usage = `Usage: paved hash-token < token.txt
       printf %s "$TOKEN" | paved hash-token

Prints the sha256:<hex> to store as the person's token in paved.yaml.
`;

export async function run(argv: string[], io: CommandIO): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout.write(usage);
    return 0;
  }
  if (argv.length > 0) {
    io.stderr.write(`paved hash-token: the token is read from stdin, not from arguments\n\n${usage}`);
    return 2;
  }
  let text = "";
  for await (const chunk of io.stdin) text += chunk.toString();
  const token = text.replace(/\r?\n$/, "");
  if (token.length < 8 || /\s/.test(token)) {
    io.stderr.write("paved hash-token: a token is at least 8 characters, without spaces or line breaks\n");
    return 2;
  }
  io.stdout.write(`${hashToken(token)}\n`);
  return 0;
}
