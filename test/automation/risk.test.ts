import { describe, expect, it } from "vitest";
import {
  DEFAULT_APPROVAL_RULES,
  assessPreview,
  checkApprovals,
  classifyPreview,
  classifyStep,
  describeRequirement,
  onlyMetadataChanges,
  requiredApprovals,
  stepLevel,
} from "../../automation/risk";
import { PlannedStep, StepOp, nameFromUrn, normalizeOp, typeFromUrn } from "../../automation/steps";

function step(op: StepOp, type: string, name: string, extra: Partial<PlannedStep> = {}): PlannedStep {
  return { op, type, name, urn: `urn:pulumi:dev::paved::${type}::${name}`, changedKeys: [], replaceKeys: [], ...extra };
}

const RDS = "aws:rds/instance:Instance";
const SG = "aws:ec2/securityGroup:SecurityGroup";
const DEPLOY = "kubernetes:apps/v1:Deployment";

describe("classifyStep", () => {
  it.each([
    [step("create", RDS, "orders-db"), "dev", "low", ["creates aws:rds/instance:Instance orders-db"]],
    [step("create", SG, "orders-db-sg"), "dev", "low", ["creates aws:ec2/securityGroup:SecurityGroup orders-db-sg"]],
    [
      step("update", RDS, "orders-db", { changedKeys: ["tags", "tagsAll"] }),
      "dev",
      "low",
      ["updates only tags or labels of aws:rds/instance:Instance orders-db (tags, tagsAll)"],
    ],
    [
      step("update", DEPLOY, "api", { changedKeys: ["metadata.labels.team"] }),
      "dev",
      "low",
      ["updates only tags or labels of kubernetes:apps/v1:Deployment api (metadata.labels.team)"],
    ],
    [
      step("update", RDS, "orders-db", { changedKeys: ["instanceClass", "tags"] }),
      "dev",
      "medium",
      ["updates aws:rds/instance:Instance orders-db (instanceClass, tags)"],
    ],
    [
      step("replace", DEPLOY, "api", { replaceKeys: ["spec.selector"] }),
      "dev",
      "medium",
      ["replaces kubernetes:apps/v1:Deployment api because spec.selector changed"],
    ],
    [step("delete", DEPLOY, "api"), "dev", "medium", ["deletes kubernetes:apps/v1:Deployment api"]],
    [
      step("replace", RDS, "orders-db", { replaceKeys: ["engine"] }),
      "dev",
      "high",
      ["replaces aws:rds/instance:Instance orders-db because engine changed: its data is lost"],
    ],
    [step("delete", RDS, "orders-db"), "dev", "high", ["deletes aws:rds/instance:Instance orders-db: its data is lost"]],
    [step("delete", "paved:aws:PostgresDatabase", "orders-db"), "dev", "high", ["deletes paved:aws:PostgresDatabase orders-db: its data is lost"]],
    [
      step("update", SG, "orders-db-sg", { changedKeys: ["ingress"] }),
      "dev",
      "high",
      [
        "updates aws:ec2/securityGroup:SecurityGroup orders-db-sg (ingress)",
        "aws:ec2/securityGroup:SecurityGroup controls access: a change can open or close it",
      ],
    ],
    [step("create", RDS, "orders-db"), "prod", "medium", ["creates aws:rds/instance:Instance orders-db", "in prod: one level higher"]],
    [
      step("update", DEPLOY, "api", { changedKeys: ["spec"] }),
      "prod",
      "high",
      ["updates kubernetes:apps/v1:Deployment api (spec)", "in prod: one level higher"],
    ],
    [
      step("delete", RDS, "orders-db", { protect: true }),
      "prod",
      "critical",
      [
        "deletes aws:rds/instance:Instance orders-db: its data is lost",
        "aws:rds/instance:Instance orders-db is protected: Pulumi refuses to delete it until it is unprotected",
        "in prod: one level higher",
      ],
    ],
    [
      step("update", SG, "sg", { changedKeys: ["ingress"] }),
      "prod",
      "critical",
      [
        "updates aws:ec2/securityGroup:SecurityGroup sg (ingress)",
        "aws:ec2/securityGroup:SecurityGroup controls access: a change can open or close it",
        "in prod: one level higher",
      ],
    ],
  ] as const)("%o in %s is %s", (s, env, level, reasons) => {
    expect(classifyStep(s, env)).toEqual({ level, reasons });
  });

  it("rates steps that change nothing as none", () => {
    for (const op of ["same", "read", "refresh", "discard"] as const) {
      expect(classifyStep(step(op, RDS, "db"), "prod")).toEqual({ level: "none", reasons: [] });
    }
  });

  it("uses the resource's own environment over the request's", () => {
    expect(classifyStep(step("create", RDS, "db", { environment: "prod" }), "dev").level).toBe("medium");
    expect(classifyStep(step("create", RDS, "db", { environment: "dev" }), "prod").level).toBe("low");
  });

  it("knows metadata-only changes", () => {
    expect(onlyMetadataChanges(["tags.Team", "tagsAll.Team", "metadata.annotations.x", "labels"])).toBe(true);
    expect(onlyMetadataChanges(["tagsExtra"])).toBe(false);
    // Detailed-diff paths as the engine spells them (quoted keys, as the simulate engine reports them too).
    expect(onlyMetadataChanges(['tags["paved:team"]', 'tagsAll["paved:team"]', 'metadata.labels["paved.dev/team"]'])).toBe(true);
    expect(onlyMetadataChanges(['metadata.labels["paved.dev/team"]', "spec.template.metadata.labels.team"])).toBe(false);
    expect(onlyMetadataChanges([])).toBe(false);
  });
});

describe("classifyPreview", () => {
  it("takes the highest step and its reasons", () => {
    const r = classifyPreview([step("same", "pulumi:pulumi:Stack", "s"), step("create", "aws:sqs/queue:Queue", "q"), step("delete", RDS, "orders-db")], "dev");
    expect(r.level).toBe("high");
    expect(r.blocked).toBe(false);
    expect(r.reasons).toEqual(["deletes aws:rds/instance:Instance orders-db: its data is lost"]);
    expect(r.steps.map((s) => s.risk)).toEqual(["none", "low", "high"]);
  });

  it("is low when nothing changes, and blocked by a mandatory violation only", () => {
    expect(classifyPreview([step("same", RDS, "db")], "prod")).toMatchObject({ level: "low", blocked: false, reasons: [] });
    const violations = [
      { policyName: "rds-no-public-access", enforcementLevel: "mandatory", message: "publiclyAccessible is true", resourceName: "db" },
      { policyName: "required-tags", enforcementLevel: "advisory", message: "missing tag paved:team", resourceName: "db" },
    ];
    const r = classifyPreview([step("create", RDS, "db")], "dev", violations);
    expect(r.blocked).toBe(true);
    expect(r.reasons).toEqual(["creates aws:rds/instance:Instance db", "policy rds-no-public-access (mandatory) on db: publiclyAccessible is true"]);
    expect(classifyPreview([step("create", RDS, "db")], "dev", [violations[1]]).blocked).toBe(false);
  });
});

describe("approvals", () => {
  it("needs none within the team's autonomy, else follows the rules", () => {
    expect(requiredApprovals("low", { autonomy: "low" })).toEqual({ level: "low", auto: true, count: 0 });
    expect(requiredApprovals("medium", { autonomy: "low" })).toEqual({ level: "medium", auto: false, count: 1 });
    expect(requiredApprovals("high", { autonomy: "low" })).toEqual({ level: "high", auto: false, count: 1, group: "platform" });
    expect(requiredApprovals("critical", { autonomy: "high" })).toEqual({ level: "critical", auto: false, count: 2, group: "platform" });
    expect(requiredApprovals("low", { autonomy: "none" })).toEqual({ level: "low", auto: false, count: 1 });
    const rules = { ...DEFAULT_APPROVAL_RULES, medium: { count: 2, group: "leads" } };
    expect(requiredApprovals("medium", { autonomy: "low", rules })).toEqual({ level: "medium", auto: false, count: 2, group: "leads" });
  });

  it("describes a requirement in words", () => {
    expect(describeRequirement(requiredApprovals("low", { autonomy: "low" }))).toBe("applied without approval (within the team's autonomy)");
    expect(describeRequirement(requiredApprovals("medium", { autonomy: "low" }))).toBe("1 approval");
    expect(describeRequirement(requiredApprovals("critical", { autonomy: "low" }))).toBe("2 approvals from platform");
  });

  const groups: Record<string, string[]> = { bob: ["platform"], carol: ["platform"], dave: [] };
  const now = new Date("2026-11-25T12:00:00Z");
  const ctx = { requester: "alice", digest: "d1", now, groupsOf: (p: string) => groups[p] ?? [] };
  const critical = requiredApprovals("critical", { autonomy: "low" });

  it("counts two distinct platform approvers for critical", () => {
    const check = checkApprovals(
      critical,
      [
        { by: "bob", at: "2026-11-25T11:00:00Z", digest: "d1" },
        { by: "carol", at: "2026-11-25T11:30:00Z", digest: "d1" },
      ],
      ctx,
    );
    expect(check).toEqual({ satisfied: true, counted: ["bob", "carol"], missing: 0, ignored: [] });
  });

  it("ignores the requester, repeats, other digests, expired approvals and outsiders, saying why", () => {
    const check = checkApprovals(
      critical,
      [
        { by: "alice", at: "2026-11-25T11:00:00Z", digest: "d1" },
        { by: "bob", at: "2026-11-25T11:00:00Z", digest: "d1" },
        { by: "bob", at: "2026-11-25T11:10:00Z", digest: "d1" },
        { by: "carol", at: "2026-11-25T11:00:00Z", digest: "d0" },
        { by: "carol", at: "2026-11-24T11:59:59Z", digest: "d1" },
        { by: "dave", at: "2026-11-25T11:00:00Z", digest: "d1" },
      ],
      ctx,
    );
    expect(check).toEqual({
      satisfied: false,
      counted: ["bob"],
      missing: 1,
      ignored: [
        { by: "alice", reason: "the requester cannot approve their own request" },
        { by: "bob", reason: "already counted" },
        { by: "carol", reason: "approved a different preview" },
        { by: "carol", reason: "expired" },
        { by: "dave", reason: "not in group platform" },
      ],
    });
  });

  it("lets anyone but the requester approve a medium change, and honours a custom expiry", () => {
    const medium = requiredApprovals("medium", { autonomy: "low" });
    expect(checkApprovals(medium, [{ by: "dave", at: "2026-11-25T11:00:00Z", digest: "d1" }], ctx).satisfied).toBe(true);
    expect(checkApprovals(medium, [{ by: "dave", at: "2026-11-25T11:00:00Z", digest: "d1" }], { ...ctx, expiryMs: 30 * 60 * 1000 })).toMatchObject({
      satisfied: false,
      ignored: [{ by: "dave", reason: "expired" }],
    });
    expect(checkApprovals(requiredApprovals("low", { autonomy: "low" }), [], ctx).satisfied).toBe(true);
  });
});

describe("steps", () => {
  it("normalizes Pulumi's ops and reads URNs", () => {
    expect(["create-replacement", "delete-replaced", "same", "import-replacement", "bogus"].map(normalizeOp)).toEqual([
      "replace",
      "replace",
      "same",
      "import",
      undefined,
    ]);
    const urn = "urn:pulumi:prod::shop::paved:aws:PostgresDatabase$aws:rds/instance:Instance::orders-db-db";
    expect(typeFromUrn(urn)).toBe("aws:rds/instance:Instance");
    expect(nameFromUrn(urn)).toBe("orders-db-db");
  });
});

describe("assessPreview and stepLevel", () => {
  const types = [RDS, SG, DEPLOY, "aws:s3/bucket:Bucket", "paved:aws:PostgresDatabase"];
  const ops: StepOp[] = ["create", "import", "update", "replace", "delete", "same", "read", "refresh", "discard"];
  const steps: PlannedStep[] = [];
  for (const op of ops) {
    for (const type of types) {
      steps.push(step(op, type, `${op}-a`, { changedKeys: ["tags"], protect: true }));
      steps.push(step(op, type, `${op}-b`, { changedKeys: ["engineVersion"], replaceKeys: ["engineVersion"], environment: "prod" }));
    }
  }

  it.each(["dev", "staging", "prod"] as const)("stepLevel is classifyStep's level for every op and type (%s)", (env) => {
    for (const s of steps) expect(stepLevel(s, env), `${s.op} ${s.type} ${s.name}`).toBe(classifyStep(s, env).level);
  });

  it.each(["dev", "prod"] as const)("gives classifyPreview's level, blocked and reasons, and each step's level (%s)", (env) => {
    const violations = [
      { policyName: "rds-storage-encrypted", enforcementLevel: "mandatory", message: "not encrypted", resourceName: "db" },
      { policyName: "tags", enforcementLevel: "advisory", message: "no tags" },
    ];
    for (const subset of [steps, steps.filter((s) => s.op === "create"), steps.filter((s) => s.op === "same"), []]) {
      const full = classifyPreview(subset, env, violations);
      const lean = assessPreview(subset, env, violations);
      expect(lean.level).toBe(full.level);
      expect(lean.blocked).toBe(full.blocked);
      expect(lean.reasons).toEqual(full.reasons);
      expect(lean.levels).toEqual(full.steps.map((s) => s.risk));
    }
  });
});
