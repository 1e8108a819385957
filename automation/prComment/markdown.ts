/** Escaping for GitHub-flavoured Markdown: text, code spans, table cells, fenced blocks. */

/**
 * Plain text as inline Markdown: Markdown and HTML characters escaped, `@` kept from
 * mentioning anyone, line breaks as `<br>` (so that it also fits in a table cell).
 */
export function mdText(text: string, inTable = false): string {
  let out = text.replace(/[\\`*_[\]<>#~]/g, (c) => (c === "<" ? "&lt;" : c === ">" ? "&gt;" : `\\${c}`));
  out = out.replace(/@/g, "@\u200b");
  if (inTable) out = out.replace(/\|/g, "\\|");
  return out.replace(/\r?\n/g, "<br>");
}

/** A code span that holds any text (backticks and, in a table, pipes included). */
export function mdCode(text: string, inTable = false): string {
  let body = text.replace(/\r?\n/g, " ");
  if (inTable) body = body.replace(/\|/g, "\\|");
  const longest = Math.max(0, ...(body.match(/`+/g) ?? []).map((m) => m.length));
  const fence = "`".repeat(longest + 1);
  const pad = longest > 0 || body.startsWith("`") || body.endsWith("`") ? " " : "";
  return `${fence}${pad}${body}${pad}${fence}`;
}

/** A fenced code block that holds any text (its fence is longer than any backtick run in it). */
export function mdFence(text: string, info = "text"): string {
  const longest = Math.max(0, ...(text.match(/`{3,}/g) ?? []).map((m) => m.length));
  const fence = "`".repeat(Math.max(3, longest + 1));
  return `${fence}${info}\n${text}\n${fence}`;
}

/** A table: a header row, the separator and one row per entry; every cell already escaped. */
export function mdTable(header: readonly string[], rows: readonly (readonly string[])[], align?: readonly ("left" | "right")[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  const separator = header.map((_, i) => (align?.[i] === "right" ? "---:" : "---"));
  return [line(header), line(separator), ...rows.map(line)].join("\n");
}

/** `content` folded under `summary` (HTML `<details>`; blank lines keep the Markdown inside working). */
export function mdDetails(summary: string, content: string, open = false): string {
  return `<details${open ? " open" : ""}><summary>${summary}</summary>\n\n${content}\n\n</details>`;
}

const COUNT_FORMAT = new Intl.NumberFormat("en-US");

/** 1,234 */
export function formatCount(n: number): string {
  // One formatter: `toLocaleString` builds a new one on every call.
  return COUNT_FORMAT.format(n);
}

/** `1 resource`, `2 resources` */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${formatCount(n)} ${n === 1 ? word : many}`;
}

/** Text inside HTML (a `<summary>`, where Markdown is not rendered). */
export function htmlText(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/@/g, "@\u200b");
}
