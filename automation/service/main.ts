/**
 * `npm start`: the self-service service on its embedded defaults.
 *
 * | variable | default | |
 * | --- | --- | --- |
 * | `PORT` | `8080` | listens on `HOST:PORT` |
 * | `HOST` | `127.0.0.1` | loopback only unless told otherwise (never for a `demo: true` config) |
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
 * | `PAVED_SESSION_KEY` | (random) | 32+ characters encrypting the web page's session cookies; set it (the same on every replica) with `auth.oidc` |
 * | `PAVED_OIDC_CLIENT_SECRET` | (none) | the web page's client secret at the identity provider; without it, a public client with PKCE |
 * | `PAVED_PUBLIC_URL` | `http://HOST:PORT` | the base of links in notifications |
 */
import { existsSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import pino from "pino";
import { ConfigError, loadConfig, PavedConfig } from "../config";
import { isLoopbackHost } from "../identity/net";
import type { Engine, EngineName } from "../engine/types";
import { SimulateEngine } from "../engine/simulate/engine";
import { Runner } from "../runner";
import { Store } from "../store/store";
import { StoreHealth } from "../store/health";
import { Workflow } from "../workflow";
import { buildApp, DEFAULT_LOG } from "./app";
import type { StreamOptions } from "./streams";
import { RehearsalOutcome, rehearse, rehearseForStart } from "./rehearsal";
import { RunbookExecutor } from "../runbooks/executor";
import { runbooks as runbookLibrary } from "../../runbooks";
import { NotificationWorker, NotificationWorkerOptions } from "../notifications/worker";

/** Whether `host` only listens on this machine (127.0.0.0/8, ::1, localhost). */
export const isLoopback = isLoopbackHost;

/** Why a config cannot be served on `host`, or undefined: demo tokens are public, so never beyond loopback. */
export function demoRefusal(config: { demo: boolean }, host: string, configFile: string): string | undefined {
  if (!config.demo || isLoopback(host)) return undefined;
  return (
    `paved: refusing to listen on ${host}: ${configFile} has demo: true, and its plain-text tokens are published, ` +
    `so anyone who can reach ${host} could act as any person in it. Serve it on loopback (unset HOST, or HOST=127.0.0.1), ` +
    `or set demo: false with sha256 token hashes (printf %s "$TOKEN" | npx paved hash-token) to serve it on the network.\n`
  );
}

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
  /** Delivers the outbox and runs the escalation ladder (started with the runner). */
  notifications: NotificationWorker;
  store: Store;
  health: StoreHealth;
  engine: Engine;
  config: PavedConfig;
  /**
   * Sends one request through the whole service against a store whose writes are rolled
   * back, so that the first real request does not run every step for the first time
   * (`rehearsal.ts`). `main` awaits it before the service listens.
   */
  rehearse(): Promise<RehearsalOutcome>;
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
  /** One logger for the app, workflow, runner and runbooks (wins over `logger`). */
  log?: FastifyBaseLogger;
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
  /** Time between store integrity checks (one runs at start). Default 5 min. */
  healthIntervalMs?: number;
  /** Event streams: heartbeat interval (default 15 s); the cap per person comes from the config. */
  streams?: StreamOptions;
  /** The web page's session cookie key and OIDC client secret (see `AppOptions.sessions`). */
  sessions?: { key?: string; clientSecret?: string };
  /** `PAVED_PUBLIC_URL`: the base of links in notifications. */
  publicUrl?: string;
  /** The notification worker's timing, retries and environment (tests shorten them). */
  notifications?: Omit<NotificationWorkerOptions, "store" | "settings" | "sweeps">;
}

async function makeEngine(name: EngineName, store: Store, options: ServiceOptions): Promise<Engine> {
  if (name === "simulate")
    return new SimulateEngine({ state: store, now: options.now, policyConfig: options.config.policies, stepDelayMs: options.simulateStepMs });
  const { PulumiEngine } = await import("../engine/pulumi/engine");
  return PulumiEngine.create({
    dataDir: resolve(options.dataDir ?? ".paved"),
    backendUrl: options.backendUrl,
    usePlans: options.usePlans,
    policyConfig: options.config.policies,
  });
}

/** A pino logger from the `logger` option: false is silent, true or undefined the default. */
export function makeLogger(logger: boolean | object | undefined): FastifyBaseLogger {
  if (logger === false) return pino({ level: "silent" });
  return pino(logger === undefined || logger === true ? DEFAULT_LOG : logger);
}

/**
 * Logs what would otherwise end the process silently: a promise rejected with nobody to
 * catch it is logged (with its stack) and the service goes on.
 */
export function logUnhandledRejections(log: Pick<FastifyBaseLogger, "error">): () => void {
  const onRejection = (reason: unknown) => log.error({ err: reason }, "unhandled promise rejection");
  process.on("unhandledRejection", onRejection);
  return () => process.off("unhandledRejection", onRejection);
}

/** Opens the store, starts the engine, builds the app and (unless told not to) the runner. */
export async function createService(options: ServiceOptions): Promise<Service> {
  const log = options.log ?? makeLogger(options.logger);
  const store = await Store.open({ databaseUrl: options.databaseUrl, dataDir: options.dataDir, sqliteFile: options.sqliteFile });
  await store.watchEvents(log);
  await store.warm();
  const health = new StoreHealth(store, log);
  const integrity = await health.start(options.healthIntervalMs ?? 300_000);
  if (!integrity.ok) log.error({ problem: integrity.problem }, "the store failed its integrity check: /healthz answers 503");
  const engine = await makeEngine(options.engine ?? "simulate", store, options);
  const workflow = new Workflow({ store, engine, config: options.config, now: options.now, log, publicUrl: options.publicUrl });
  const runner = new Runner(workflow, { workers: options.workers, now: options.now, leaseMs: options.leaseMs, log });
  const runbooks = new RunbookExecutor(workflow, runbookLibrary, { now: options.now, leaseMs: options.leaseMs, log });
  const app = await buildApp({ workflow, runner, runbooks, log, health, streams: options.streams, sessions: options.sessions });
  const notifications = new NotificationWorker({
    now: options.now,
    log,
    ...options.notifications,
    store,
    settings: options.config.notifications,
    // The escalation ladder's timers are the store's rows: every replica sweeps, each rung fires once.
    sweeps: [() => workflow.escalate()],
  });
  let recovery: NodeJS.Timeout | undefined;
  if (options.startRunner !== false) {
    runner.start();
    notifications.start();
    // Runs whose replica died go on here (an irreversible step in flight is reported, not
    // re-run); runs a live replica holds are left to it. At start, then once a lease.
    await runbooks.recover();
    recovery = setInterval(() => void runbooks.recover().catch(() => undefined), options.leaseMs ?? 60_000);
    recovery.unref();
  }
  let closed = false;
  return {
    app,
    workflow,
    runbooks,
    runner,
    notifications,
    store,
    health,
    engine,
    config: options.config,
    rehearse: () => rehearse({ store, engine, config: options.config }),
    async close(graceMs = 30_000) {
      if (closed) return;
      closed = true;
      clearInterval(recovery);
      // No job is claimed from now on; open event streams are told to reconnect and ended, so
      // closing the server does not wait on them; running jobs get the grace to finish.
      runner.stopClaiming();
      app.streams.closeAll();
      await app.close();
      await runner.stop(graceMs);
      await runbooks.idle(graceMs);
      // Deliveries in flight end within their timeout; the rest wait in the outbox for the next start.
      await notifications.stop();
      health.stop();
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
  const host = env.HOST || "127.0.0.1";
  const refusal = demoRefusal(config, host, configFile);
  if (refusal) {
    process.stderr.write(refusal);
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
      sessions: { key: env.PAVED_SESSION_KEY || undefined, clientSecret: env.PAVED_OIDC_CLIENT_SECRET || undefined },
      publicUrl: env.PAVED_PUBLIC_URL || `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    });
  } catch (err) {
    process.stderr.write(`paved: cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  }
  // The first request must not wait for the engine's start (the simulate worker loads
  // Pulumi: 1-3 s): /healthz answers only once it is warm.
  try {
    await service.engine.warm?.();
  } catch (err) {
    service.app.log.error({ err }, "the engine could not be warmed: the first request will start it");
  }
  // Then one request the whole way, rolled back, the garbage of start-up collected, and the
  // request again: the first real one finds every step run before and no collection due.
  try {
    const outcome = await rehearseForStart(() => service.rehearse());
    if (outcome.rehearsed) {
      service.app.log.info(
        { status: outcome.status, ms: outcome.ms, rounds: outcome.rounds, collectedMs: outcome.collectedMs },
        "rehearsed a request (rolled back)",
      );
    } else service.app.log.info({ reason: outcome.reason }, "no rehearsal: the first request runs its steps for the first time");
  } catch (err) {
    service.app.log.warn({ err }, "the rehearsal failed (nothing of it was kept): the first request runs its steps for the first time");
  }
  try {
    await service.app.listen({ port, host });
  } catch (err) {
    process.stderr.write(
      `paved: cannot listen on ${host}:${port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (set PORT to another port)\n`,
    );
    await service.close(0);
    process.exit(2);
  }
  logUnhandledRejections(service.app.log);
  service.app.log.info(
    { engine: service.engine.name, store: service.store.description, config: configFile, demo: config.demo },
    service.engine.name === "simulate" ? "engine simulate: nothing real is provisioned" : "engine pulumi",
  );
  if (config.auth.oidc && !env.PAVED_SESSION_KEY)
    service.app.log.warn("PAVED_SESSION_KEY is not set: web sessions use a random key, end with this process and work on this replica only");
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
