/**
 * Command-line arguments with Node's own parser (`node:util` `parseArgs`), and the CLI's
 * wording for what it refuses: `--stack needs a value`, `unknown option --x`,
 * `unexpected argument "b.json"`.
 */
import { parseArgs } from "node:util";

/** The options a command takes: each a string (repeatable or not) or a flag. */
export type OptionSpec = Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }>;

type Values<S extends OptionSpec> = {
  [K in keyof S]?: S[K]["type"] extends "boolean" ? boolean : S[K]["multiple"] extends true ? string[] : string;
};

/**
 * Reads `argv` against `spec`; at most `maxPositionals` plain arguments. Throws an Error
 * with the problem on anything else. A value may not look like an option (`--a --b`), and
 * `-` alone is a plain argument (stdin).
 */
export function readArgs<S extends OptionSpec>(argv: string[], spec: S, maxPositionals: number): { values: Values<S>; positionals: string[] } {
  // Not strict: Node's own messages differ between versions; the tokens say what went wrong.
  const { tokens } = parseArgs({ args: argv, options: spec, strict: false, allowPositionals: true, tokens: true });
  const values: Record<string, string | string[] | boolean> = {};
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === "option-terminator") continue;
    if (token.kind === "positional") {
      if (positionals.length >= maxPositionals) throw new Error(`unexpected argument "${token.value}"`);
      positionals.push(token.value);
      continue;
    }
    const option = spec[token.name];
    if (!option) throw new Error(`unknown option ${token.rawName}`);
    if (option.type === "boolean") {
      if (token.value !== undefined) throw new Error(`${token.rawName} takes no value`);
      values[token.name] = true;
      continue;
    }
    if (token.value === undefined || (token.inlineValue !== true && token.value.startsWith("--") && token.value.length > 2)) {
      throw new Error(`${token.rawName} needs a value`);
    }
    if (option.multiple) values[token.name] = [...((values[token.name] as string[] | undefined) ?? []), token.value];
    else values[token.name] = token.value;
  }
  return { values: values as Values<S>, positionals };
}

/** `key=value` of an option that takes pairs. */
export function keyValue(flag: string, pair: string): [string, string] {
  const eq = pair.indexOf("=");
  if (eq <= 0) throw new Error(`${flag} takes key=value, got "${pair}"`);
  return [pair.slice(0, eq), pair.slice(eq + 1)];
}
