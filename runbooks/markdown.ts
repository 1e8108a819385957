/**
 * The document of a runbook, generated from its definition (`paved runbook show <id>`,
 * `docs/runbooks/<id>.md`). Text that depends on the params shows them as `{name}` (angle brackets would read as HTML).
 */
import { z } from "zod";
import type { Runbook, Step } from "./model";
import { text } from "./model";

/** Params that read as `{key}` wherever a step's text uses them. */
export function placeholders(): Record<string, string> {
  return new Proxy({} as Record<string, string>, { get: (_t, key) => (typeof key === "string" ? `{${key}}` : undefined) });
}

function kindLine(step: Step<unknown>): string {
  switch (step.kind) {
    case "manual":
      return "manual: a person does it and confirms";
    case "check":
      return "check: read-only, runs on its own";
    case "decision":
      return `decision: a person answers (${step.options.join(" / ")})`;
    case "action":
      if (step.change) {
        return step.reversible
          ? "action: changes the instance through the engine, gated like the same request: within the team's autonomy it runs on its own, above it waits for approval of its preview"
          : "action: **irreversible** change through the engine: always waits for approval of its preview, by the approvers the same request would need";
      }
      return step.reversible
        ? `action: changes no resource; gated by its declared ${step.risk ?? "high"} risk (one level higher in prod) against the team's autonomy`
        : `action: **irreversible**, changes no resource; always waits for approval of its plan (${step.risk ?? "high"} risk, one level higher in prod)`;
  }
}

function fence(command: string): string[] {
  return ["", "```sh", command, "```"];
}

export function renderRunbook(runbook: Runbook): string {
  const p = placeholders();
  const schema = z.toJSONSchema(runbook.params, { io: "input" }) as {
    properties?: Record<string, { type?: string; enum?: string[]; pattern?: string }>;
    required?: string[];
  };
  const lines: string[] = [
    `# ${runbook.title}`,
    "",
    `\`${runbook.id}\` · ${runbook.level === "scripted" ? "scripted: the steps run as code; a person triggers, watches, answers and approves" : "documented: a person does every step"}`,
    "",
    runbook.summary,
    "",
    "## Params",
    "",
    "| param | type | required |",
    "| --- | --- | --- |",
  ];
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    const type = prop.enum ? prop.enum.join(" \\| ") : prop.pattern ? `${prop.type} matching \`${prop.pattern.replace(/\|/g, "\\|")}\`` : (prop.type ?? "any");
    lines.push(`| \`${name}\` | ${type} | ${schema.required?.includes(name) ? "yes" : "no"} |`);
  }
  lines.push("", "## Run it", "", "```sh");
  const args = Object.keys(schema.properties ?? {})
    .map((k) => `--param ${k}={${k}}`)
    .join(" ");
  lines.push(`npx paved runbook run ${runbook.id} ${args} --dry-run   # every step it would take; runs only the checks`);
  lines.push(`npx paved runbook run ${runbook.id} ${args}`);
  lines.push("```", "", "Or `POST /runbooks/" + runbook.id + '/runs` with `{ "params": { ... } }` on the service.', "", "## Steps");
  runbook.steps.forEach((step, i) => {
    lines.push("", `### ${i + 1}. ${step.title}`, "", `*${kindLine(step)}; times out after ${Math.round((step.timeoutMs ?? 5 * 60_000) / 60_000)} min*`, "");
    switch (step.kind) {
      case "manual":
        lines.push(text(step.instructions, p)!);
        if (step.command) lines.push(...fence(text(step.command, p)!));
        if (step.expected) lines.push("", `Expected: \`${text(step.expected, p)}\``);
        break;
      case "check":
        lines.push(text(step.description, p)!, "", `Expected: ${text(step.expected, p)}`);
        if (step.command) lines.push(...fence(text(step.command, p)!));
        break;
      case "decision":
        lines.push(
          text(step.question, p)!,
          "",
          `Answers: ${step.options.map((o) => `\`${o}\`${step.stopOn?.includes(o) ? " (ends the run here)" : ""}`).join(", ")}`,
        );
        break;
      case "action":
        lines.push(`It will ${text(step.description, p)}.`);
        if (step.command) lines.push(...fence(text(step.command, p)!));
        if (step.rollback)
          lines.push("", "If it fails, its rollback undoes it: applied on its own when its preview needs no approval, otherwise the run says what to request.");
        break;
    }
    lines.push("", `If it fails: ${text(step.onFailure, p)}`);
  });
  return lines.join("\n") + "\n";
}
