/**
 * Reading what the Pulumi CLI wrote: decoding (UTF-8 or UTF-16, with or without a byte
 * order mark), positions in the text, JSON syntax errors with their position (Node's own
 * messages vary between versions and sometimes give none), and colour escapes.
 */
import { stripVTControlCharacters } from "node:util";

/** Text of a file or stream: UTF-16LE/BE by BOM (or by NUL bytes, for BOM-less UTF-16LE), else UTF-8; any BOM dropped. */
export function decodeText(data: Buffer | string): string {
  if (typeof data === "string") return data.charCodeAt(0) === 0xfeff ? data.slice(1) : data;
  if (data.length >= 2 && data[0] === 0xff && data[1] === 0xfe) return evenBytes(data.subarray(2)).toString("utf16le");
  if (data.length >= 2 && data[0] === 0xfe && data[1] === 0xff)
    return Buffer.from(evenBytes(data.subarray(2)))
      .swap16()
      .toString("utf16le");
  if (data.length >= 3 && data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf) return data.subarray(3).toString("utf8");
  // `{` or a letter followed by a NUL: UTF-16LE written without a BOM.
  if (data.length >= 4 && data[0] !== 0 && data[1] === 0 && data[2] !== 0 && data[3] === 0) return evenBytes(data).toString("utf16le");
  return data.toString("utf8");
}

function evenBytes(data: Buffer): Buffer {
  return data.length % 2 === 0 ? data : data.subarray(0, data.length - 1);
}

/** 1-based line and column (in characters) of `offset` in `text`; `\r\n` counts as one line break. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf("\n"); i !== -1 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

export interface JsonSyntaxError {
  /** Offset in the text where the error is. */
  offset: number;
  message: string;
}

/** The result of scanning one JSON value: where it ends, or the first syntax error. */
export type JsonScan = { ok: true; end: number } | { ok: false; error: JsonSyntaxError };

const WS = new Set([" ", "\t", "\n", "\r"]);

/**
 * Scans one JSON value starting at `start` (leading whitespace allowed) without building
 * it: the end of the value (after trailing whitespace) or the first syntax error, with a
 * message that names what was expected and what was found.
 */
export function scanJson(text: string, start = 0): JsonScan {
  let i = start;
  const found = (): string => (i >= text.length ? "the end of the input" : JSON.stringify(text[i]));
  const fail = (message: string): never => {
    throw { offset: i, message } satisfies JsonSyntaxError;
  };
  const ws = () => {
    while (i < text.length && WS.has(text[i])) i++;
  };
  const string = () => {
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail("unterminated string");
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) fail(`control character ${JSON.stringify(text[i])} in a string (it must be escaped)`);
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
            i += 2;
            fail("\\u must be followed by four hex digits");
          }
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else fail(`invalid escape \\${e ?? ""} in a string`);
      } else i++;
    }
  };
  const number = () => {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!m || m[0] === "-") fail(`invalid number`);
    i += m![0].length;
    if (i < text.length && /[0-9.eE+-]/.test(text[i])) fail("invalid number");
  };
  const value = (depth: number) => {
    if (depth > 1000) fail("nested more than 1000 levels deep");
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      if (text[i] === "}") {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail(`expected a property name in double quotes, found ${found()}`);
        string();
        ws();
        if (text[i] !== ":") fail(`expected ':' after a property name, found ${found()}`);
        i++;
        value(depth + 1);
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return;
        }
        fail(`expected ',' or '}' after a property value, found ${found()}`);
      }
    }
    if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") {
        i++;
        return;
      }
      for (;;) {
        value(depth + 1);
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return;
        }
        fail(`expected ',' or ']' after an array element, found ${found()}`);
      }
    }
    if (c === '"') return string();
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return number();
    for (const literal of ["true", "false", "null"]) {
      if (text.startsWith(literal, i)) {
        i += literal.length;
        return;
      }
    }
    fail(`expected a value, found ${found()}`);
  };
  try {
    value(0);
    ws();
    return { ok: true, end: i };
  } catch (err) {
    if (err && typeof err === "object" && "offset" in err) return { ok: false, error: err as JsonSyntaxError };
    throw err;
  }
}

// Pulumi's own colour tags (`<{%reset%}>`); ANSI escapes go with Node's own stripper.
const PULUMI_COLOR_TAGS = /<\{%[^%]*%\}>/g;

/** `text` without ANSI escapes and Pulumi colour tags. */
export function stripColors(text: string): string {
  return stripVTControlCharacters(text).replace(PULUMI_COLOR_TAGS, "");
}
