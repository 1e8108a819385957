/**
 * Benchmark: the whole Paved pack against the whole `@pulumi/awsguard` pack (its peer: a
 * CrossGuard pack of AWS rules), on the same generated mix of AWS and Kubernetes
 * resources, at 1,000 / 10,000 / 50,000 resources:
 *
 * - through `evaluate()` (what `paved check` and the service run in-process);
 * - through `@pulumi/policy`'s analyzer handlers (`makeAnalyzeRpcFun`: what a pack process
 *   runs for each `Analyze` call of the CLI), each resource a fresh `AnalyzeRequest`, as
 *   gRPC hands it over. Each pack runs as in its own process: Paved's with the
 *   properties cache its entry point installs (`policy-pack/analyzerCache.ts`), awsguard's
 *   without. Paved without the cache is measured too (what the cache buys);
 * - loading each pack (a fresh process requiring its policies: cold start of a pack).
 *
 * Runs alternate Paved / awsguard, which of the two goes first alternating too (so neither
 * always inherits the other's garbage), and each ratio is awsguard's time over Paved's in
 * the same pair of runs (> 1: Paved is faster). A run at a small size makes several passes
 * over the set (`passes`), so that it lasts long enough (~10,000 resources) for one pause
 * of the machine not to decide it; the rate is still that of a call on a set of that size.
 * Target: ≥ 1.5× on both paths.
 *
 *   npm run bench:policy [-- --counts 1000,10000,50000]
 */
import { createRequire } from "node:module";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { EvaluateResource, Policy } from "../policy-pack/api";
import { cacheDeserializedProperties, uncacheDeserializedProperties } from "../policy-pack/analyzerCache";
import { options as analyzerOptions } from "../test/policy-pack/analyzerHost";
import { RUNS, Row, exec, main, summarize, withTarget } from "./lib";

/* eslint-disable @typescript-eslint/no-require-imports */

const ROOT = join(__dirname, "..");

function counts(): number[] {
  const i = process.argv.indexOf("--counts");
  return i >= 0 ? process.argv[i + 1].split(",").map(Number) : [1_000, 10_000, 50_000];
}

const tags = (env: string) => ({ "paved:team": "payments", "paved:environment": env });

/** 10 kinds of resources, in equal shares, some compliant and some not. */
export function generateResources(count: number): EvaluateResource[] {
  const out: EvaluateResource[] = [];
  const envs = ["dev", "staging", "prod"];
  for (let i = 0; out.length < count; i++) {
    const env = envs[i % 3];
    const bad = i % 7 === 0;
    const parent = `urn:pulumi:dev::bench::paved:aws:Bucket::b${i}`;
    const kinds: EvaluateResource[] = [
      {
        type: "aws:rds/instance:Instance",
        name: `db${i}`,
        protect: env === "prod",
        props: {
          instanceClass: "db.m7g.large",
          storageEncrypted: !bad,
          publiclyAccessible: bad,
          backupRetentionPeriod: 14,
          deletionProtection: true,
          multiAz: true,
          tags: tags(env),
        },
      },
      {
        type: "aws:ec2/securityGroup:SecurityGroup",
        name: `sg${i}`,
        props: { ingress: [{ protocol: "tcp", fromPort: bad ? 22 : 443, toPort: bad ? 22 : 443, cidrBlocks: ["0.0.0.0/0"] }], tags: tags(env) },
      },
      { type: "aws:s3/bucket:Bucket", name: `bucket${i}`, parent, protect: env === "prod", props: { tags: tags(env) } },
      {
        type: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        name: `pab${i}`,
        parent,
        props: { bucket: `bucket${i}`, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: !bad },
      },
      { type: "aws:sqs/queue:Queue", name: `q${i}`, protect: env === "prod", props: { sqsManagedSseEnabled: !bad, tags: tags(env) } },
      {
        type: "aws:elasticache/replicationGroup:ReplicationGroup",
        name: `cache${i}`,
        protect: env === "prod",
        props: { atRestEncryptionEnabled: true, transitEncryptionEnabled: !bad, tags: tags(env) },
      },
      {
        type: "aws:iam/policy:Policy",
        name: `pol${i}`,
        props: { policy: JSON.stringify({ Statement: [{ Effect: "Allow", Action: bad ? "*" : "s3:GetObject", Resource: "*" }] }), tags: tags(env) },
      },
      {
        type: "kubernetes:apps/v1:Deployment",
        name: `web${i}`,
        props: {
          metadata: { name: `web${i}`, labels: { "paved.dev/environment": env } },
          spec: {
            template: {
              spec: {
                securityContext: { runAsNonRoot: true },
                containers: [
                  {
                    name: "app",
                    image: bad ? "nginx" : "nginx:1.27",
                    resources: { requests: { cpu: "1", memory: "1Gi" }, limits: { cpu: "1", memory: "1Gi" } },
                  },
                ],
              },
            },
          },
        },
      },
      {
        type: "kubernetes:core/v1:Namespace",
        name: `ns${i}`,
        protect: env === "prod",
        props: { metadata: { name: `ns${i}`, labels: { "pod-security.kubernetes.io/enforce": "restricted", "paved.dev/environment": env } } },
      },
      { type: "kubernetes:core/v1:ResourceQuota", name: `quota${i}`, props: { metadata: { name: "q", namespace: `ns${i}` }, spec: { hard: { pods: "10" } } } },
    ];
    out.push(...kinds.slice(0, count - out.length));
  }
  return out;
}

/** The areas of `@pulumi/awsguard`: requiring one registers its policies (no pack is constructed). */
const AWSGUARD_AREAS = ["apiGateway", "compute", "database", "elasticsearch", "network", "security", "storage"];

/** Every policy of the awsguard pack (what `new AwsGuard()` passes to its PolicyPack). */
export function awsguardPolicies(): Policy[] {
  const policy = require("@pulumi/policy/policy") as { isResourcePolicy(p: unknown): boolean; isStackPolicy(p: unknown): boolean };
  const out = new Set<Policy>();
  for (const area of AWSGUARD_AREAS) {
    for (const value of Object.values(require(`@pulumi/awsguard/${area}`) as Record<string, unknown>)) {
      if (policy.isResourcePolicy(value) || policy.isStackPolicy(value)) out.add(value as Policy);
    }
  }
  return [...out];
}

interface Pack {
  name: string;
  version: string;
  level: "advisory" | "mandatory";
  policies: Policy[];
  /** Whether its pack process installs the properties cache. */
  cache: boolean;
}

async function packs(): Promise<{ paved: Pack; awsguard: Pack }> {
  const { policies } = await import("../policy-pack/policies");
  const { PACK_ENFORCEMENT_LEVEL, PACK_NAME, packVersion } = await import("../policy-pack/manifest");
  return {
    paved: { name: PACK_NAME, version: packVersion(), level: PACK_ENFORCEMENT_LEVEL as "mandatory", policies, cache: true },
    awsguard: {
      name: "pulumi-awsguard",
      version: (require("@pulumi/awsguard/package.json") as { version: string }).version,
      level: "advisory",
      policies: awsguardPolicies(),
      cache: false,
    },
  };
}

/** Passes over a set of `count` resources in one timed run: ~10,000 resources a run, at least one pass. */
function passes(count: number): number {
  return Math.max(1, Math.round(10_000 / count));
}

/** Evaluates `resources` `times` times; the time for them all, and one pass's violations. */
async function timeEvaluate(pack: Pack, resources: EvaluateResource[], times = 1): Promise<{ ms: number; violations: number }> {
  const { evaluate } = await import("../policy-pack/api");
  const options = { policies: pack.policies, enforcementLevel: pack.level, pack: { name: pack.name, version: pack.version } };
  let violations = 0;
  const t0 = performance.now();
  for (let i = 0; i < times; i++) violations = (await evaluate(resources, options)).length;
  return { ms: performance.now() - t0, violations };
}

const proto = createRequire(require.resolve("@pulumi/pulumi/proto/analyzer_pb"));
const analyzerPb = proto("./analyzer_pb");
const structPb = proto("google-protobuf/google/protobuf/struct_pb");

/** Each resource as the `AnalyzeRequest` gRPC hands the pack (a fresh message per call). */
function requests(resources: EvaluateResource[]): unknown[] {
  return resources.map((r) => {
    const req = new analyzerPb.AnalyzeRequest();
    const urn = `urn:pulumi:dev::bench::${r.type}::${r.name}`;
    req.setUrn(urn);
    req.setType(r.type);
    req.setName(r.name);
    req.setProperties(structPb.Struct.fromJavaScript(r.props));
    req.setOptions(analyzerOptions({ urn, type: r.type, name: r.name, props: r.props, protect: r.protect, parent: r.parent }));
    return req;
  });
}

type Callback = (err: unknown, res: unknown) => void;

let configureRpc: ((call: { request: unknown }, callback: Callback) => Promise<void>) | undefined;

/**
 * The host's `Configure` handler, which `@pulumi/policy` does not export: taken from the
 * service its `serve()` registers, with gRPC's bind left out (no server listens). Then, as
 * the CLI does before it analyzes, each pack is configured with every policy's level and
 * schema defaults.
 */
function configureHandler(): NonNullable<typeof configureRpc> {
  if (configureRpc) return configureRpc;
  const grpc = createRequire(require.resolve("@pulumi/policy/server"))("@grpc/grpc-js") as {
    Server: { prototype: { addService(s: unknown, impl: Record<string, unknown>): void; bindAsync(...a: unknown[]): void } };
  };
  const proto = grpc.Server.prototype;
  const { addService, bindAsync } = proto;
  proto.addService = function (_service, impl) {
    configureRpc = impl.configure as typeof configureRpc;
  };
  proto.bindAsync = () => undefined;
  try {
    (require("@pulumi/policy/server") as { serve(...a: unknown[]): void }).serve("paved-bench-host", "0.0.0", "advisory", { policies: [] });
  } finally {
    proto.addService = addService;
    proto.bindAsync = bindAsync;
  }
  return configureRpc!;
}

async function configure(pack: Pack): Promise<void> {
  const { resolvePolicyConfig } = await import("../policy-pack/evaluate");
  const resolved = resolvePolicyConfig(pack.policies, {}, pack.level, { name: pack.name, version: pack.version });
  const req = new analyzerPb.ConfigureAnalyzerRequest();
  const map = req.getPolicyconfigMap();
  for (const [name, c] of resolved) {
    const pc = new analyzerPb.PolicyConfig();
    pc.setEnforcementlevel(analyzerPb.EnforcementLevel[c.enforcementLevel.toUpperCase()]);
    pc.setProperties(structPb.Struct.fromJavaScript(c.properties));
    map.set(name, pc);
  }
  await new Promise<void>((resolve, reject) => void configureHandler()({ request: req }, (err) => (err ? reject(err as Error) : resolve())));
}

type Handler = (call: { request: unknown }, callback: (err: unknown, res: { getDiagnosticsList(): unknown[] }) => void) => Promise<void>;

/**
 * Calls the pack's `Analyze` handler on every request, one after another (the engine's
 * order), as its process would; `times` passes, each with fresh requests (made before the
 * clock starts), as each `pulumi preview` sends.
 */
async function timeAnalyzer(pack: Pack, resources: EvaluateResource[], cache = pack.cache, times = 1): Promise<{ ms: number; diagnostics: number }> {
  const server = require("@pulumi/policy/server") as { makeAnalyzeRpcFun(...args: unknown[]): Handler };
  const analyze = server.makeAnalyzeRpcFun(pack.name, pack.version, pack.level, pack.policies);
  const reqs = Array.from({ length: times }, () => requests(resources)).flat();
  await configure(pack);
  if (cache) cacheDeserializedProperties();
  else uncacheDeserializedProperties();
  try {
    let diagnostics = 0;
    const t0 = performance.now();
    for (const request of reqs) {
      await new Promise<void>(
        (resolve, reject) =>
          void analyze({ request }, (err, res) => {
            if (err) return reject(err instanceof Error ? err : new Error(String(err)));
            diagnostics += res.getDiagnosticsList().length;
            resolve();
          }),
      );
    }
    return { ms: performance.now() - t0, diagnostics };
  } finally {
    uncacheDeserializedProperties();
  }
}

/** In a child: the time to load a pack's policies (a pack process's start). */
async function loadChild(which: string): Promise<void> {
  const t0 = performance.now();
  if (which === "paved") await import("../policy-pack/policies");
  else awsguardPolicies();
  process.stdout.write(JSON.stringify({ ms: performance.now() - t0 }));
}

export async function run(): Promise<Row[]> {
  const rows: Row[] = [];
  const { paved, awsguard } = await packs();
  const label = `Paved (${paved.policies.length} policies) vs awsguard (${awsguard.policies.length})`;

  // Cold: loading each pack, each run a fresh process (alternating).
  const load: Record<string, number[]> = { paved: [], awsguard: [] };
  for (let i = 0; i < RUNS; i++) {
    for (const which of ["paved", "awsguard"]) {
      const out = await exec(process.execPath, ["--import", "tsx", __filename, "--load", which], { cwd: ROOT });
      load[which].push((JSON.parse(out) as { ms: number }).ms);
    }
  }
  rows.push({ bench: "policy", what: "load the Paved pack's policies (tsx)", mode: "cold", unit: "ms", summary: summarize(load.paved) });
  rows.push({ bench: "policy", what: "load the awsguard pack's policies", mode: "cold", unit: "ms", summary: summarize(load.awsguard) });

  for (const count of counts()) {
    const resources = generateResources(count);
    const size = `${count.toLocaleString("en-US")} resources`;
    // Warm both paths up on a slice (JIT), then alternate.
    const slice = resources.slice(0, 500);
    for (const pack of [paved, awsguard]) {
      await timeEvaluate(pack, slice);
      await timeAnalyzer(pack, slice);
    }
    await timeAnalyzer(paved, slice, false);

    const times = passes(count);
    const perRun = times * count;
    const each = times > 1 ? `each run ${times} passes` : undefined;
    /** Runs `paved` and `awsguard` one after the other, the first of them alternating with `i`. */
    const pair = async <T>(i: number, time: (pack: Pack) => Promise<T>): Promise<[T, T]> => {
      if (i % 2 === 0) {
        const p = await time(paved);
        return [p, await time(awsguard)];
      }
      const a = await time(awsguard);
      return [await time(paved), a];
    };
    const ev = { paved: [] as number[], awsguard: [] as number[], ratio: [] as number[] };
    let violations = 0;
    for (let i = 0; i < RUNS; i++) {
      const [p, a] = await pair(i, (pack) => timeEvaluate(pack, resources, times));
      ev.paved.push(perRun / (p.ms / 1000));
      ev.awsguard.push(perRun / (a.ms / 1000));
      ev.ratio.push(a.ms / p.ms);
      violations = p.violations;
    }
    rows.push({
      bench: "policy",
      what: `evaluate(), Paved whole pack, ${size}`,
      mode: "warm",
      unit: "resources/s",
      summary: summarize(ev.paved),
      note: [`${violations} violations`, each].filter(Boolean).join("; "),
    });
    rows.push({ bench: "policy", what: `evaluate(), awsguard whole pack, ${size}`, mode: "warm", unit: "resources/s", summary: summarize(ev.awsguard) });
    rows.push(
      withTarget(
        { bench: "policy", what: `evaluate() ratio ${label}, ${size}`, mode: "warm", unit: "×", summary: summarize(ev.ratio) },
        1.5,
        "higher",
        "≥ 1.5×",
      ),
    );

    // The analyzer path is slower per resource (a protobuf message each): 50,000 is left to evaluate().
    if (count > 10_000) continue;
    const an = { paved: [] as number[], nocache: [] as number[], awsguard: [] as number[], ratio: [] as number[] };
    for (let i = 0; i < RUNS; i++) {
      const [p, a] = await pair(i, (pack) => timeAnalyzer(pack, resources, pack.cache, times));
      const n = await timeAnalyzer(paved, resources, false, times);
      an.paved.push(perRun / (p.ms / 1000));
      an.awsguard.push(perRun / (a.ms / 1000));
      an.nocache.push(perRun / (n.ms / 1000));
      an.ratio.push(a.ms / p.ms);
    }
    rows.push({
      bench: "policy",
      what: `analyzer handler, Paved whole pack, ${size}`,
      mode: "warm",
      unit: "resources/s",
      summary: summarize(an.paved),
      ...(each ? { note: each } : {}),
    });
    rows.push({
      bench: "policy",
      what: `analyzer handler, Paved without the properties cache, ${size}`,
      mode: "warm",
      unit: "resources/s",
      summary: summarize(an.nocache),
    });
    rows.push({ bench: "policy", what: `analyzer handler, awsguard whole pack, ${size}`, mode: "warm", unit: "resources/s", summary: summarize(an.awsguard) });
    rows.push(
      withTarget({ bench: "policy", what: `analyzer ratio ${label}, ${size}`, mode: "warm", unit: "×", summary: summarize(an.ratio) }, 1.5, "higher", "≥ 1.5×"),
    );
  }
  return rows;
}

if (require.main === module) {
  const i = process.argv.indexOf("--load");
  if (i >= 0) void loadChild(process.argv[i + 1]);
  else main(run);
}
