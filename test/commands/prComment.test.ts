import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Readable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { main, usage as cliUsage } from "../../automation/cli";
import { run, usage } from "../../automation/commands/prComment";
import { RDS, eventLog, largePreviewSteps, policyEvent, previewDigest } from "../automation/preview/generate";

const fixtures = resolve(__dirname, "../fixtures/pulumi-preview");
const fixture = (name: string) => resolve(fixtures, name);
const dir = mkdtempSync(join(tmpdir(), "paved-pr-comment-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function temp(name: string, content: string | Buffer): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
}

async function prComment(argv: string[], stdin: Buffer | string = "") {
  let stdout = "";
  let stderr = "";
  const code = await run(argv, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    stdin: Readable.from(stdin === "" ? [] : [stdin]),
  });
  return { code, stdout, stderr };
}

describe("paved pr-comment", () => {
  it("renders a preview file to stdout and exits 0", async () => {
    const r = await prComment([fixture("drift-adopter-tls-random-command-mixed-replace.json"), "--environment", "dev", "--stack", "payments-dev"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.stdout.split("\n").slice(0, 5)).toEqual([
      "<!-- paved:pr-comment stack=payments-dev -->",
      "",
      "### Pulumi preview of `payments-dev`",
      "",
      "🟡 **Medium risk: needs 1 approval** · 5 resources to change · environment dev",
    ]);
    expect(r.stdout).not.toContain("[secret]");
  });

  it("reads stdin when the file is left out or is -", async () => {
    const data = readFileSync(fixture("cloudcostify-azure-aks-creates-utf16le.json"));
    for (const argv of [[], ["-"]]) {
      const r = await prComment([...argv, "--environment", "staging"], data);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("| `+` create | 8 |");
      expect(r.stdout).toContain("environment staging");
    }
  });

  it("assumes prod without --environment and says so", async () => {
    const r = await prComment([fixture("stratify-aws-s3-lambda-update.json")]);
    // A Lambda's code changes: medium, raised to high in prod.
    expect(r.stdout).toContain("🟠 **High risk: needs 1 approval from platform** · 1 resource to change · environment prod (assumed: pass --environment)");
  });

  it("adds the event log's policy results", async () => {
    const r = await prComment([
      fixture("drift-adopter-aws-tags-sets-replace.json"),
      "--event-log",
      fixture("drift-adopter-aws-s3-cloud-preview-engine-events.json"),
      "--environment",
      "dev",
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("#### Policy results: 1 advisory");
    expect(r.stdout).toContain("| `+-` replace | 1 |\n| `~` update | 3 |\n| unchanged | 2 |");
  });

  it("renders an event log alone", async () => {
    const r = await prComment(["--event-log", fixture("pulumi-display-aws-webserver-replace-preview-engine-events.json"), "--environment", "dev"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("| `+-` replace | 1 |\n| unchanged | 2 |");
    expect(r.stdout).toContain("Not checked: no policy pack ran in this preview.");
  });

  it("exits 1 when a mandatory policy blocks a prod replace of a database, still printing the comment", async () => {
    const db = { type: RDS, name: "orders-db" };
    const preview = temp(
      "blocked.json",
      JSON.stringify(previewDigest("payments-prod", [{ op: "replace", ...db, env: "prod", diffReasons: ["engine"], replaceReasons: ["engine"] }]), null, 4),
    );
    const events = temp(
      "blocked.jsonl",
      eventLog("payments-prod", [], [policyEvent("payments-prod", db, "rds-storage-encrypted", "mandatory", "storageEncrypted is false: it must be true")]),
    );
    const r = await prComment([preview, "--event-log", events, "--environment", "prod"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      "⛔ **Blocked by 1 mandatory policy violation** · critical risk; once fixed it needs 2 approvals from platform · 1 resource to change · environment prod",
    );
    const advisoryOnly = temp("advisory.jsonl", eventLog("payments-prod", [], [policyEvent("payments-prod", db, "rds-backup", "advisory", "short backups")]));
    const ok = await prComment([preview, "--event-log", advisoryOnly, "--environment", "prod"]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("🔴 **Critical risk: needs 2 approvals from platform**");
  });

  it("exits 2 on malformed JSON, naming the file, line and column", async () => {
    const file = temp("bad.json", 'Previewing update (dev):\n{\n  "steps": [\n    {"op": "create" "urn": "u"}\n  ]\n}\n');
    const r = await prComment([file]);
    expect([r.code, r.stdout, r.stderr]).toEqual([
      2,
      "",
      `paved pr-comment: ${file}:4:21 invalid JSON: expected ',' or '}' after a property value, found "\\"urn\\""\n`,
    ]);
  });

  it("exits 2 on a malformed event log line, naming it", async () => {
    const log = temp("bad.jsonl", '{"sequence":0,"cancelEvent":{}}\n{"sequence":1,"policyEvent":{"policyName":"p"\n');
    const r = await prComment([fixture("stratify-aws-s3-lambda-update.json"), "--event-log", log]);
    expect([r.code, r.stdout, r.stderr]).toEqual([
      2,
      "",
      `paved pr-comment: ${log}:2:46 invalid JSON in the event log: expected ',' or '}' after a property value, found the end of the input\n`,
    ]);
  });

  it("exits 2 on empty stdin, a missing file and input that is not a preview", async () => {
    expect(await prComment([])).toEqual({
      code: 2,
      stdout: "",
      stderr: "paved pr-comment: <stdin>: empty input (expected the output of `pulumi preview --json`)\n",
    });
    expect(await prComment(["no/such/preview.json"])).toEqual({
      code: 2,
      stdout: "",
      stderr: "paved pr-comment: no/such/preview.json: cannot read the file: ENOENT\n",
    });
    const r = await prComment([fixture("pulumi-display-aws-eks-large-preview-engine-events.json")]);
    expect([r.code, r.stderr]).toEqual([
      2,
      `paved pr-comment: ${fixture("pulumi-display-aws-eks-large-preview-engine-events.json")}: not the output of \`pulumi preview --json\`: it has no steps, changeSummary or diagnostics: this looks like an engine event log (pass it with --event-log)\n`,
    ]);
  });

  it("does not wait for a terminal: without a file, stdin must be piped", async () => {
    let stderr = "";
    const tty = Object.assign(Readable.from([]), { isTTY: true });
    const code = await run([], { stdout: { write: () => true }, stderr: { write: (s: string) => (stderr += s) }, stdin: tty });
    expect([code, stderr]).toEqual([2, `paved pr-comment: give the preview file, or pipe \`pulumi preview --json\` in\n\n${usage}`]);
  });

  it("exits 2 on bad usage, with the usage", async () => {
    for (const [argv, message] of [
      [["--environment", "production"], '--environment "production" is not one of dev, staging, prod'],
      [["--autonomy", "all"], '--autonomy "all" is not one of none, low, medium, high, critical'],
      [["--event-log"], "--event-log needs a value"],
      [["--event-log", "--stack", "x"], "--event-log needs a value"],
      [["--max-chars", "10"], '--max-chars takes a whole number of at least 1000, got "10"'],
      [["a.json", "b.json"], 'unexpected argument "b.json"'],
      [["--json"], "unknown option --json"],
    ] as const) {
      expect(await prComment([...argv])).toEqual({ code: 2, stdout: "", stderr: `paved pr-comment: ${message}\n\n${usage}` });
    }
  });

  it("prints its usage with --help", async () => {
    expect(await prComment(["--help"])).toEqual({ code: 0, stdout: usage, stderr: "" });
    expect(usage).toContain("<!-- paved:pr-comment stack=<name> -->");
  });

  it("cuts a 5,000-step preview to GitHub's limit and says so on stderr", async () => {
    const file = temp("large.json", JSON.stringify(previewDigest("payments-prod", largePreviewSteps(5000))));
    const r = await prComment([file, "--environment", "prod"]);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBeLessThanOrEqual(65_536);
    expect(r.stdout).toContain("> Cut to stay under GitHub's 65,536-character comment limit. Left out: ");
    expect(r.stderr).toBe("paved pr-comment: the comment was cut to 65536 characters\n");
    const small = await prComment([file, "--environment", "prod", "--max-chars", "5000"]);
    expect(small.stdout.length).toBeLessThanOrEqual(5000);
  });

  it("is a paved command", async () => {
    expect(cliUsage()).toContain("  pr-comment   render `pulumi preview --json` as a pull-request comment");
    let stdout = "";
    const code = await main(["pr-comment", "--help"], {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: () => true },
      stdin: Readable.from([]),
    });
    expect([code, stdout]).toEqual([0, usage]);
  });
});
