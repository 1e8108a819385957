import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import { ParsedPreview, combinePreview, parseEventLog, parsePreviewJson } from "../../../automation/preview/parse";
import { GITHUB_COMMENT_LIMIT, RenderInput, markerLine, render } from "../../../automation/prComment/render";
import { RDS, SECRET_VALUE, eventLog, largePreviewSteps, policyEvent, previewDigest } from "../preview/generate";
import { declaredRows, tables } from "./tables";

const fixtures = resolve(__dirname, "../../fixtures/pulumi-preview");
const preview = (name: string) => parsePreviewJson(readFileSync(resolve(fixtures, name)), name);
const events = (name: string) => parseEventLog(readFileSync(resolve(fixtures, name)), name);
const generated = (stack: string, steps: Parameters<typeof previewDigest>[1]) => parsePreviewJson(JSON.stringify(previewDigest(stack, steps)), "g.json");

function md(p: ParsedPreview, input: Partial<RenderInput> = {}, options = {}) {
  return render({ preview: p, environment: "dev", ...input }, options);
}

/** Every table is whole: its rows have the header's cells, it ends cleanly, and it has the rows its label declares. */
function expectWholeTables(markdown: string) {
  const found = tables(markdown);
  for (const t of found) {
    for (const row of t.rows) expect(row.length, `${t.label}: ${row.join(" | ")}`).toBe(t.header.length);
    expect(t.closed, t.label).toBe(true);
    const declared = declaredRows(t.label);
    if (t.header[0] !== "Operation") expect([t.label, t.rows.length]).toEqual([t.label, declared]);
  }
  expect(markdown.split("<details").length).toBe(markdown.split("</details>").length);
  return found;
}

/** The op headings of the Changes section, in order. */
const opHeadings = (markdown: string) => markdown.split("\n").filter((l) => l.startsWith("##### "));

describe("render: a failed update", () => {
  it("says the update failed and lists the failed operations first, instead of rendering an ordinary preview", () => {
    const r = md(events("pulumi-display-python-dynamic-failed-up-engine-events.json"));
    const parts = r.markdown.split("\n\n");
    expect(parts.slice(0, 4)).toEqual([
      "<!-- paved:pr-comment stack=dev -->",
      "### Pulumi update of `dev` failed",
      "❌ **The update failed: 1 resource operation failed** (below). The engine marked the stack as possibly corrupt: run `pulumi refresh` before the next update.",
      "🟡 **Medium risk: needs 1 approval** · 2 resources to change · environment dev",
    ]);
    const failed = parts.indexOf("#### ❌ Failed operations (1)");
    expect(failed).toBeGreaterThan(3);
    expect(parts[failed + 1]).toBe(
      [
        "| Resource | Type | Operation | Left |",
        "| --- | --- | --- | --- |",
        "| `test-x` | `pulumi-python:dynamic:Resource` | `~` update | state unknown |",
      ].join("\n"),
    );
    expect(failed).toBeLessThan(parts.findIndex((p) => p.startsWith("#### Policy results")));
    expect(r.markdown).not.toContain("### Pulumi preview");
  });

  it("keeps a preview's comment as it was", () => {
    const r = md(events("pulumi-display-aws-webserver-replace-preview-engine-events.json"));
    expect(r.markdown.split("\n\n")[1]).toBe("### Pulumi preview of `dev`");
    expect(r.markdown).not.toContain("failed");
  });
});

describe("render: real previews", () => {
  it("renders the mixed preview: marker, verdict, reasons, exact counts, then replaces and deletes first", () => {
    const r = md(preview("drift-adopter-tls-random-command-mixed-replace.json"));
    const head = r.markdown.split("\n\n").slice(0, 5);
    expect(head).toEqual([
      "<!-- paved:pr-comment stack=test-a692d456 -->",
      "### Pulumi preview of `test-a692d456`",
      "🟡 **Medium risk: needs 1 approval** · 5 resources to change · environment dev",
      [
        "- replaces random:index/randomString:RandomString random-str-0 because length, special changed",
        "- updates command:local:Command cmd-0 (create, environment)",
        "- replaces tls:index/privateKey:PrivateKey tls-key-0 because algorithm, ecdsaCurve changed",
        "- deletes random:index/randomString:RandomString random-str-extra-0",
      ].join("\n"),
      [
        "| Operation | Resources |",
        "| --- | ---: |",
        "| `+-` replace | 2 |",
        "| `-` delete | 1 |",
        "| `~` update | 1 |",
        "| `+` create | 1 |",
        "| unchanged | 7 |",
      ].join("\n"),
    ]);
    expect(opHeadings(r.markdown)).toEqual(["##### `+-` Replace (2)", "##### `-` Delete (1)", "##### `~` Update (1)", "##### `+` Create (1)"]);
    expect([r.level, r.blocked, r.truncated, r.requirement]).toEqual(["medium", false, false, { level: "medium", auto: false, count: 1 }]);
    const rows = expectWholeTables(r.markdown).flatMap((t) => t.rows);
    expect(rows).toContainEqual([
      "🟡 medium",
      "`random-str-0`",
      "`random:index/randomString:RandomString`",
      "`length` (forces replacement), `special` (forces replacement)",
      "replaces random:index/randomString:RandomString random-str-0 because length, special changed",
    ]);
    expect(rows).toContainEqual([
      "🟡 medium",
      "`cmd-0`",
      "`command:local:Command`",
      "`create`, `environment` (removed)",
      "updates command:local:Command cmd-0 (create, environment)",
    ]);
    // The TLS key changes ten keys: eight shown, the rest folded.
    expect(r.markdown).toContain("`publicKeyFingerprintSha256` <details><summary>and 2 more</summary>`publicKeyOpenssh`, `publicKeyPem`</details>");
  });

  it("prints no value of any resource: no [secret], no inputs, no outputs, no config", () => {
    const r = md(preview("drift-adopter-tls-random-command-mixed-replace.json"));
    expect(r.markdown).not.toContain("[secret]");
    expect(r.markdown).not.toContain("echo resource-3"); // cmd-3's `create` input
    expect(r.markdown).not.toContain("ECDSA"); // tls-key-0's algorithm
    const exception = md(preview("sluiceway-v3.263.0-program-exception-diagnostics.json")).markdown;
    expect(exception).not.toContain("[secret]");
    const aks = md(preview("cloudcostify-azure-aks-creates-utf16le.json")).markdown;
    expect(aks).not.toMatch(/westeurope|eastus|location/i);
  });

  it("groups changes by component and folds a group of more than ten", () => {
    const r = md(preview("stratify-aws-s3-lambda-creates.json"));
    expect(r.markdown.split("\n\n").slice(2, 4)).toEqual([
      "🟢 **Low risk: needs 1 approval** · 16 resources to change · environment dev",
      "| Operation | Resources |\n| --- | ---: |\n| `+` create | 16 |",
    ]);
    const found = expectWholeTables(r.markdown).filter((t) => t.header[0] === "Risk");
    expect(found.map((t) => [t.label, t.rows.length])).toEqual([
      ["**Top level**: 2 resources", 2],
      ["**Component `aws:s3/bucket:Bucket` `docs`**: 2 resources", 2],
      ["<details><summary>Component <code>aws:s3:BucketEventSubscription</code> <code>docsHandler</code>: 12 resources</summary>", 12],
    ]);
  });

  it("lists the fourteen deletes of the deletes preview and counts the two unchanged", () => {
    const r = md(preview("stratify-aws-s3-lambda-deletes.json"));
    expect(r.markdown).toContain("| `-` delete | 14 |\n| unchanged | 2 |");
    expect(opHeadings(r.markdown)).toEqual(["##### `-` Delete (14)"]);
    expect(
      expectWholeTables(r.markdown)
        .filter((t) => t.header[0] === "Risk")
        .reduce((n, t) => n + t.rows.length, 0),
    ).toBe(14);
    expect(r.markdown).toContain("🟠 **High risk: needs 1 approval from platform** · 14 resources to change · environment dev");
    // Eight role policy attachments and a role control access: high.
    expect(r.markdown).toContain("- deletes aws:iam/rolePolicyAttachment:RolePolicyAttachment docsHandler-4aaabb8e\n");
    expect(r.markdown).toContain("\n- and 5 more\n");
  });

  it("renders the UTF-16LE preview", () => {
    const r = md(preview("cloudcostify-azure-aks-creates-utf16le.json"));
    expect(r.markdown).toContain("| `+` create | 8 |");
    expect(r.markdown).toContain(
      "| 🟢 low | `my-aks` | `azure-native:containerservice:ManagedCluster` | — | creates azure-native:containerservice:ManagedCluster my-aks |",
    );
  });

  it("shows the preview's errors, without ANSI escapes, and says the list may be incomplete", () => {
    const r = md(preview("sluiceway-v3.263.0-program-exception-diagnostics.json"), { environment: "prod" });
    expect(r.markdown).not.toContain("\u001b");
    expect(r.markdown).toContain("❌ **The preview reported 1 error** (below): the changes listed may be incomplete.");
    expect(r.markdown).toContain(
      "#### ❌ Errors (1)\n\n```text\nerror: Running program '/tmp/sluiceway-fixtures/scenarios/program-exception/project/site/index.ts' failed with an unhandled exception:\nError: the site program stops here\n    at Object.<anonymous> (/tmp/sluiceway-fixtures/scenarios/program-exception/project/site/index.ts:26:7)\n",
    );
    const resource = md(preview("sluiceway-v3.263.0-resource-error-diagnostics.json")).markdown;
    expect(resource).toContain(
      "#### ❌ Errors (2)\n\n`random:index/randomString:RandomString` `subnet`:\n\n```text\nerror: random:index/randomString:RandomString resource 'subnet' has a problem: Invalid Attribute Value. Attribute length value must be at least 1, got: -3. Examine values at 'subnet.length'.\n```",
    );
  });

  it("says where policy results come from when there is no event log", () => {
    expect(md(preview("stratify-aws-s3-lambda-update.json")).markdown).toContain(
      "#### Policy results\n\nNot shown: `pulumi preview --json` leaves policy results out. Pass the engine event log (`--event-log`) to see them.",
    );
  });

  it("shows the policy results of a Pulumi Cloud event log by enforcement level", () => {
    const r = md(events("drift-adopter-aws-s3-cloud-preview-engine-events.json"), { environment: "prod" });
    expect(r.markdown).toContain(
      [
        "#### Policy results: 1 advisory",
        "",
        "Policy packs: `example-policies` 0.0.6.",
        "",
        "**⚠️ Advisory**: 1 result",
        "",
        "| Policy | Resource | Message |",
        "| --- | --- | --- |",
        "| `s3-bucket-replication-enabled` | `test-bucket` (`aws:s3/bucket:Bucket`) | Encourages use of cross-region replication for S3 buckets.<br>S3 buckets should have cross-region replication. |",
      ].join("\n"),
    );
    // Advisory does not block; tags only, but in prod: medium.
    expect([r.blocked, r.level]).toEqual([false, "medium"]);
  });

  it("says when no policy pack ran", () => {
    const r = md(combinePreview(undefined, events("pulumi-display-aws-webserver-replace-preview-engine-events.json")));
    expect(r.markdown).toContain("#### Policy results\n\nNot checked: no policy pack ran in this preview.");
    expect(opHeadings(r.markdown)).toEqual(["##### `+-` Replace (1)"]);
    expect(r.markdown).toContain("`userData` (forces replacement)");
  });
});

describe("render: stateful resources in prod", () => {
  const steps = [
    {
      op: "replace",
      type: RDS,
      name: "orders-db",
      env: "prod",
      diffReasons: ["engine"],
      replaceReasons: ["engine"],
      detailedDiff: { engine: { kind: "update-replace", inputDiff: true } },
    },
    { op: "delete", type: RDS, name: "ledger-db", env: "prod", protect: true },
    { op: "update", type: "aws:sqs/queue:Queue", name: "events", env: "prod", diffReasons: ["tags"] },
  ];

  it("rates replacing or deleting an RDS instance in prod critical: two approvals from platform", () => {
    const r = md(generated("payments-prod", steps), { environment: "staging" });
    expect([r.level, r.blocked]).toEqual(["critical", false]);
    expect(r.markdown.split("\n\n").slice(2, 4)).toEqual([
      "🔴 **Critical risk: needs 2 approvals from platform** · 3 resources to change · environment staging",
      [
        "- replaces aws:rds/instance:Instance orders-db because engine changed: its data is lost",
        "- deletes aws:rds/instance:Instance ledger-db: its data is lost",
      ].join("\n"),
    ]);
    const rows = tables(r.markdown).flatMap((t) => t.rows);
    expect(rows).toContainEqual([
      "🔴 critical",
      "`ledger-db`",
      "`aws:rds/instance:Instance`",
      "—",
      "deletes aws:rds/instance:Instance ledger-db: its data is lost; aws:rds/instance:Instance ledger-db is protected: Pulumi refuses to delete it until it is unprotected; in prod: one level higher",
    ]);
    expect(rows).toContainEqual([
      "🟡 medium",
      "`events`",
      "`aws:sqs/queue:Queue`",
      "`tags`",
      "updates only tags or labels of aws:sqs/queue:Queue events (tags); in prod: one level higher",
    ]);
    expect(r.markdown).not.toContain(SECRET_VALUE);
    expect(r.markdown).not.toContain("[secret]");
  });

  it("is blocked by a mandatory policy violation, which it lists first", () => {
    const db = { type: RDS, name: "ledger-db" };
    const log = parseEventLog(
      eventLog(
        "payments-prod",
        [],
        [
          policyEvent("payments-prod", db, "rds-deletion-protection", "mandatory", "deletionProtection is false: prod databases must have it"),
          policyEvent("payments-prod", db, "rds-backup-retention", "advisory", "backups are kept 7 days: 14 recommended"),
        ],
      ),
      "events.jsonl",
    );
    const r = md(combinePreview(generated("payments-prod", steps), log), { environment: "prod" });
    expect([r.level, r.blocked]).toEqual(["critical", true]);
    expect(r.markdown.split("\n\n").slice(2, 4)).toEqual([
      "⛔ **Blocked by 1 mandatory policy violation** · critical risk; once fixed it needs 2 approvals from platform · 3 resources to change · environment prod",
      [
        "- policy rds-deletion-protection (mandatory) on ledger-db: deletionProtection is false: prod databases must have it",
        "- replaces aws:rds/instance:Instance orders-db because engine changed: its data is lost",
        "- deletes aws:rds/instance:Instance ledger-db: its data is lost",
      ].join("\n"),
    ]);
    expect(r.markdown).toContain(
      [
        "#### Policy results: 1 mandatory, 1 advisory",
        "",
        "Policy packs: `paved` 0.1.0.",
        "",
        "**⛔ Mandatory: blocks the change**: 1 result",
        "",
        "| Policy | Resource | Message |",
        "| --- | --- | --- |",
        "| `rds-deletion-protection` | `ledger-db` (`aws:rds/instance:Instance`) | deletionProtection is false: prod databases must have it |",
        "",
        "**⚠️ Advisory**: 1 result",
      ].join("\n"),
    );
  });

  it("uses the team's autonomy: within it, no approval", () => {
    const r = md(generated("x", [{ op: "update", type: "aws:sqs/queue:Queue", name: "q", diffReasons: ["visibilityTimeoutSeconds"] }]), { autonomy: "medium" });
    expect(r.markdown.split("\n\n")[2]).toBe(
      "🟡 **Medium risk: applied without approval (within the team's autonomy)** · 1 resource to change · environment dev",
    );
  });

  it("says when the environment was assumed", () => {
    const r = md(generated("x", []), { environment: "prod", environmentAssumed: true });
    expect(r.markdown.split("\n\n")[2]).toBe("🟢 **Low risk: needs 1 approval** · no changes · environment prod (assumed: pass --environment)");
    expect(r.markdown).toContain("#### Changes\n\nNo resource changes.");
  });
});

describe("render: size", () => {
  it("renders a 50,000-step preview to the same cap, building only what it keeps", () => {
    const p = generated("payments-prod", largePreviewSteps(50_000));
    render({ preview: p, environment: "prod" }); // warm up
    const started = performance.now();
    const r = render({ preview: p, environment: "prod" });
    const ms = performance.now() - started;
    // A sanity bound only (the machine may be busy); `npm run bench:pr-comment` measures (target: under 100 ms).
    expect(ms).toBeLessThan(2000);
    expect(r.truncated).toBe(true);
    expect(r.markdown.length).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT);
    expect(r.markdown).toContain("| `+-` replace | 1,000 |\n| `-` delete | 1,000 |\n| `~` update | 10,000 |\n| `+` create | 38,000 |");
    const left = r.omitted.resources;
    expect((left.update ?? 0) + (left.create ?? 0) + (left.replace ?? 0) + (left.delete ?? 0)).toBeGreaterThan(45_000);
  });

  it("cuts a 5,000-step preview under 65,536 characters at a section boundary, with a note of what was left out", () => {
    const p = generated("payments-prod", largePreviewSteps(5000));
    render({ preview: p, environment: "prod" }); // warm up
    const started = performance.now();
    const r = render({ preview: p, environment: "prod" });
    const ms = performance.now() - started;
    // A sanity bound only; `npx tsx bench/prComment.ts` measures (target: under 200 ms).
    expect(ms).toBeLessThan(1000);

    expect(r.truncated).toBe(true);
    expect(r.markdown.length).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT);
    expect(r.markdown.length).toBeGreaterThan(GITHUB_COMMENT_LIMIT - 5000);
    expect(r.markdown.split("\n")[0]).toBe("<!-- paved:pr-comment stack=payments-prod -->");
    expect(r.markdown).toContain("| `+-` replace | 100 |\n| `-` delete | 100 |\n| `~` update | 1,000 |\n| `+` create | 3,800 |\n| unchanged | 1 |");

    const found = expectWholeTables(r.markdown);
    // The rows shown per op: the tables under each op heading.
    const shown: Record<string, number> = {};
    for (const section of r.markdown.split(/^##### /m).slice(1)) {
      const op = /^`[^`]+` (\w+)/.exec(section)![1].toLowerCase();
      shown[op] = tables(section).reduce((n, t) => n + t.rows.length, 0);
    }
    const total = { replace: 100, delete: 100, update: 1000, create: 3800 };
    for (const [name, n] of Object.entries(total)) {
      expect((shown[name] ?? 0) + (r.omitted.resources[name as keyof typeof total] ?? 0), name).toBe(n);
    }
    expect(shown.replace).toBe(100);
    expect(shown.delete).toBe(100);
    const omittedUpdate = r.omitted.resources.update ?? 0;
    const omittedCreate = r.omitted.resources.create ?? 0;
    expect(omittedCreate).toBe(3800);
    expect(
      r.markdown.endsWith(
        [
          "> [!WARNING]",
          `> Cut to stay under GitHub's 65,536-character comment limit. Left out: ${(omittedUpdate + omittedCreate).toLocaleString("en-US")} changed resources (${omittedUpdate.toLocaleString("en-US")} of 1,000 update, 3,800 of 3,800 create).`,
          "> The workflow log has the whole preview.",
          "",
        ].join("\n"),
      ),
    ).toBe(true);
    expect(found.length).toBeGreaterThan(50);
  });

  it("keeps whole sections: the cut comment is the full one's beginning, up to a section", () => {
    const p = preview("drift-adopter-tls-random-command-mixed-replace.json");
    const full = md(p).markdown;
    const cut = md(p, {}, { maxChars: 2000 });
    expect([full.length, cut.truncated]).toEqual([2345, true]);
    expect(cut.markdown.length).toBeLessThanOrEqual(2000);
    const kept = cut.markdown.slice(0, cut.markdown.indexOf("\n\n> [!WARNING]"));
    expect(full.startsWith(`${kept}\n\n`)).toBe(true);
    expectWholeTables(cut.markdown);
    expect(cut.markdown).toContain("Left out: ");
    expect(cut.omitted.resources).toEqual({ delete: 1, update: 1, create: 1 });
    expect(cut.markdown).toContain("Left out: 3 changed resources (1 of 1 delete, 1 of 1 update, 1 of 1 create).");
  });

  it("splits a long table into parts and leaves out whole parts", () => {
    const steps = Array.from({ length: 450 }, (_, i) => ({ op: "create", type: "aws:sqs/queue:Queue", name: `queue-${i}` }));
    const r = md(generated("x", steps), {}, { maxChars: 20_000 });
    const found = expectWholeTables(r.markdown).filter((t) => t.header[0] === "Risk");
    expect(found[0].label).toBe("<details><summary>Top level: resources 1–100 of 450</summary>");
    expect(found.every((t) => t.rows.length === 100)).toBe(true);
    const shown = found.length * 100;
    expect(r.omitted.resources).toEqual({ create: 450 - shown });
    expect(r.markdown).toContain(`Left out: ${450 - shown} changed resources (${450 - shown} of 450 create).`);
  });

  it("counts policy results it leaves out", () => {
    const q = { type: "aws:sqs/queue:Queue", name: "q" };
    const violations = Array.from({ length: 400 }, (_, i) => policyEvent("x", q, `policy-${i}`, i < 150 ? "mandatory" : "advisory", `message ${i} `.repeat(8)));
    const p = combinePreview(generated("x", [{ op: "create", ...q }]), parseEventLog(eventLog("x", [], violations), "e.jsonl"));
    const r = md(p, {}, { maxChars: 20_000 });
    expect(r.blocked).toBe(true);
    expect(r.markdown.length).toBeLessThanOrEqual(20_000);
    // 150 mandatory results make tables of 100 and 50 rows: the first fits, the rest does not.
    expect(
      expectWholeTables(r.markdown)
        .filter((t) => t.header[0] === "Policy")
        .map((t) => [t.label, t.rows.length]),
    ).toEqual([["<details><summary>⛔ Mandatory: blocks the change: results 1–100 of 150</summary>", 100]]);
    expect(r.omitted).toEqual({ resources: { create: 1 }, policies: { mandatory: 50, advisory: 250 }, errors: 0, warnings: 0 });
    expect(r.markdown).toContain("Left out: 1 changed resource (1 of 1 create); 300 policy results (50 of 150 mandatory, 250 of 250 advisory).");
  });
});

describe("render: escaping", () => {
  it("escapes names, keys and messages so that they cannot break a table or mention anyone", () => {
    const odd = { type: "aws:sqs/queue:Queue", name: "a|b`c" };
    const p = combinePreview(
      generated("x", [{ op: "update", ...odd, diffReasons: ["tags|x"] }]),
      parseEventLog(eventLog("x", [], [policyEvent("x", odd, "p", "advisory", "ask @platform-team | <b>now</b>\nplease")]), "e.jsonl"),
    );
    const r = md(p);
    const rows = expectWholeTables(r.markdown).flatMap((t) => t.rows);
    expect(rows).toContainEqual(["`p`", "`` a\\|b`c `` (`aws:sqs/queue:Queue`)", "ask @\u200bplatform-team \\| &lt;b&gt;now&lt;/b&gt;<br>please"]);
    expect(rows).toContainEqual(["🟡 medium", "`` a\\|b`c ``", "`aws:sqs/queue:Queue`", "`tags\\|x`", "updates aws:sqs/queue:Queue a\\|b\\`c (tags\\|x)"]);
    expect(r.markdown).not.toContain("<b>");
  });

  it("writes a marker a workflow can search for, whatever the stack name", () => {
    expect(markerLine("payments-prod")).toBe("<!-- paved:pr-comment stack=payments-prod -->");
    expect(markerLine("acme/payments/prod")).toBe("<!-- paved:pr-comment stack=acme/payments/prod -->");
    expect(markerLine("a b-->c")).toBe("<!-- paved:pr-comment stack=a_b-__c -->");
    expect(markerLine(undefined)).toBe("<!-- paved:pr-comment -->");
    expect(md(generated("x", []), { stack: "payments-dev" }).markdown.split("\n")[0]).toBe("<!-- paved:pr-comment stack=payments-dev -->");
  });

  it("folds warnings at the end", () => {
    const p = parsePreviewJson(
      JSON.stringify({ ...previewDigest("x", []), diagnostics: [{ message: "warning: \u001b[33mdeprecated\u001b[0m field\n", severity: "warning" }] }),
      "w.json",
    );
    const r = md(p);
    expect(r.markdown.endsWith("<details><summary>⚠️ 1 warning</summary>\n\n```text\nwarning: deprecated field\n```\n\n</details>\n")).toBe(true);
  });
});
