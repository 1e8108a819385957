/**
 * The simulate engine: diffs by URN and inputs, replace keys from the providers' rules, the
 * protect rule as Pulumi applies it, the digest guard, deterministic outputs, and pending
 * operations for a refresh to clear.
 */
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { diffStates, protectedViolations, SimResource } from "../../automation/engine/simulate/diff";
import { ProtectedResourceError, SimulateEngine, WARM_UP_SPEC, WARM_UP_STACK } from "../../automation/engine/simulate/engine";
import { OFFERINGS } from "../../components/guardrails";
import { PreviewChangedError } from "../../automation/engine/types";
import { classifyPreview } from "../../automation/risk";
import type { EnvironmentSpec } from "../../stacks/spec";

const res = (urn: string, type: string, inputs: Record<string, unknown>, protect = false): SimResource => ({
  urn,
  type,
  name: urn.split("::").pop()!,
  protect,
  custom: true,
  inputs,
});
const DB = "aws:rds/instance:Instance";

describe("diffStates", () => {
  const before = [
    res("u::db", DB, { instanceClass: "db.t4g.small", engine: "postgres", tags: { a: "1" } }, true),
    res("u::sg", "aws:ec2/securityGroup:SecurityGroup", { name: "sg" }),
    res("u::old", "aws:sqs/queue:Queue", {}),
  ];

  it("gives create, update, replace, delete and same by URN and inputs", () => {
    const after = [
      res("u::db", DB, { instanceClass: "db.m7g.large", engine: "postgres", tags: { a: "1" } }, true),
      res("u::sg", "aws:ec2/securityGroup:SecurityGroup", { name: "sg2" }),
      res("u::new", "aws:s3/bucket:Bucket", {}),
    ];
    expect(diffStates(before, after).map((s) => [s.op, s.name, s.changedKeys, s.replaceKeys, s.protect])).toEqual([
      ["update", "db", ["instanceClass"], [], true],
      ["replace", "sg", ["name"], ["name"], false],
      ["create", "new", [], [], false],
      ["delete", "old", [], [], false],
    ]);
    expect(diffStates(before, before).every((s) => s.op === "same")).toBe(true);
  });

  it("replaces a database whose engine changes, and flags the protected delete or replace", () => {
    const steps = diffStates(before, [res("u::db", DB, { instanceClass: "db.t4g.small", engine: "mysql", tags: { a: "1" } }, true)]);
    expect(steps[0]).toMatchObject({ op: "replace", replaceKeys: ["engine"], protect: true });
    expect(protectedViolations(steps).map((s) => s.urn)).toEqual(["u::db"]);
    expect(protectedViolations(diffStates(before, [])).map((s) => `${s.op} ${s.urn}`)).toEqual(["delete u::db"]);
  });
});

describe("SimulateEngine", () => {
  const states = new Map<string, string>();
  const engine = new SimulateEngine({ state: { getStackState: async (s) => states.get(s), putStackState: async (s, v) => void states.set(s, v) } });
  const spec: EnvironmentSpec = {
    team: "payments",
    environment: "prod",
    network: { vpcId: "vpc-1", subnetIds: ["subnet-a", "subnet-b"] },
    resources: [{ offering: "postgres", name: "orders-db", params: { tier: "small" } }],
  };
  const op = { stack: "payments-prod-orders-db", spec, action: "create" as const };

  beforeAll(async () => {
    const preview = await engine.preview(op);
    await engine.apply(op, { digest: preview.digest });
  }, 60_000);
  afterAll(() => engine.close());

  it("answers with the same outputs and digest for the same program", async () => {
    const state = JSON.parse(states.get(op.stack)!);
    expect(state.outputs["orders-db"].port).toBe(5432);
    const again = await engine.preview({ ...op, action: "update" });
    expect(again.changeSummary).toEqual({ same: 5 });
    expect(await engine.preview({ ...op, action: "update" })).toEqual(again);
  });

  it("refuses to apply anything but the approved preview", async () => {
    const update = { ...op, action: "update" as const, spec: { ...spec, resources: [{ ...spec.resources[0], params: { tier: "medium" } }] } };
    const preview = await engine.preview(update);
    await expect(engine.apply(update, { digest: `sha256:${"0".repeat(64)}` })).rejects.toBeInstanceOf(PreviewChangedError);
    expect(preview.steps.filter((s) => s.op !== "same").map((s) => `${s.op} ${s.type}`)).toEqual([`update ${DB}`]);
  });

  it("refuses to destroy a protected prod database unless the approved destroy unprotects it", async () => {
    const destroy = { ...op, action: "destroy" as const };
    const preview = await engine.preview(destroy);
    expect(preview.changeSummary).toEqual({ delete: 5 });
    const refused = engine.apply(destroy, { digest: preview.digest });
    await expect(refused).rejects.toBeInstanceOf(ProtectedResourceError);
    await expect(refused).rejects.toThrow(
      "refusing to delete or replace a protected resource: urn:pulumi:payments-prod-orders-db::paved::paved:aws:PostgresDatabase$aws:rds/instance:Instance::orders-db-db (unprotect it first: a destroy approved through the service does)",
    );
    expect(JSON.parse(states.get(op.stack)!).resources).toHaveLength(5);
    const progress: string[] = [];
    await engine.apply({ ...destroy, onProgress: (l) => progress.push(l) }, { digest: preview.digest, unprotect: true });
    expect(progress[0]).toBe("simulate: unprotecting 1 resource(s) for the approved destroy");
    expect(await engine.inspect(op.stack)).toEqual({ resources: 0, pendingOperations: [] });
  });

  it("rehearses on a state of its own, sharing the worker, which its close leaves running", async () => {
    // This process's children, but the `ps` that lists them.
    const workers = () =>
      execFileSync("ps", ["-o", "pid=,comm=", "--ppid", String(process.pid)], { encoding: "utf8" })
        .trim()
        .split("\n")
        .filter((line) => !/\sps$/.test(line))
        .sort();
    const running = workers();
    expect(running.length).toBeGreaterThan(0);
    const own = new Map<string, string>();
    const rehearsal = engine.rehearsal({ getStackState: async (s) => own.get(s), putStackState: async (s, v) => void own.set(s, v) });
    const stack = { ...op, stack: "payments-prod-rehearsed-db" };
    const preview = await rehearsal.preview(stack);
    await rehearsal.apply(stack, { digest: preview.digest });
    expect(JSON.parse(own.get(stack.stack)!).resources).toHaveLength(5);
    expect(states.has(stack.stack)).toBe(false);
    // The stack the service knows is empty for the rehearsal, and the other way round.
    expect(await rehearsal.inspect(op.stack)).toEqual({ resources: 0, pendingOperations: [] });
    expect(await engine.inspect(stack.stack)).toEqual({ resources: 0, pendingOperations: [] });
    expect(workers()).toEqual(running);
    await rehearsal.close();
    expect(workers()).toEqual(running);
  });

  it("rehearses without the step delay that stands for a provider's wait", async () => {
    const slow = new SimulateEngine({ state: { getStackState: async () => undefined, putStackState: async () => undefined }, stepDelayMs: 5000 });
    try {
      const own = new Map<string, string>();
      const rehearsal = slow.rehearsal({ getStackState: async (s) => own.get(s), putStackState: async (s, v) => void own.set(s, v) });
      const stack = { ...op, stack: "payments-prod-quick-db" };
      const preview = await rehearsal.preview(stack);
      const started = performance.now();
      await rehearsal.apply(stack, { digest: preview.digest });
      // Five creating steps: 25 s at the slow engine's pace.
      expect(performance.now() - started).toBeLessThan(4000);
      expect(JSON.parse(own.get(stack.stack)!).resources).toHaveLength(5);
    } finally {
      await slow.close();
    }
  });

  it("leaves pending operations when an apply stops midway, and a refresh clears them", async () => {
    const slow = new SimulateEngine({
      state: { getStackState: async (s) => states.get(s), putStackState: async (s, v) => void states.set(s, v) },
      stepDelayMs: 200,
    });
    try {
      const stack = { ...op, stack: "payments-prod-cut-db" };
      const preview = await slow.preview(stack);
      const abort = new AbortController();
      const applying = slow.apply({ ...stack, signal: abort.signal }, { digest: preview.digest });
      await new Promise((r) => setTimeout(r, 100));
      abort.abort();
      await expect(applying).rejects.toThrow("cancelled");
      const stuck = await slow.inspect(stack.stack);
      expect(stuck.pendingOperations).toHaveLength(5);
      expect(await slow.refresh(stack)).toEqual({ pendingCleared: 5 });
      expect((await slow.inspect(stack.stack)).pendingOperations).toEqual([]);
    } finally {
      await slow.close();
    }
  }, 60_000);
});

describe("SimulateEngine: the providers' rules on the real program", () => {
  const states = new Map<string, string>();
  const engine = new SimulateEngine({ state: { getStackState: async (s) => states.get(s), putStackState: async (s, v) => void states.set(s, v) } });
  afterAll(() => engine.close());
  const network = { vpcId: "vpc-1", subnetIds: ["subnet-a", "subnet-b"] };
  const changes = (p: { steps: { op: string; type: string; changedKeys: string[]; replaceKeys: string[] }[] }) =>
    p.steps.filter((s) => s.op !== "same").map((s) => [s.op, s.type, s.changedKeys, s.replaceKeys]);

  async function created(stack: string, spec: EnvironmentSpec) {
    const op = { stack, spec, action: "create" as const };
    const preview = await engine.preview(op);
    await engine.apply(op, { digest: preview.digest });
    return preview;
  }
  const update = (stack: string, spec: EnvironmentSpec) => engine.preview({ stack, spec, action: "update" });
  const redis = (params: Record<string, unknown>): EnvironmentSpec => ({
    team: "payments",
    environment: "prod",
    network,
    resources: [{ offering: "redis", name: "cache", params: { tier: "small", ...params } }],
  });

  it("replaces the replication group on a Redis downgrade 7.1 -> 7.0 (critical in prod), and updates it on an upgrade", async () => {
    await created("payments-prod-cache", redis({ engineVersion: "7.1" }));
    const down = await update("payments-prod-cache", redis({ engineVersion: "7.0" }));
    expect(changes(down)).toEqual([["replace", "aws:elasticache/replicationGroup:ReplicationGroup", ["engineVersion"], ["engineVersion"]]]);
    expect(classifyPreview(down.steps, "prod").level).toBe("critical");
    expect(down.steps.find((s) => s.op === "replace")?.protect).toBe(true);
  }, 60_000);

  it("on an AUTH token rotation, replaces the password and shows the SecretVersion and the group's authToken change", async () => {
    const rotated = await update("payments-prod-cache", redis({ engineVersion: "7.1", authTokenVersion: 2 }));
    expect(changes(rotated)).toEqual([
      ["replace", "random:index/randomPassword:RandomPassword", ["keepers.version"], ["keepers.version"]],
      ["replace", "aws:secretsmanager/secretVersion:SecretVersion", ["secretString"], ["secretString"]],
      ["update", "aws:elasticache/replicationGroup:ReplicationGroup", ["authToken"], []],
    ]);
  }, 60_000);

  it("replaces a web service's Deployment, Service and PodDisruptionBudget when its namespace changes", async () => {
    const web = (namespace: string): EnvironmentSpec => ({
      team: "payments",
      environment: "dev",
      resources: [{ offering: "web-service", name: "api", params: { namespace, image: "nginx:1.27", port: 8080 } }],
    });
    await created("payments-dev-api", web("apps"));
    expect(changes(await update("payments-dev-api", web("apps2"))).sort((a, b) => String(a[1]).localeCompare(String(b[1])))).toEqual([
      ["replace", "kubernetes:apps/v1:Deployment", ["metadata.namespace"], ["metadata.namespace"]],
      ["replace", "kubernetes:core/v1:Service", ["metadata.namespace"], ["metadata.namespace"]],
      ["replace", "kubernetes:policy/v1:PodDisruptionBudget", ["metadata.namespace"], ["metadata.namespace"]],
    ]);
  }, 60_000);

  it("previews a first create with unknown ids, as the engine does: stack policies that need them can't run", async () => {
    const spec: EnvironmentSpec = { team: "payments", environment: "dev", resources: [{ offering: "bucket", name: "files", params: {} }] };
    const first = await created("payments-dev-files", spec);
    expect(first.violations.map((v) => [v.policyName, v.enforcementLevel, v.resourceName])).toEqual([
      ["s3-public-access-block", "advisory", undefined],
      ["s3-server-side-encryption", "advisory", undefined],
    ]);
    for (const v of first.violations) expect(v.message).toMatch(new RegExp(`^can't run policy '${v.policyName}'.* during preview: `));
    // Once the bucket exists its id is known: the same policies give a verdict (and pass).
    expect((await update("payments-dev-files", spec)).violations).toEqual([]);
  }, 60_000);
});

describe("SimulateEngine.warm", () => {
  it("previews one instance of every offering on a stack of its own, and writes nothing", async () => {
    const read: string[] = [];
    const written: string[] = [];
    const engine = new SimulateEngine({
      state: {
        getStackState: async (stack) => void read.push(stack),
        putStackState: async (stack) => void written.push(stack),
      },
    });
    try {
      const preview = engine.preview.bind(engine);
      const previews: Awaited<ReturnType<typeof preview>>[] = [];
      engine.preview = async (op) => {
        const p = await preview(op);
        previews.push(p);
        return p;
      };
      await engine.warm();
      expect([...WARM_UP_SPEC.resources.map((r) => r.offering)].sort()).toEqual([...OFFERINGS].sort());
      expect(read).toEqual([WARM_UP_STACK]);
      expect(written).toEqual([]);
      // The spec passes the policies (a first preview leaves two advisories that need the
      // bucket's name, unknown until it is created): a warm-up that failed would warm nothing.
      expect(previews).toHaveLength(1);
      expect(previews[0]!.violations.filter((v) => v.enforcementLevel === "mandatory")).toEqual([]);
      expect(previews[0]!.steps.filter((s) => s.op === "create").length).toBeGreaterThan(12);
    } finally {
      await engine.close();
    }
  });
});
