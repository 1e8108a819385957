import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { PreviewInputError, collapseSteps, combinePreview, parseEventLog, parsePreviewJson, toPlannedStep } from "../../../automation/preview/parse";
import { RDS, eventLine, eventLog, policyEvent, previewDigest, stackUrn } from "./generate";

const fixtures = resolve(__dirname, "../../fixtures/pulumi-preview");
const fixture = (name: string) => readFileSync(resolve(fixtures, name));

/** `op name` of every step, for compact assertions. */
const ops = (steps: { op: string; name: string }[]) => steps.map((s) => `${s.op} ${s.name}`);

function thrown(fn: () => unknown): PreviewInputError {
  try {
    fn();
  } catch (err) {
    if (err instanceof PreviewInputError) return err;
    throw err;
  }
  throw new Error("did not throw");
}

describe("parsePreviewJson on real previews", () => {
  it("reads a mixed preview: ops, keys, replace keys, parents, the change summary", () => {
    const p = parsePreviewJson(fixture("drift-adopter-tls-random-command-mixed-replace.json"), "mixed.json");
    expect(p.stack).toBe("test-a692d456");
    expect(p.changeSummary).toEqual({ create: 1, delete: 1, replace: 2, same: 7, update: 1 });
    expect(ops(p.steps)).toEqual([
      "same small-scale-10-test-a692d456",
      "create cmd-3",
      "replace random-str-0",
      "update cmd-0",
      "replace tls-key-0",
      "delete random-str-extra-0",
    ]);
    const [, create, randomReplace, update, tlsReplace, del] = p.steps;
    expect(create).toEqual({
      op: "create",
      urn: "urn:pulumi:test-a692d456::small-scale-10::command:local:Command::cmd-3",
      type: "command:local:Command",
      name: "cmd-3",
      parentUrn: "urn:pulumi:test-a692d456::small-scale-10::pulumi:pulumi:Stack::small-scale-10-test-a692d456",
      changedKeys: [],
      replaceKeys: [],
    });
    // detailedDiff null: the keys come from diffReasons and replaceReasons.
    expect([randomReplace.changedKeys, randomReplace.replaceKeys, randomReplace.diff]).toEqual([["length", "special"], ["length", "special"], undefined]);
    expect(tlsReplace.replaceKeys).toEqual(["algorithm", "ecdsaCurve"]);
    expect(tlsReplace.changedKeys).toHaveLength(10);
    expect([update.changedKeys, update.diff]).toEqual([["create", "environment"], { create: "update", environment: "delete" }]);
    expect([del.type, del.changedKeys, del.parentUrn]).toEqual(["random:index/randomString:RandomString", [], create.parentUrn]);
  });

  it("reads detailed diffs: nested keys, their kinds and the keys that force a replacement", () => {
    const p = parsePreviewJson(fixture("drift-adopter-aws-tags-sets-replace.json"), "tags.json");
    expect(ops(p.steps)).toEqual([
      "same aws-tags-and-sets-test-b5f8ac54",
      "update test-bucket",
      "update test-role",
      "replace test-sg",
      "update test-bucket-versioning",
    ]);
    expect(p.steps[1].changedKeys).toEqual([
      "tags.CostCenter",
      "tags.Environment",
      "tags.Owner",
      "tags.Team",
      "tagsAll.CostCenter",
      "tagsAll.Environment",
      "tagsAll.Owner",
      "tagsAll.Team",
    ]);
    expect(p.steps[3]).toMatchObject({
      type: "aws:ec2/securityGroup:SecurityGroup",
      changedKeys: ["description", "ingress[0]", "ingress[1]"],
      replaceKeys: ["description"],
      diff: { description: "update-replace", "ingress[0]": "add", "ingress[1]": "delete" },
    });
    expect(p.changeSummary).toEqual({ replace: 1, same: 2, update: 3 });
  });

  it("reads delete steps, which carry only oldState", () => {
    const p = parsePreviewJson(fixture("stratify-aws-s3-lambda-deletes.json"), "deletes.json");
    expect(p.steps.filter((s) => s.op === "delete")).toHaveLength(14);
    expect(p.steps.filter((s) => s.op === "same")).toHaveLength(2);
    const fn = p.steps.find((s) => s.type === "aws:lambda/function:Function")!;
    expect(fn).toMatchObject({
      op: "delete",
      name: "docsHandler",
      changedKeys: [],
      parentUrn: "urn:pulumi:dev::sample::aws:s3/bucket:Bucket$aws:s3:BucketEventSubscription::docsHandler",
    });
  });

  it("reads the UTF-16LE preview with a BOM and CRLF line ends that PowerShell writes", () => {
    const raw = fixture("cloudcostify-azure-aks-creates-utf16le.json");
    expect([...raw.subarray(0, 4)]).toEqual([0xff, 0xfe, 0x7b, 0x00]);
    const p = parsePreviewJson(raw, "aks.json");
    expect(p.stack).toBe("dev");
    expect(p.changeSummary).toEqual({ create: 8 });
    expect(ops(p.steps)).toEqual([
      "create PulumiSandbox-dev",
      "create aks",
      "create ssh-key",
      "create password",
      "create aksSp",
      "create test-rg",
      "create aksSpPassword",
      "create my-aks",
    ]);
    expect(p.steps[7].type).toBe("azure-native:containerservice:ManagedCluster");
  });

  it("reads UTF-8 with a BOM the same as without", () => {
    const raw = fixture("stratify-aws-s3-lambda-update.json");
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), raw]);
    expect(parsePreviewJson(withBom, "u.json")).toEqual(parsePreviewJson(raw, "u.json"));
  });

  it("skips CLI lines before the JSON document and after it", () => {
    const raw = fixture("stratify-aws-s3-lambda-update.json").toString("utf8");
    const noisy = `warning: A new version of Pulumi is available.\nPreviewing update (dev)\n${raw}\nwarning: upgrade with brew upgrade pulumi\n`;
    const p = parsePreviewJson(noisy, "noisy.json");
    expect(p).toEqual(parsePreviewJson(raw, "u.json"));
    expect(ops(p.steps.filter((s) => s.op !== "same"))).toEqual(["update docsHandler"]);
    expect(p.steps[10]).toMatchObject({ changedKeys: ["code"], diff: { code: "update" } });
  });

  it("keeps the diagnostics, ANSI escapes stripped, with the URN when there is one", () => {
    const exception = parsePreviewJson(fixture("sluiceway-v3.263.0-program-exception-diagnostics.json"), "x.json");
    expect(exception.diagnostics).toHaveLength(1);
    expect(exception.diagnostics[0].severity).toBe("error");
    expect(exception.diagnostics[0].urn).toBeUndefined();
    expect(exception.diagnostics[0].message).not.toMatch(/\u001b/);
    expect(exception.diagnostics[0].message.split("\n").slice(0, 3)).toEqual([
      "error: Running program '/tmp/sluiceway-fixtures/scenarios/program-exception/project/site/index.ts' failed with an unhandled exception:",
      "Error: the site program stops here",
      "    at Object.<anonymous> (/tmp/sluiceway-fixtures/scenarios/program-exception/project/site/index.ts:26:7)",
    ]);
    const resource = parsePreviewJson(fixture("sluiceway-v3.263.0-resource-error-diagnostics.json"), "r.json");
    expect(resource.diagnostics.map((d) => [d.severity, d.urn])).toEqual([
      ["error", "urn:pulumi:dev::network::random:index/randomString:RandomString::subnet"],
      ["error", "urn:pulumi:dev::network::random:index/randomString:RandomString::subnet"],
    ]);
    // The failing resource is not in the steps: only the Stack's create.
    expect(ops(resource.steps)).toEqual(["create network-dev"]);
  });
});

describe("parsePreviewJson on generated previews", () => {
  it("collapses replacement sub-steps into one replace per URN, keys merged, in first-seen order", () => {
    const doc = previewDigest("prod", [
      { op: "create-replacement", type: RDS, name: "orders-db", env: "prod", diffReasons: ["engine"], replaceReasons: ["engine"] },
      { op: "create", type: "aws:sqs/queue:Queue", name: "events" },
      { op: "replace", type: RDS, name: "orders-db", env: "prod", diffReasons: ["engine", "tags"], replaceReasons: ["engine"] },
      { op: "delete-replaced", type: RDS, name: "orders-db", env: "prod" },
    ]);
    const p = parsePreviewJson(JSON.stringify(doc), "g.json");
    expect(ops(p.steps)).toEqual(["same paved-prod", "replace orders-db", "create events"]);
    expect(p.steps[1]).toMatchObject({ changedKeys: ["engine", "tags"], replaceKeys: ["engine"], environment: "prod" });
  });

  it("takes the environment from the paved:environment tag or label, protect from the state", () => {
    const doc = previewDigest("x", [
      { op: "update", type: RDS, name: "tagged", env: "staging", diffReasons: ["instanceClass"] },
      { op: "update", type: "kubernetes:apps/v1:Deployment", name: "labelled", label: "dev", diffReasons: ["spec"] },
      { op: "update", type: RDS, name: "bad-tag", env: "production", diffReasons: ["instanceClass"] },
      { op: "delete", type: RDS, name: "protected", protect: true },
    ]);
    const p = parsePreviewJson(JSON.stringify(doc), "g.json");
    expect(p.steps.slice(1).map((s) => [s.name, s.environment, s.protect])).toEqual([
      ["tagged", "staging", undefined],
      ["labelled", "dev", undefined],
      ["bad-tag", undefined, undefined],
      ["protected", undefined, true],
    ]);
  });

  it("reads steps without newState and with detailedDiff null", () => {
    const doc = previewDigest("x", [{ op: "update", type: RDS, name: "db", noNewState: true, diffReasons: ["allocatedStorage"], detailedDiff: null }]);
    expect(parsePreviewJson(JSON.stringify(doc), "g.json").steps[1]).toEqual({
      op: "update",
      urn: "urn:pulumi:x::paved::aws:rds/instance:Instance::db",
      type: RDS,
      name: "db",
      parentUrn: stackUrn("x"),
      changedKeys: ["allocatedStorage"],
      replaceKeys: [],
    });
  });

  it("keeps no value of any resource in the steps", () => {
    const doc = previewDigest("x", [{ op: "update", type: RDS, name: "db", env: "prod", diffReasons: ["password"] }]);
    const text = JSON.stringify(parsePreviewJson(JSON.stringify(doc), "g.json"));
    expect(text).not.toContain("[secret]");
    expect(text).not.toContain("pl41n-t3xt-p4ssw0rd");
    expect(text).not.toContain("internal:5432");
  });

  it("reports an op it does not know as a warning and leaves the step out", () => {
    const doc = { steps: [{ op: "teleport", urn: "urn:pulumi:x::p::aws:s3/bucket:Bucket::b" }], changeSummary: {} };
    const p = parsePreviewJson(JSON.stringify(doc), "g.json");
    expect(p.steps).toEqual([]);
    expect(p.diagnostics).toEqual([
      {
        severity: "warning",
        message: 'step op "teleport" not understood: urn:pulumi:x::p::aws:s3/bucket:Bucket::b is left out of this comment',
        urn: "urn:pulumi:x::p::aws:s3/bucket:Bucket::b",
      },
    ]);
  });
});

describe("parsePreviewJson on input it cannot read", () => {
  it("names the file, line and column of a JSON syntax error", () => {
    const err = thrown(() => parsePreviewJson('{\n  "steps": [\n    {"op": "create",, "urn": "u"}\n  ]\n}\n', "preview.json"));
    expect([err.message, err.file, err.line, err.column]).toEqual([
      'preview.json:3:21 invalid JSON: expected a property name in double quotes, found ","',
      "preview.json",
      3,
      21,
    ]);
  });

  it("counts lines after skipped CLI lines and CRLF line ends", () => {
    const err = thrown(() => parsePreviewJson('warning: old CLI\r\n{\r\n  "steps": [\r\n  ]\r\n  "changeSummary": {}\r\n}\r\n', "p.json"));
    expect(err.message).toBe(`p.json:5:3 invalid JSON: expected ',' or '}' after a property value, found "\\"changeSummary\\""`);
  });

  it("reports a truncated document at its end", () => {
    const raw = fixture("stratify-aws-s3-lambda-update.json").toString("utf8");
    const cut = raw.slice(0, 1000);
    const lines = cut.split("\n");
    const err = thrown(() => parsePreviewJson(cut, "cut.json"));
    expect([err.line, err.column]).toEqual([lines.length, lines[lines.length - 1].length + 1]);
    expect(err.detail).toMatch(/^invalid JSON: (unterminated string|expected .*, found the end of the input)$/);
  });

  it("positions errors in a UTF-16 file in characters", () => {
    const data = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{\r\n  "steps": [}\r\n}', "utf16le")]);
    expect(thrown(() => parsePreviewJson(data, "win.json")).message).toBe('win.json:2:13 invalid JSON: expected a value, found "}"');
  });

  it.each([
    ["", "e.json: empty input (expected the output of `pulumi preview --json`)"],
    ["  \r\n\n", "e.json: empty input (expected the output of `pulumi preview --json`)"],
    [
      "error: no stack named 'dev' found\n",
      "e.json: no JSON document found (expected the output of `pulumi preview --json`); it starts with \"error: no stack named 'dev' found\"",
    ],
    ['{"steps": []} {"x": 1}', "e.json:1:15 invalid JSON: unexpected text after the JSON document"],
    [
      '{"version": 3, "deployment": {}}',
      "e.json: not the output of `pulumi preview --json`: it has no steps, changeSummary or diagnostics: this looks like `pulumi stack export`",
    ],
    [
      '{"sequence": 0, "preludeEvent": {"config": {}}}\n{"sequence": 1, "cancelEvent": {}}\n',
      "e.json: not the output of `pulumi preview --json`: it has no steps, changeSummary or diagnostics: this looks like an engine event log (pass it with --event-log)",
    ],
    ['{"steps": [{"op": "create", "urn": "u"}, {"op": "update"}]}', "e.json: steps[1].urn: missing (expected string)"],
    ['{"steps": [{"op": 1, "urn": "u", "diffReasons": "tags"}]}', "e.json: steps[0].op: expected string, received number (and 1 more problem)"],
    ['{"steps": [], "changeSummary": {"create": "two"}}', "e.json: changeSummary.create: expected number, received string"],
  ])("%j: %s", (text, message) => {
    expect(thrown(() => parsePreviewJson(text, "e.json")).message).toBe(message);
  });
});

describe("parseEventLog", () => {
  it("reads a Pulumi Cloud event log: steps, the policy result, the packs, the summary", () => {
    const p = parseEventLog(fixture("drift-adopter-aws-s3-cloud-preview-engine-events.json"), "cloud.json");
    expect(ops(p.steps)).toEqual(["same simple-s3-test", "update test-bucket"]);
    expect(p.steps[1]).toMatchObject({
      changedKeys: ["tags.Environment", "tags.ManagedBy", "tagsAll.Environment", "tagsAll.ManagedBy"],
      diff: { "tags.Environment": "delete", "tags.ManagedBy": "delete", "tagsAll.Environment": "delete", "tagsAll.ManagedBy": "delete" },
    });
    expect(p.violations).toEqual([
      {
        policyName: "s3-bucket-replication-enabled",
        enforcementLevel: "advisory",
        message: "Encourages use of cross-region replication for S3 buckets.\nS3 buckets should have cross-region replication.",
        urn: "urn:pulumi:test::simple-s3::aws:s3/bucket:Bucket::test-bucket",
        resourceName: "test-bucket",
        policyPackName: "example-policies",
        policyPackVersion: "0.0.6",
      },
    ]);
    expect([p.policyResultsKnown, p.policyPacks, p.changeSummary, p.stack]).toEqual([true, { "example-policies": "0.0.6" }, { same: 1, update: 1 }, "test"]);
  });

  it("reads a CLI event log and collapses create-replacement, replace and delete-replaced", () => {
    const p = parseEventLog(fixture("pulumi-display-aws-webserver-replace-preview-engine-events.json"), "web.json");
    expect(ops(p.steps)).toEqual(["same aws-ts-webserver-dev", "same web-secgrp", "replace web-server-www"]);
    expect(p.steps[2]).toMatchObject({
      type: "aws:ec2/instance:Instance",
      changedKeys: ["userData"],
      replaceKeys: ["userData"],
      diff: { userData: "update-replace" },
    });
    expect([p.violations, p.policyPacks, p.changeSummary]).toEqual([[], {}, { replace: 1, same: 2 }]);
  });

  it("counts a resource once when its events repeat (the EKS preview emits its update twice)", () => {
    const p = parseEventLog(fixture("pulumi-display-aws-eks-large-preview-engine-events.json"), "eks.json");
    expect(p.steps).toHaveLength(58);
    expect(ops(p.steps.filter((s) => s.op !== "same"))).toEqual(["update cluster-nodes"]);
    expect(p.steps.filter((s) => s.op === "same")).toHaveLength(57);
    expect(p.changeSummary).toEqual({ same: 57, update: 1 });
  });

  it("reads a lone delete-replaced as a replace", () => {
    const p = parseEventLog(fixture("pulumi-display-python-dynamic-failed-up-engine-events.json"), "up.json");
    expect(ops(p.steps)).toEqual(["same test-dev", "update test-x", "replace test-r"]);
  });

  it("reads a failed up: the resOpFailedEvent becomes a failed step, the log an update that may have left corrupt state", () => {
    const p = parseEventLog(fixture("pulumi-display-python-dynamic-failed-up-engine-events.json"), "up.json");
    expect(p.failed).toEqual([
      {
        op: "update",
        urn: "urn:pulumi:dev::test::pulumi-python:dynamic:Resource::test-x",
        type: "pulumi-python:dynamic:Resource",
        name: "test-x",
        status: "unknown",
      },
    ]);
    expect([p.operation, p.maybeCorrupt]).toEqual(["update", true]);
  });

  it("reads a preview's event log as a preview, with no failed steps", () => {
    for (const name of ["pulumi-display-aws-webserver-replace-preview-engine-events.json", "drift-adopter-aws-s3-cloud-preview-engine-events.json"]) {
      const p = parseEventLog(fixture(name), name);
      expect([p.operation, p.failed, p.maybeCorrupt]).toEqual(["preview", undefined, undefined]);
    }
  });

  it("maps each resource.Status of a failed operation, and keeps the failure when the log is combined with a preview", () => {
    const urn = "urn:pulumi:prod::paved::aws:rds/instance:Instance::orders-db";
    const failedLine = (status: number, n: number) =>
      JSON.stringify({ sequence: n, resOpFailedEvent: { metadata: { op: "create", urn, type: "aws:rds/instance:Instance" }, status, steps: 1 } });
    const statuses = [0, 1, 2, 3, 9].map((status, i) => parseEventLog(failedLine(status, i), "f.jsonl").failed?.[0].status);
    expect(statuses).toEqual(["ok", "partial-failure", "unknown", "awaiting", undefined]);
    const both = combinePreview(parsePreviewJson(fixture("stratify-aws-s3-lambda-update.json"), "p.json"), parseEventLog(failedLine(1, 1), "f.jsonl"));
    expect([both.operation, both.failed?.map((f) => [f.op, f.name, f.status])]).toEqual(["update", [["create", "orders-db", "partial-failure"]]]);
  });

  it.each(["cli", "cloud"] as const)("reads generated %s-format logs: policy events at each level, colour tags stripped", (format) => {
    const db = { type: RDS, name: "orders-db" };
    const log = eventLog(
      "prod",
      [{ op: "delete", ...db, env: "prod" }],
      [
        policyEvent("prod", db, "rds-deletion-protection", "mandatory", "deletionProtection is false in prod"),
        policyEvent("prod", db, "rds-deletion-protection", "mandatory", "deletionProtection is false in prod"),
        policyEvent("prod", db, "rds-backup-retention", "advisory", "backups are kept 1 day"),
      ],
      format,
    );
    const p = parseEventLog(log, "events.jsonl");
    expect(ops(p.steps)).toEqual(["delete orders-db"]);
    expect(p.violations.map((v) => [v.policyName, v.enforcementLevel, v.message, v.resourceName])).toEqual([
      ["rds-deletion-protection", "mandatory", "deletionProtection is false in prod", "orders-db"],
      ["rds-backup-retention", "advisory", "backups are kept 1 day", "orders-db"],
    ]);
  });

  it("keeps error and warning diagnostics, not info or ephemeral ones", () => {
    const log = [
      eventLine("diagnosticEvent", { message: "\u001b[31mboom\u001b[0m\n", severity: "error", urn: "urn:pulumi:d::p::aws:s3/bucket:Bucket::b" }, 1),
      eventLine("diagnosticEvent", { message: "<{%fg 3%}>careful<{%reset%}>", severity: "warning" }, 2),
      eventLine("diagnosticEvent", { message: "console.log output", severity: "info" }, 3),
      eventLine("diagnosticEvent", { message: "progress", severity: "warning", ephemeral: true }, 4),
    ].join("\n");
    expect(parseEventLog(log, "e.jsonl").diagnostics).toEqual([
      { severity: "error", message: "boom", urn: "urn:pulumi:d::p::aws:s3/bucket:Bucket::b" },
      { severity: "warning", message: "careful" },
    ]);
  });

  it.each([
    [
      '{"sequence": 0, "cancelEvent": {}}\n\n{"sequence": 1, "resourcePreEvent": {"metadata": {"op": "same"',
      "e.jsonl:3:63 invalid JSON in the event log: expected ',' or '}' after a property value, found the end of the input",
    ],
    ['{"sequence": 0, "cancelEvent": {}}\r\n[1, 2]\r\n', "e.jsonl:2 expected an engine event (a JSON object) on each line"],
    ['{"sequence": 0, "cancelEvent": {}} {}\n', "e.jsonl:1:36 invalid JSON in the event log: unexpected text after the event"],
    ['{"sequence": 0}\n', "e.jsonl:1 not an engine event: no `type` and no `...Event` field"],
    ['{"type": "policyEvent", "policyEvent": {"policyName": "p", "message": "m"}}\n', "e.jsonl:1 policyEvent.enforcementLevel: missing (expected string)"],
    [
      '{"sequence": 3, "resourcePreEvent": {"metadata": {"op": "same", "urn": 7}}}\n',
      "e.jsonl:1 resourcePreEvent.metadata.urn: expected string, received number",
    ],
    ["\n\n", "e.jsonl: empty event log (expected the file written by `pulumi preview --event-log`)"],
  ])("%j: %s", (text, message) => {
    expect(thrown(() => parseEventLog(text, "e.jsonl")).message).toBe(message);
  });
});

describe("combinePreview", () => {
  it("takes steps, diagnostics and counts from the preview, policy results from the event log", () => {
    const preview = parsePreviewJson(fixture("drift-adopter-tls-random-command-mixed-replace.json"), "p.json");
    const events = parseEventLog(fixture("drift-adopter-aws-s3-cloud-preview-engine-events.json"), "e.json");
    const both = combinePreview(preview, events);
    expect(both.steps).toBe(preview.steps);
    expect(both.changeSummary).toBe(preview.changeSummary);
    expect(both.violations).toBe(events.violations);
    expect([both.policyResultsKnown, both.policyPacks, both.stack]).toEqual([true, { "example-policies": "0.0.6" }, "test-a692d456"]);
    expect(combinePreview(preview, undefined)).toBe(preview);
    expect(combinePreview(undefined, events)).toBe(events);
  });
});

describe("toPlannedStep and collapseSteps", () => {
  it("leaves changed keys out of creates and deletes", () => {
    expect(toPlannedStep({ op: "delete", urn: "urn:pulumi:s::p::aws:s3/bucket:Bucket::b", diffReasons: ["tags"] })!.changedKeys).toEqual([]);
  });

  it("makes a delete and a create of one URN a replace", () => {
    const del = toPlannedStep({ op: "delete", urn: "urn:pulumi:s::p::aws:s3/bucket:Bucket::b" })!;
    const create = toPlannedStep({ op: "create", urn: "urn:pulumi:s::p::aws:s3/bucket:Bucket::b" })!;
    expect(collapseSteps([del, create]).map((s) => s.op)).toEqual(["replace"]);
  });
});
