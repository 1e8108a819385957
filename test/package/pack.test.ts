/**
 * The package as developers consume it: `npm pack`, install the tarball into a fresh
 * project, compile a small stack that imports the components with `tsc`, and run it under
 * Pulumi mocks. Dependencies come from the npm cache that `npm ci` filled (--prefer-offline).
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../net";
import { AnalyzerDriver, resolveRunPolicyPack, startFakeEngine, startPack } from "../policy-pack/analyzerHost";
import { freshDatabase, postgresUnavailable } from "../postgres";

const repo = resolve(__dirname, "../..");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const npx = process.platform === "win32" ? "npx.cmd" : "npx";
let work: string;
let tarball: string;

function sh(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, npm_config_update_notifier: "false" } });
}

const STACK = `
import * as pulumi from "@pulumi/pulumi";
import { Bucket, PostgresDatabase, TeamNamespace, WebService, tiers } from "paved";

export function program() {
  const db = new PostgresDatabase("orders-db", {
    team: "payments",
    environment: "prod",
    tier: "medium",
    network: { vpcId: "vpc-0123", subnetIds: ["subnet-a", "subnet-b"] },
  });
  const bucket = new Bucket("receipts", { team: "payments", environment: "dev" });
  const ns = new TeamNamespace("payments-dev", { team: "payments", environment: "dev" });
  const web = new WebService("api", {
    team: "payments",
    environment: "dev",
    namespace: ns.namespace,
    image: "ghcr.io/acme/api:1.4.2",
    port: 8080,
  });
  return { endpoint: db.endpoint, bucketName: bucket.bucketName, service: web.serviceName, mediumClass: tiers.medium.rds.instanceClass };
}
`;

const RUN = `
const pulumi = require("@pulumi/pulumi");
const registered = [];
pulumi.runtime.setMocks({
  newResource: (args) => { registered.push(args.type); return { id: args.name + "-id", state: { ...args.inputs, address: "db.example", bucket: args.inputs.bucket ?? args.name } }; },
  call: (args) => args.inputs,
}, "consumer", "dev", false);
const { program } = require("./dist/index.js");
const out = program();
Promise.all([out.endpoint, out.bucketName, out.service].map((o) => new Promise((r) => o.apply(r)))).then(([endpoint, bucketName, service]) => {
  setTimeout(() => {
    console.log(JSON.stringify({ endpoint, bucketName, service, mediumClass: out.mediumClass, types: [...new Set(registered)].sort() }));
  }, 200);
});
`;

if (postgresUnavailable()) console.log(`paved serve from the package skipped: ${postgresUnavailable()}`);

describe("the npm package", () => {
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), "paved-pack-"));
    const out = sh(npm, ["pack", "--pack-destination", work, "--json"], repo);
    const name = JSON.parse(out.slice(out.indexOf("[")))[0].filename as string;
    tarball = join(work, name);
    const consumer = join(work, "consumer");
    execFileSync("mkdir", ["-p", join(consumer, "src")]);
    writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true }));
    writeFileSync(join(consumer, "src", "index.ts"), STACK);
    writeFileSync(join(consumer, "run.js"), RUN);
    writeFileSync(
      join(consumer, "tsconfig.json"),
      JSON.stringify({
        // The README's consumer tsconfig, as is.
        compilerOptions: { target: "ES2022", module: "nodenext", strict: true, rootDir: "src", outDir: "dist", skipLibCheck: true },
        include: ["src"],
      }),
    );
    sh(npm, ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts", tarball], consumer);
  }, 600_000);

  // Two installed projects: removing them takes a while on a busy machine.
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  }, 300_000);

  it("ships compiled JavaScript and declarations, and no tests or sources", () => {
    const listing = sh("tar", ["-tzf", tarball], work).split("\n").filter(Boolean);
    expect(listing).toContain("package/dist/components/index.js");
    expect(listing).toContain("package/dist/components/index.d.ts");
    expect(listing).toContain("package/README.md");
    expect(listing.filter((f) => f.startsWith("package/test/") || f.startsWith("package/dist/test/"))).toEqual([]);
    expect(listing.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
  });

  it("compiles a consumer stack with tsc and runs it under mocks", () => {
    const consumer = join(work, "consumer");
    expect(readdirSync(join(consumer, "node_modules"))).toContain("paved");
    sh(process.execPath, [join(repo, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], consumer);
    expect(readFileSync(join(consumer, "dist/index.js"), "utf8")).toContain('require("paved")');
    const result = JSON.parse(sh(process.execPath, ["run.js"], consumer).trim().split("\n").pop()!);
    expect(result.mediumClass).toBe("db.m7g.large");
    expect(result.bucketName).toMatch(/^receipts/);
    expect(result.endpoint).toBe("db.example");
    expect(result.types).toEqual(
      expect.arrayContaining([
        "paved:aws:PostgresDatabase",
        "aws:rds/instance:Instance",
        "paved:aws:Bucket",
        "paved:kubernetes:TeamNamespace",
        "paved:kubernetes:WebService",
        "kubernetes:apps/v1:Deployment",
      ]),
    );
  }, 180_000);

  it("its bin checks a spec from the built files (paved check)", () => {
    const consumer = join(work, "consumer");
    writeFileSync(
      join(consumer, "spec.yaml"),
      "team: payments\nenvironment: dev\nnetwork: { vpcId: vpc-1, subnetIds: [subnet-a, subnet-b] }\nresources:\n  - { offering: postgres, name: orders-db, params: { tier: small } }\n  - { offering: queue, name: payouts }\n",
    );
    const out = sh(join(consumer, "node_modules", ".bin", "paved"), ["check", "spec.yaml"], consumer);
    expect(out).toContain("  ├─ paved:aws:PostgresDatabase orders-db\n");
    expect(out).toContain("  │  ├─ aws:rds/instance:Instance orders-db-db\n");
    expect(out).toContain("Policies: no violations.\n");
    expect(out).toMatch(/^PASSED: 0 mandatory, 0 advisory violations \(\d+\.\d s\)$/m);
  }, 60_000);

  it("ships the policy pack directory, and the pack starts from node_modules/paved/dist/policy-pack as the CLI starts it", async () => {
    const listing = sh("tar", ["-tzf", tarball], work).split("\n").filter(Boolean);
    for (const f of ["package.json", "PulumiPolicy.yaml", "index.js"]) expect(listing).toContain(`package/dist/policy-pack/${f}`);
    const consumer = join(work, "consumer");
    const packDir = join(consumer, "node_modules", "paved", "dist", "policy-pack");
    expect(resolveRunPolicyPack(packDir)).toBe(join(consumer, "node_modules", "@pulumi", "pulumi", "cmd", "run-policy-pack", "index.js"));
    const engine = await startFakeEngine();
    const started = await startPack(packDir, engine.address, { project: "consumer", stack: "dev", organization: "organization", dryRun: true });
    try {
      if (!("port" in started)) throw new Error(`the pack exited with code ${started.code}:\n${started.stderr}`);
      const driver = new AnalyzerDriver(started.port);
      const info = await driver.analyzerInfo();
      driver.close();
      expect({ name: info.name, version: info.version }).toEqual({
        name: "paved",
        version: JSON.parse(readFileSync(join(repo, "package.json"), "utf8")).version,
      });
    } finally {
      if ("stop" in started) await started.stop();
      await engine.close();
    }
  }, 120_000);

  it("exports the in-process policy evaluation as paved/policy", () => {
    const consumer = join(work, "consumer");
    const script = `require("paved/policy").evaluate([{ type: "aws:s3/bucket:Bucket", name: "logs", props: { acl: "public-read", tags: { "paved:team": "t", "paved:environment": "dev" } } }]).then((v) => console.log(JSON.stringify(v.map((x) => x.policyName))))`;
    const out = sh(process.execPath, ["-e", script], consumer);
    expect(JSON.parse(out.trim())).toEqual(expect.arrayContaining(["s3-no-public-acl", "s3-public-access-block"]));
  });

  // A newcomer: an empty project, `npm install paved`, then `npx paved init && npx paved serve`
  // on the embedded defaults (SQLite in .paved, the simulate engine when no Pulumi CLI).
  it("a newcomer's npx paved init && npx paved serve works in an empty directory", async () => {
    const app = join(work, "newcomer");
    mkdirSync(app);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "newcomer", version: "1.0.0", private: true }));
    sh(npm, ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts", tarball], app);
    // better-sqlite3 13 ships prebuilt Node-API binaries (nothing to build). A build the
    // repository made itself (an install script --ignore-scripts skipped) is copied over.
    const sqlite = join(app, "node_modules", "better-sqlite3");
    const built = join(repo, "node_modules", "better-sqlite3");
    const addon = join(built, "build", "Release", "better_sqlite3.node");
    const version = (dir: string) => (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string }).version;
    if (existsSync(addon) && version(sqlite) === version(built)) {
      mkdirSync(join(sqlite, "build", "Release"), { recursive: true });
      copyFileSync(addon, join(sqlite, "build", "Release", "better_sqlite3.node"));
    }
    const env: NodeJS.ProcessEnv = { ...process.env, npm_config_update_notifier: "false" };
    delete env.PAVED_CONFIG;
    delete env.DATABASE_URL;

    // Before init: serve says what is missing and how to fix it.
    const early = spawnSync(npx, ["--no", "paved", "serve"], { cwd: app, env, encoding: "utf8", timeout: 60_000 });
    expect(early.status).toBe(2);
    expect(early.stderr).toContain(`paved: no configuration file at ${join(app, "paved.yaml")}.`);
    expect(early.stderr).toContain("  npx paved init\n");

    const init = sh(npx, ["--no", "paved", "init"], app);
    const tokens = Object.fromEntries([...init.matchAll(/^ {2}(\S+) +(paved_[A-Za-z0-9_-]{43})$/gm)].map((m) => [m[1], m[2]]));
    expect(Object.keys(tokens)).toEqual(["developer", "approver"]);
    expect(readFileSync(join(app, "paved.yaml"), "utf8")).toMatch(/^demo: false$/m);

    const port = await freePort();
    const child = spawn(npx, ["--no", "paved", "serve"], { cwd: app, env: { ...env, PORT: String(port) }, stdio: "ignore", detached: true });
    const exited = new Promise((r) => child.once("exit", r));
    try {
      let health: { status?: string; store?: string } | undefined;
      for (let i = 0; i < 300 && !health; i++) {
        health = await fetch(`http://127.0.0.1:${port}/healthz`).then(
          (r) => r.json() as Promise<{ status: string; store: string }>,
          () => undefined,
        );
        if (!health) await new Promise((r) => setTimeout(r, 200));
      }
      expect(health).toMatchObject({ status: "ok", store: "sqlite" });
      const call = (url: string, token?: string) => fetch(`http://127.0.0.1:${port}${url}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
      expect((await call("/catalog")).status).toBe(401);
      expect(await (await call("/me", tokens.developer)).json()).toEqual({ name: "developer", kind: "person", teams: ["app"], groups: [] });
      expect(await (await call("/me", tokens.approver)).json()).toEqual({ name: "approver", kind: "person", teams: [], groups: ["platform"] });
      expect(existsSync(join(app, ".paved"))).toBe(true);
    } finally {
      // npx runs paved in a child of its own: stop the whole group.
      process.kill(-child.pid!, "SIGTERM");
      await exited;
    }
  }, 300_000);

  // The consumer was installed with --ignore-scripts, so better-sqlite3 is not built there:
  // the service runs on PostgreSQL, when the tests have one.
  it.skipIf(postgresUnavailable() !== undefined)(
    "its bin serves the API (paved serve) on the simulate engine",
    async () => {
      const consumer = join(work, "consumer");
      writeFileSync(join(consumer, "paved.yaml"), readFileSync(join(repo, "paved.yaml")));
      const port = await freePort();
      const child = spawn(join(consumer, "node_modules", ".bin", "paved"), ["serve"], {
        cwd: consumer,
        env: { ...process.env, PORT: String(port), PAVED_ENGINE: "simulate", DATABASE_URL: await freshDatabase() },
        stdio: "ignore",
      });
      const exited = new Promise((r) => child.once("exit", r));
      try {
        let health: unknown;
        for (let i = 0; i < 150 && !health; i++) {
          health = await fetch(`http://127.0.0.1:${port}/healthz`).then(
            (r) => r.json(),
            () => undefined,
          );
          if (!health) await new Promise((r) => setTimeout(r, 200));
        }
        expect(health).toEqual({ status: "ok", engine: "simulate", store: "postgres" });
        const page = await fetch(`http://127.0.0.1:${port}/`);
        expect(await page.text()).toContain("<title>Paved self-service</title>");
      } finally {
        child.kill("SIGTERM");
        await exited;
      }
    },
    60_000,
  );
});
