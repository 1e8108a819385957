/** Writes docs/runbooks/<id>.md for every runbook (`npm run docs:runbooks`); a test fails when they are stale. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runbooks } from "./index";
import { renderRunbook } from "./markdown";

export function runbookDocs(): Record<string, string> {
  const docs: Record<string, string> = {};
  for (const r of runbooks) docs[`${r.id}.md`] = renderRunbook(r);
  docs["README.md"] =
    ["# Runbooks", "", "Generated from `runbooks/` by `npm run docs:runbooks`; do not edit by hand.", "", "| runbook | level | summary |", "| --- | --- | --- |"]
      .concat(runbooks.map((r) => `| [${r.title}](${r.id}.md) (\`${r.id}\`) | ${r.level} | ${r.summary} |`))
      .join("\n") + "\n";
  return docs;
}

if (require.main === module) {
  const dir = join(__dirname, "..", "docs", "runbooks");
  mkdirSync(dir, { recursive: true });
  for (const [file, body] of Object.entries(runbookDocs())) writeFileSync(join(dir, file), body);
  console.log(`wrote ${Object.keys(runbookDocs()).length} files to docs/runbooks/`);
}
