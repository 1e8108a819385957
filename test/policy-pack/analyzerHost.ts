/**
 * What the Pulumi CLI does with a Node.js policy pack, reproduced without the CLI, so that
 * tests can drive the pack exactly as `pulumi preview --policy-pack <dir>` does.
 *
 * - Start: pulumi/pulumi `sdk/go/common/resource/plugin/analyzer_plugin.go`
 *   (`NewPolicyAnalyzer`): for runtime `nodejs` the CLI runs the `pulumi-analyzer-policy`
 *   plugin with the pack directory as working directory and the arguments
 *   `<engine address> .`; that script (`sdk/nodejs/dist/pulumi-analyzer-policy`) resolves
 *   `@pulumi/pulumi/cmd/run-policy-pack` with `node -e "require.resolve(...)"` from that
 *   directory and runs it with node. The pack prints its port on stdout. Environment:
 *   `constructEnv` (PULUMI_NODEJS_PROJECT, _STACK, _ORGANIZATION, _DRY_RUN, and the same
 *   without NODEJS_).
 * - Then: `Handshake` (an UNIMPLEMENTED answer is accepted), `ConfigureStack`,
 *   `GetAnalyzerInfo` (schemas read back with `enforcementLevel` injected),
 *   `GetPluginInfo`, the config reconciled (`reconcilePolicyPackConfig`, from
 *   `pkg/resource/analyzer/config.go`) and sent with `Configure`; then `Analyze` per
 *   resource and `AnalyzeStack` (`pkg/resource/deploy`), properties marshalled with
 *   secrets and unknowns kept (`MarshalProperties{KeepUnknowns, KeepSecrets}`).
 * - The build: the pack's closure compiled with the project's build options
 *   (tsconfig.build.json) and `scripts/postbuild.js`, shipped through `npm pack`'s file
 *   list (the `files` of package.json), installed as `node_modules/paved`.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { AnalyzerPolicyConfig, AnalyzerPolicyInfo, EnforcementLevel, parsePolicyPackConfig, reconcilePolicyPackConfig } from "../../policy-pack/engineConfig";

export const repo = resolve(__dirname, "..", "..");

const proto = createRequire(require.resolve("@pulumi/pulumi/proto/analyzer_pb"));
const analyzerPb = proto("./analyzer_pb");
const analyzerRpc = proto("./analyzer_grpc_pb");
const engineRpc = proto("./engine_grpc_pb");
const structPb = proto("google-protobuf/google/protobuf/struct_pb");
const emptyPb = proto("google-protobuf/google/protobuf/empty_pb");

function sh(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, npm_config_update_notifier: "false" } });
}

/** The installed package: `<root>/node_modules/paved`, its pack directory, and the files npm ships. */
export interface InstalledPackage {
  root: string;
  packDir: string;
  shipped: string[];
  cleanup(): void;
}

/**
 * Compiles the policy pack (and what it imports) with the build's compiler options into a
 * staging copy of the package, runs the build's post step, lists what `npm pack` would
 * ship, and installs exactly those files as `node_modules/paved` next to the repository's
 * dependencies (symlinked). Much faster than the whole build, same output for these files.
 */
export function buildAndInstall(): InstalledPackage {
  const work = mkdtempSync(join(tmpdir(), "paved-pack-dir-"));
  const stage = join(work, "stage");
  mkdirSync(stage);
  writeFileSync(
    join(stage, "tsconfig.json"),
    JSON.stringify({
      extends: join(repo, "tsconfig.build.json"),
      compilerOptions: { rootDir: repo, outDir: join(stage, "dist"), typeRoots: [join(repo, "node_modules", "@types")] },
      include: [join(repo, "policy-pack", "**", "*.ts")],
    }),
  );
  sh(process.execPath, [join(repo, "node_modules", "typescript", "bin", "tsc"), "-p", join(stage, "tsconfig.json")], stage);
  cpSync(join(repo, "package.json"), join(stage, "package.json"));
  sh(process.execPath, [join(repo, "scripts", "postbuild.js"), join(stage, "dist")], repo);
  const out = sh("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], stage);
  const shipped = (JSON.parse(out.slice(out.indexOf("[")))[0].files as { path: string }[]).map((f) => f.path).sort();

  const root = join(work, "app");
  const paved = join(root, "node_modules", "paved");
  for (const file of shipped) {
    mkdirSync(dirname(join(paved, file)), { recursive: true });
    cpSync(join(stage, file), join(paved, file));
  }
  writeFileSync(join(root, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true }));
  for (const entry of readdirSync(join(repo, "node_modules"))) {
    if (entry === ".bin" || entry === "paved" || entry.startsWith(".")) continue;
    symlinkSync(join(repo, "node_modules", entry), join(root, "node_modules", entry));
  }
  return { root, packDir: join(paved, "dist", "policy-pack"), shipped, cleanup: () => rmSync(work, { recursive: true, force: true }) };
}

/** A stand-in for the engine's gRPC server (the address the CLI gives the pack): records log calls. */
export interface FakeEngine {
  address: string;
  logs: { severity: number; message: string }[];
  close(): Promise<void>;
}

export async function startFakeEngine(): Promise<FakeEngine> {
  const server = new grpc.Server();
  const logs: FakeEngine["logs"] = [];
  const empty = () => new emptyPb.Empty();
  server.addService(engineRpc.EngineService, {
    log: (call: any, cb: any) => {
      logs.push({ severity: call.request.getSeverity(), message: call.request.getMessage() });
      cb(null, empty());
    },
    getRootResource: (_call: any, cb: any) => cb(null, new (proto("./engine_pb").GetRootResourceResponse)()),
    setRootResource: (_call: any, cb: any) => cb(null, new (proto("./engine_pb").SetRootResourceResponse)()),
  });
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
  );
  return { address: `127.0.0.1:${port}`, logs, close: () => new Promise((r) => server.tryShutdown(() => r())) };
}

/** Where the `pulumi-analyzer-policy` script finds the runner: resolved from the pack directory. */
export function resolveRunPolicyPack(packDir: string): string {
  return sh(
    process.execPath,
    ["-e", "try { console.log(require.resolve('@pulumi/pulumi/cmd/run-policy-pack')) } catch (e) { console.error(e.message) }"],
    packDir,
  ).trim();
}

/** A pack process started as the CLI starts it. */
export interface StartedPack {
  child: ChildProcess;
  port: number;
  stderr: () => string;
  stop(): Promise<void>;
}

export interface ExitedPack {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface PackContext {
  project: string;
  stack: string;
  organization: string;
  dryRun: boolean;
}

/** Starts the pack in `packDir`: resolves with its port, or with its exit when it exits first. */
export function startPack(packDir: string, engineAddress: string, ctx: PackContext, timeoutMs = 120_000): Promise<StartedPack | ExitedPack> {
  const script = resolveRunPolicyPack(packDir);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PULUMI_NODEJS_ORGANIZATION: ctx.organization,
    PULUMI_NODEJS_PROJECT: ctx.project,
    PULUMI_NODEJS_STACK: ctx.stack,
    PULUMI_NODEJS_DRY_RUN: String(ctx.dryRun),
    PULUMI_ORGANIZATION: ctx.organization,
    PULUMI_PROJECT: ctx.project,
    PULUMI_STACK: ctx.stack,
    PULUMI_DRY_RUN: String(ctx.dryRun),
  };
  const child = spawn(process.execPath, [script, engineAddress, "."], { cwd: packDir, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  return new Promise((res, rej) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      rej(new Error(`the pack printed no port in ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.stdout!.on("data", (d) => {
      stdout += d;
      const line = stdout.split("\n")[0];
      if (stdout.includes("\n") && /^\d+$/.test(line.trim())) {
        clearTimeout(timer);
        res({
          child,
          port: Number(line.trim()),
          stderr: () => stderr,
          stop: () =>
            new Promise<void>((r) => {
              if (child.exitCode !== null) return r();
              child.once("exit", () => r());
              child.kill("SIGTERM");
            }),
        });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr });
    });
  });
}

const LEVEL_NAMES: Record<number, EnforcementLevel> = {
  [analyzerPb.EnforcementLevel.ADVISORY]: "advisory",
  [analyzerPb.EnforcementLevel.MANDATORY]: "mandatory",
  [analyzerPb.EnforcementLevel.REMEDIATE]: "remediate",
  [analyzerPb.EnforcementLevel.DISABLED]: "disabled",
};
const LEVEL_NUMBERS = Object.fromEntries(Object.entries(LEVEL_NAMES).map(([n, l]) => [l, Number(n)])) as Record<EnforcementLevel, number>;

/** A resource as the engine sends it to `Analyze` and `AnalyzeStack`. */
export interface AnalyzedResource {
  urn: string;
  type: string;
  name: string;
  /** Properties in wire form (secrets as signature objects, unknowns as the unknown sentinel). */
  props: Record<string, unknown>;
  protect?: boolean;
  parent?: string;
  dependencies?: string[];
}

/** One diagnostic as the engine receives it. */
export interface EngineDiagnostic {
  policyName: string;
  policyPackName: string;
  policyPackVersion: string;
  description: string;
  /** The text the engine shows. */
  message: string;
  enforcementLevel: EnforcementLevel;
  /** The diagnostic's own URN; empty when the pack gave none. */
  urn: string;
}

function unary<Req, Res>(client: any, method: string, request: Req): Promise<Res> {
  return new Promise((res, rej) => client[method](request, (err: Error | null, out: Res) => (err ? rej(err) : res(out))));
}

function diagnostics(response: any): EngineDiagnostic[] {
  return response.getDiagnosticsList().map((d: any) => ({
    policyName: d.getPolicyname(),
    policyPackName: d.getPolicypackname(),
    policyPackVersion: d.getPolicypackversion(),
    description: d.getDescription(),
    message: d.getMessage(),
    enforcementLevel: LEVEL_NAMES[d.getEnforcementlevel()],
    urn: d.getUrn(),
  }));
}

export function options(r: AnalyzedResource): any {
  const o = new analyzerPb.AnalyzerResourceOptions();
  o.setProtect(r.protect === true);
  o.setIgnorechangesList([]);
  o.setAliasesList([]);
  o.setAdditionalsecretoutputsList([]);
  const timeouts = new analyzerPb.AnalyzerResourceOptions.CustomTimeouts();
  o.setCustomtimeouts(timeouts);
  if (r.parent) o.setParent(r.parent);
  return o;
}

/** A gRPC client of the pack, speaking as the CLI does. */
export class AnalyzerDriver {
  private readonly client: any;

  constructor(port: number) {
    this.client = new analyzerRpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  }

  close(): void {
    this.client.close();
  }

  /** `Handshake`: the gRPC status code of the answer (0 when it answered). */
  async handshake(engineAddress: string, dir: string): Promise<number> {
    const req = new analyzerPb.AnalyzerHandshakeRequest();
    req.setEngineAddress(engineAddress);
    req.setRootDirectory(dir);
    req.setProgramDirectory(dir);
    try {
      await unary(this.client, "handshake", req);
      return 0;
    } catch (err) {
      return (err as { code: number }).code;
    }
  }

  async configureStack(ctx: PackContext): Promise<void> {
    const req = new analyzerPb.AnalyzerStackConfigureRequest();
    req.setStack(ctx.stack);
    req.setProject(ctx.project);
    req.setOrganization(ctx.organization);
    await unary(this.client, "configureStack", req);
  }

  /** `GetAnalyzerInfo`, read as the CLI reads it (`analyzer.GetAnalyzerInfo`). */
  async analyzerInfo(): Promise<{
    name: string;
    version: string;
    supportsConfig: boolean;
    policies: AnalyzerPolicyInfo[];
    initialConfig: Record<string, AnalyzerPolicyConfig>;
  }> {
    const info = await unary<any, any>(this.client, "getAnalyzerInfo", new emptyPb.Empty());
    const policies: AnalyzerPolicyInfo[] = info.getPoliciesList().map((p: any) => {
      const schema = p.getConfigschema();
      return {
        name: p.getName(),
        enforcementLevel: LEVEL_NAMES[p.getEnforcementlevel()],
        ...(schema ? { configSchema: { properties: schema.getProperties()?.toJavaScript() ?? {}, required: schema.getRequiredList() } } : {}),
      };
    });
    const initialConfig: Record<string, AnalyzerPolicyConfig> = {};
    info.getInitialconfigMap().forEach((v: any, k: string) => {
      initialConfig[k] = { enforcementLevel: LEVEL_NAMES[v.getEnforcementlevel()], properties: v.getProperties()?.toJavaScript() };
    });
    return { name: info.getName(), version: info.getVersion(), supportsConfig: info.getSupportsconfig(), policies, initialConfig };
  }

  async pluginVersion(): Promise<string> {
    return (await unary<any, any>(this.client, "getPluginInfo", new emptyPb.Empty())).getVersion();
  }

  /**
   * The CLI's config step for a local pack: the `--policy-pack-config` file's content
   * parsed, reconciled with the pack's policies and initial config, validated, and sent
   * with `Configure`. Returns the validation errors (and configures nothing) when invalid.
   */
  async configure(fileContent: unknown): Promise<{ errors: string[]; sent: Map<string, AnalyzerPolicyConfig> }> {
    const info = await this.analyzerInfo();
    const { config, errors } = reconcilePolicyPackConfig(info.policies, info.initialConfig, parsePolicyPackConfig(fileContent));
    if (errors.length > 0) return { errors, sent: new Map() };
    const req = new analyzerPb.ConfigureAnalyzerRequest();
    const map = req.getPolicyconfigMap();
    for (const [name, c] of config) {
      // `analyzer.Configure` refuses an entry without a valid level.
      if (c.enforcementLevel === undefined) throw new Error(`invalid enforcement level ""`);
      const pc = new analyzerPb.PolicyConfig();
      pc.setEnforcementlevel(LEVEL_NUMBERS[c.enforcementLevel]);
      pc.setProperties(structPb.Struct.fromJavaScript(c.properties ?? {}));
      map.set(name, pc);
    }
    await unary(this.client, "configure", req);
    return { errors: [], sent: config };
  }

  /** `Analyze` of one resource; the diagnostics as the engine records them (on that resource's URN). */
  async analyze(r: AnalyzedResource): Promise<EngineDiagnostic[]> {
    const req = new analyzerPb.AnalyzeRequest();
    req.setUrn(r.urn);
    req.setType(r.type);
    req.setName(r.name);
    req.setProperties(structPb.Struct.fromJavaScript(r.props));
    req.setOptions(options(r));
    return diagnostics(await unary(this.client, "analyze", req));
  }

  /** `AnalyzeStack` of every resource. */
  async analyzeStack(resources: AnalyzedResource[]): Promise<EngineDiagnostic[]> {
    const req = new analyzerPb.AnalyzeStackRequest();
    req.setResourcesList(
      resources.map((r) => {
        const ar = new analyzerPb.AnalyzerResource();
        ar.setUrn(r.urn);
        ar.setType(r.type);
        ar.setName(r.name);
        ar.setProperties(structPb.Struct.fromJavaScript(r.props));
        ar.setOptions(options(r));
        if (r.parent) ar.setParent(r.parent);
        ar.setDependenciesList(r.dependencies ?? []);
        return ar;
      }),
    );
    return diagnostics(await unary(this.client, "analyzeStack", req));
  }
}
