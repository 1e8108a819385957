/**
 * `npm start`: the self-service service on its embedded defaults.
 *
 * | variable | default | |
 * | --- | --- | --- |
 * | `PORT` | `8080` | listens on `HOST:PORT` |
 * | `HOST` | `127.0.0.1` | loopback only unless told otherwise |
 * | `PAVED_CONFIG` | `paved.yaml` | teams, people, approvers, rules |
 * | `PAVED_DATA_DIR` | `.paved` | the SQLite file and the file backend's state |
 * | `DATABASE_URL` | (none) | `postgres://...` switches the store to PostgreSQL |
 * | `PAVED_ENGINE` | `pulumi` when the CLI is on PATH, else `simulate` | force one |
 * | `PAVED_WORKERS` | `2` | jobs run at once by this replica |
 * | `PAVED_BACKEND_URL` | `file://<data dir>/state` | pulumi engine: any Pulumi backend URL |
 * | `PAVED_USE_PLANS` | `false` | pulumi engine: save an update plan at preview, apply it at up |
 * | `PULUMI_CONFIG_PASSPHRASE` | (none) | required with the file backend |
 * | `PAVED_SHUTDOWN_GRACE_MS` | `30000` | time running jobs get after SIGTERM |
 * | `PAVED_LEASE_MS` | `60000` | a job's lease; a replica that dies loses its jobs after this |
 * | `PAVED_SIMULATE_STEP_MS` | `0` | simulate engine: time each changing step of an apply takes |
 */
import { existsSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import type { FastifyInstance } from "fastify";
import { ConfigError, loadConfig, PavedConfig } from "../config";
import type { Engine, EngineName } from "../engine/types";
import { SimulateEngine } from "../engine/simulate/engine";
import { Runner } from "../runner";
import { Store } from "../store/store";
import { Workflow } from "../workflow";
import { buildApp } from "./app";
import { RunbookExecutor } from "../../runbooks/executor";
import { runbooks as runbookLibrary } from "../../runbooks";

/** Whether `command` is an executable on PATH. */
export function onPath(command: string, path = process.env.PATH ?? ""): boolean {
  return path.split(delimiter).some((dir) => dir && existsSync(join(dir, command)));
}

/** The engine to run: `PAVED_ENGINE` when set, else `pulumi` when the CLI is installed. */
export function chooseEngine(env: NodeJS.ProcessEnv): EngineName {
  const forced = env.PAVED_ENGINE;
  if (forced !== undefined && forced !== "") {
    if (forced !== "pulumi" && forced !== "simulate") throw new Error(`PAVED_ENGINE must be pulumi or simulate, not "${forced}"`);
    return forced;
  }
  return onPath("pulumi", env.PATH) ? "pulumi" : "simulate";
}

export interface Service {
  app: FastifyInstance;
  workflow: Workflow;
  runbooks: RunbookExecutor;
  runner: Runner;
  store: Store;
  engine: Engine;
  config: PavedConfig;
  /** Stops claiming jobs, lets running ones finish (within the grace), closes everything. */
  close(graceMs?: number): Promise<void>;
}

export interface ServiceOptions {
  config: PavedConfig;
  dataDir?: string;
  databaseUrl?: string;
  sqliteFile?: string;
  engine?: EngineName;
  workers?: number;
  logger?: boolean | object;
  now?: () => Date;
  /** Start the job runner in the background. Default true (tests drain it by hand). */
  startRunner?: boolean;
  leaseMs?: number;
  /** Pulumi engine: backend URL. Default `file://<dataDir>/state`. */
  backendUrl?: string;
  /** Pulumi engine: save and apply update plans. Default false. */
  usePlans?: boolean;
  /** Simulate engine: time per changing step of an apply. Default 0. */
  simulateStepMs?: number;
}

async function makeEngine(name: EngineName, store: Store, options: ServiceOptions): Promise<Engine> {
  if (name === "simulate") return new SimulateEngine({ state: store, now: options.now, policyConfig: options.config.policies, stepDelayMs: options.simulateStepMs });
  const { PulumiEngine } = await import("../engine/pulumi/engine");
  return PulumiEngine.create({
    dataDir: resolve(options.dataDir ?? ".paved"),
    backendUrl: options.backendUrl,
    usePlans: options.usePlans,
  });
}

/** Opens the store, starts the engine, builds the app and (unless told not to) the runner. */
export async function createService(options: ServiceOptions): Promise<Service> {
  const store = await Store.open({ databaseUrl: options.databaseUrl, dataDir: options.dataDir, sqliteFile: options.sqliteFile });
  const engine = await makeEngine(options.engine ?? "simulate", store, options);
  const workflow = new Workflow({ store, engine, config: options.config, now: options.now });
  const runner = new Runner(workflow, { workers: options.workers, now: options.now, leaseMs: options.leaseMs });
  const runbooks = new RunbookExecutor(workflow, runbookLibrary, options.now);
  const app = await buildApp({ workflow, runner, runbooks, logger: options.logger });
  if (options.startRunner !== false) {
    runner.start();
    // Runs that were going when the service stopped go on (an irreversible step in flight is reported, not re-run).
    await runbooks.recover();
  }
  let closed = false;
  return {
    app,
    workflow,
    runbooks,
    runner,
    store,
    engine,
    config: options.config,
    async close(graceMs = 30_000) {
      if (closed) return;
      closed = true;
      await app.close();
      await runner.stop(graceMs);
      await runbooks.idle(graceMs);
      await engine.close();
      await store.close();
    },
  };
}

/** What to do when there is no configuration file: the service cannot know who may sign in. */
export function missingConfig(file: string, fromEnv: boolean): string {
  return [
    `paved: no configuration file at ${file}${fromEnv ? " (PAVED_CONFIG)" : ""}.`,
    "The service needs a paved.yaml: the people who may sign in (with their hashed tokens),",
    "the teams and the approver groups. To write a starter one in this directory, run:",
    "",
    "  npx paved init",
    "",
    "It prints each person's bearer token once. Or set PAVED_CONFIG to an existing file.",
    "",
  ].join("\n");
}

/** Starts the service from the environment (see the table above): `npm start` and `paved serve`. */
export async function main(): Promise<void> {
  const env = process.env;
  const configFile = resolve(env.PAVED_CONFIG ?? "paved.yaml");
  if (!existsSync(configFile)) {
    process.stderr.write(missingConfig(configFile, env.PAVED_CONFIG !== undefined));
    process.exit(2);
  }
  let config: PavedConfig;
  try {
    config = loadConfig(configFile);
  } catch (err) {
    process.stderr.write(`${err instanceof ConfigError ? err.message : String(err)}\n`);
    process.exit(2);
  }
  const port = Number(env.PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`PORT must be a port number, not "${env.PORT}"\n`);
    process.exit(2);
  }
  const workers = Number(env.PAVED_WORKERS ?? 2);
  if (!Number.isInteger(workers) || workers < 1) {
    process.stderr.write(`PAVED_WORKERS must be a positive integer, not "${env.PAVED_WORKERS}"\n`);
    process.exit(2);
  }
  let service: Service;
  try {
    service = await createService({
      config,
      dataDir: env.PAVED_DATA_DIR ?? ".paved",
      databaseUrl: env.DATABASE_URL || undefined,
      engine: chooseEngine(env),
      workers,
      simulateStepMs: Number(env.PAVED_SIMULATE_STEP_MS ?? 0) || 0,
      backendUrl: env.PAVED_BACKEND_URL || undefined,
      usePlans: env.PAVED_USE_PLANS === "true" || env.PAVED_USE_PLANS === "1",
      leaseMs: Number(env.PAVED_LEASE_MS ?? 60_000) || 60_000,
    });
  } catch (err) {
    process.stderr.write(`paved: cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  }
  const host = env.HOST ?? "127.0.0.1";
  try {
    await service.app.listen({ port, host });
  } catch (err) {
    process.stderr.write(`paved: cannot listen on ${host}:${port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (set PORT to another port)\n`);
    await service.close(0);
    process.exit(2);
  }
  service.app.log.info(
    { engine: service.engine.name, store: service.store.description, config: configFile, demo: config.demo },
    service.engine.name === "simulate" ? "engine simulate: nothing real is provisioned" : "engine pulumi",
  );
  if (config.demo) service.app.log.warn({ config: configFile }, "demo configuration: plain-text tokens, not for real use");
  const grace = Number(env.PAVED_SHUTDOWN_GRACE_MS ?? 30_000);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    service.app.log.info({ signal, graceMs: grace }, "stopping: no new jobs, waiting for running ones");
    service.close(grace).then(
      () => {
        process.stderr.write("paved: stopped\n");
        process.exit(0);
      },
      (err: unknown) => {
        process.stderr.write(`paved: stopped with an error: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

if (require.main === module) {
  void main();
}
