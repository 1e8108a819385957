/** Writes docs/runbooks/<id>.md for every runbook (`npm run docs:runbooks`); a test fails when they are stale. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runbooks } from "./index";
import { renderRunbook } from "./markdown";

export function runbookDocs(): Record<string, string> {
  const docs: Record<string, string> = {};
  for (const r of runbooks) docs[`${r.id}.md`] = renderRunbook(r);
  docs["README.md"] =
    [
      "# Runbooks",
      "",
      "Generated from `runbooks/` by `npm run docs:runbooks`; do not edit by hand.",
      "",
      "## How steps are gated",
      "",
      "Every action goes through the same gate as a request. An action that changes an instance is previewed by the engine and",
      "rated by the same risk rules, team autonomy and approval rules as a request with the same preview: within the team's",
      "autonomy it runs alone, above it the run waits for the same approvers (never the person who started the run). The",
      "approved digest is what the engine applies; a different preview goes back for approval, and an expired wait is planned",
      "again on resume. An action that changes no resource is gated by its declared risk (one level higher in prod). An",
      "irreversible step always waits for a person; nothing lowers a gate. A run acts only on its own team's instances.",
      "",
      "| runbook | level | summary |",
      "| --- | --- | --- |",
    ]
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
