/**
 * Reading what the Pulumi CLI wrote: decoding (UTF-8 or UTF-16, with or without a byte
 * order mark), positions in the text, JSON syntax errors with their position (jsonc-parser;
 * Node's own messages vary between versions and sometimes give none), and colour escapes.
 */
import { stripVTControlCharacters } from "node:util";
import { ParseError, ParseErrorCode, getLocation, parseTree, printParseErrorCode } from "jsonc-parser";

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

/** What each of jsonc-parser's error codes means, in the words of a JSON reader. */
const JSON_ERRORS: Partial<Record<ParseErrorCode, (found: string) => string>> = {
  [ParseErrorCode.InvalidSymbol]: (found) => `expected a value, found ${found}`,
  [ParseErrorCode.ValueExpected]: (found) => `expected a value, found ${found}`,
  [ParseErrorCode.PropertyNameExpected]: (found) => `expected a property name in double quotes, found ${found}`,
  [ParseErrorCode.ColonExpected]: (found) => `expected ':' after a property name, found ${found}`,
  [ParseErrorCode.CloseBraceExpected]: (found) => `expected ',' or '}' after a property value, found ${found}`,
  [ParseErrorCode.CloseBracketExpected]: (found) => `expected ',' or ']' after an array element, found ${found}`,
  [ParseErrorCode.UnexpectedEndOfString]: () => "unterminated string (a line break or the end of the input before its closing quote)",
  [ParseErrorCode.InvalidEscapeCharacter]: () => "invalid escape in a string",
  [ParseErrorCode.InvalidUnicode]: () => "\\u must be followed by four hex digits",
  [ParseErrorCode.InvalidCharacter]: () => "control character in a string (it must be escaped)",
  [ParseErrorCode.UnexpectedEndOfNumber]: () => "invalid number",
  [ParseErrorCode.InvalidNumberFormat]: () => "invalid number",
  [ParseErrorCode.InvalidCommentToken]: () => "comments are not allowed in JSON",
  [ParseErrorCode.UnexpectedEndOfComment]: () => "comments are not allowed in JSON",
};

/**
 * Scans one JSON value starting at `start` (leading whitespace allowed), with jsonc-parser
 * in strict JSON mode (no comments, no trailing commas): the end of the value (after
 * trailing whitespace) or the first syntax error, with a message that names what was
 * expected and what was found.
 */
export function scanJson(text: string, start = 0): JsonScan {
  const errors: ParseError[] = [];
  const root = parseTree(text.slice(start), errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const valueEnd = root ? start + root.offset + root.length : start;
  const first = errors[0];
  // No error, or text after a complete value (the caller decides whether that is allowed).
  const trailing =
    first && root && start + first.offset >= valueEnd && (first.error === ParseErrorCode.EndOfFileExpected || first.error === ParseErrorCode.InvalidSymbol);
  if (!first || trailing) return { ok: true, end: afterWhitespace(text, valueEnd) };
  const offset = start + first.offset;
  const found = offset >= text.length ? "the end of the input" : JSON.stringify(text.slice(offset, offset + Math.max(1, first.length)));
  let code = first.error;
  if (code === ParseErrorCode.CommaExpected) {
    // Inside an array or an object: say which closing bracket would also do.
    const path = getLocation(text.slice(start), first.offset).path;
    code = typeof path[path.length - 1] === "number" ? ParseErrorCode.CloseBracketExpected : ParseErrorCode.CloseBraceExpected;
  }
  const describe = JSON_ERRORS[code] ?? (() => `invalid JSON (${printParseErrorCode(code)})`);
  return { ok: false, error: { offset, message: describe(found) } };
}

function afterWhitespace(text: string, i: number): number {
  while (i < text.length && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")) i++;
  return i;
}

// Pulumi's own colour tags (`<{%reset%}>`); ANSI escapes go with Node's own stripper.
const PULUMI_COLOR_TAGS = /<\{%[^%]*%\}>/g;

/** `text` without ANSI escapes and Pulumi colour tags. */
export function stripColors(text: string): string {
  return stripVTControlCharacters(text).replace(PULUMI_COLOR_TAGS, "");
}
