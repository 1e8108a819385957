/** Reading the Markdown tables of a rendered comment back, to check that none is cut. */

export interface ParsedTable {
  /** The non-blank line before the table: its label. */
  label: string;
  header: string[];
  rows: string[][];
  /** The table is followed by a blank line or the end of the text, not by stray text. */
  closed: boolean;
}

/** Cells of a table row: split on pipes that are not escaped. */
export function cells(line: string): string[] {
  return line
    .replace(/^\|/, "")
    .replace(/(?<!\\)\|$/, "")
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

const SEPARATOR = /^\|( ?-{3,}:? ?\|)+$/;

/** Every table in `markdown`, with its label and rows. */
export function tables(markdown: string): ParsedTable[] {
  const lines = markdown.split("\n");
  const out: ParsedTable[] = [];
  for (let i = 0; i < lines.length - 1; i++) {
    if (!lines[i].startsWith("|") || !SEPARATOR.test(lines[i + 1])) continue;
    let label = "";
    for (let j = i - 1; j >= 0; j--) {
      if (lines[j].trim() !== "") {
        label = lines[j];
        break;
      }
    }
    const rows: string[][] = [];
    let k = i + 2;
    while (k < lines.length && lines[k].startsWith("|")) rows.push(cells(lines[k++]));
    out.push({ label, header: cells(lines[i]), rows, closed: k >= lines.length || lines[k].trim() === "" });
    i = k - 1;
  }
  return out;
}

/** The number of rows a label declares: `...: 12 resources`, or `...: resources 101–200 of 5,000`. */
export function declaredRows(label: string): number | undefined {
  const text = label.replace(/<\/summary>$/, "");
  const part = /: (?:resource|result)s ([\d,]+)–([\d,]+) of [\d,]+$/.exec(text);
  if (part) return Number(part[2].replace(/,/g, "")) - Number(part[1].replace(/,/g, "")) + 1;
  const whole = /: ([\d,]+) (?:resource|result)s?$/.exec(text);
  return whole ? Number(whole[1].replace(/,/g, "")) : undefined;
}
