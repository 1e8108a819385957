/**
 * The start-up rehearsal. Before the service says it is ready, one request goes the whole
 * way a developer's would: `POST /requests`, its event stream, the approval gate, the job
 * runner, the engine (preview, preview again, apply), every status change, the request's
 * view and the list. It runs against a store whose every write is rolled back
 * (`Store.rehearse`) and an engine whose state is that store (`Engine.rehearsal`), through
 * an app of its own that nobody can reach: nothing it does is seen by anyone, stays in the
 * store, or is announced (no notification, no audit entry, no event on the real streams).
 *
 * Why: a service that has just started runs every step of its first request for the first
 * time (code compiled on first call, the database's first execution of each statement on
 * a connection) while the person who sent it waits. Measured on PostgreSQL (bench,
 * 2 cores): the first request's overhead was ~2x a later one's; with the rehearsal it is
 * about a later one's.
 *
 * What it cannot reach, it leaves alone:
 * - the `pulumi` engine's state is its backend: there is no rehearsal then;
 * - the rehearsal's clock starts in 2000 (`REHEARSAL_EPOCH`), so its runner claims and
 *   sweeps only what the rehearsal made (every real job and request is later) and the
 *   service's own are untouched, though its store sees them;
 * - its identity is a token made for it, valid only in its own app, and forgotten after.
 */
import { randomBytes } from "node:crypto";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { ENVIRONMENTS, Environment } from "../../components/guardrails";
import type { PavedConfig, Person } from "../config";
import type { Engine } from "../engine/types";
import { Runner } from "../runner";
import type { Store } from "../store/store";
import { Workflow } from "../workflow";
import { buildApp } from "./app";

/** The rehearsal's instance name, and its requester's. */
export const REHEARSAL_NAME = "paved-rehearsal";

/** Where the rehearsal's clock starts: before anything real, so its runner sees only its own jobs. */
export const REHEARSAL_EPOCH = Date.parse("2000-01-01T00:00:00.000Z");

/** What the rehearsal asks for: the queue needs no params and no network, and exists in every catalog. */
const OFFERING = "queue";

/** Statuses in which the request is still moving without anyone. */
const MOVING = ["previewing", "approved", "applying"];

export type RehearsalOutcome = { rehearsed: true; status: string; ms: number } | { rehearsed: false; reason: string };

export interface RehearsalOptions {
  store: Store;
  engine: Engine;
  config: PavedConfig;
  /** How long the request may take to settle. Default 30 s. */
  timeoutMs?: number;
}

/**
 * The team and environment the rehearsal's request is for: the first team in paved.yaml
 * with an environment, in its first environment in `ENVIRONMENTS` order (`dev` before
 * `staging` before `prod`). Undefined when no team has one.
 */
export function rehearsalTarget(config: Pick<PavedConfig, "teams">): { team: string; environment: Environment } | undefined {
  for (const [team, settings] of Object.entries(config.teams)) {
    const environment = ENVIRONMENTS.find((e) => settings.environments[e] !== undefined);
    if (environment) return { team, environment };
  }
  return undefined;
}

/**
 * The configuration the rehearsal's app runs on: the service's, except that static tokens
 * are on and the only one is `token`, held by the rehearsal's requester, a member of `team`
 * (no identity provider, no CI identity, no approver group).
 */
export function rehearsalConfig(config: PavedConfig, token: string, team: string): PavedConfig {
  const requester: Person = { name: REHEARSAL_NAME, teams: [team], groups: [] };
  return {
    ...config,
    auth: { ...config.auth, tokens: true, oidc: undefined, ci: [] },
    authenticate: (presented) => (presented === token ? requester : undefined),
    person: (name) => (name === REHEARSAL_NAME ? requester : undefined),
    personFor: () => undefined,
    learn: () => undefined,
  };
}

/** Sends one request through the whole service against a rolled-back store (see above). */
export async function rehearse(options: RehearsalOptions): Promise<RehearsalOutcome> {
  const target = rehearsalTarget(options.config);
  if (!target) return { rehearsed: false, reason: "no team in paved.yaml has an environment" };
  const base = options.engine;
  if (!base.rehearsal) return { rehearsed: false, reason: `the ${base.name} engine keeps its state outside the store` };
  const started = performance.now();
  const now = () => new Date(REHEARSAL_EPOCH + (performance.now() - started));
  const token = randomBytes(32).toString("base64url");
  const config = rehearsalConfig(options.config, token, target.team);
  return options.store.rehearse(async (store) => {
    const engine = base.rehearsal!(store);
    const workflow = new Workflow({ store, engine, config, now });
    const runner = new Runner(workflow, { workers: 1, now });
    const app = await buildApp({ workflow, runner, logger: false });
    let timer: NodeJS.Timeout | undefined;
    try {
      runner.start();
      const auth = { authorization: `Bearer ${token}` };
      const posted = await app.inject({
        method: "POST",
        url: "/requests",
        headers: { ...auth, "content-type": "application/json" },
        payload: { ...target, offering: OFFERING, name: REHEARSAL_NAME, params: {} },
      });
      if (posted.statusCode !== 202) return { rehearsed: false, reason: `POST /requests answered ${posted.statusCode}: ${posted.body.slice(0, 300)}` };
      const id = (posted.json() as { id: string }).id;
      const stream = app.inject({ method: "GET", url: `/requests/${id}/events`, headers: auth });
      const settled = new Promise<string>((resolve, reject) => {
        const check = () =>
          app.inject({ method: "GET", url: `/requests/${id}`, headers: auth }).then((res) => {
            const { status } = res.json() as { status: string };
            if (MOVING.includes(status)) return;
            store.events.off("event", onEvent);
            resolve(status);
          }, reject);
        const onEvent = (requestId: string) => {
          if (requestId === id) void check();
        };
        store.events.on("event", onEvent);
        void check();
      });
      const timeoutMs = options.timeoutMs ?? 30_000;
      const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs)));
      const status = await Promise.race([settled, late]);
      if (status === undefined) return { rehearsed: false, reason: `the request did not settle within ${timeoutMs} ms` };
      // A stream ends by itself at a terminal status; one still open (awaiting approval) is ended.
      app.streams.closeAll();
      await stream;
      await app.inject({ method: "GET", url: "/requests?limit=50", headers: auth });
      return { rehearsed: true, status, ms: Math.round(performance.now() - started) };
    } finally {
      clearTimeout(timer);
      await runner.stop(0);
      await app.close();
    }
  });
}

/**
 * Collects all the garbage now (a full, blocking collection of the heap): returns how long
 * it took, or undefined when the runtime would not (then nothing happened). The function
 * is V8's `gc`, exposed to a context of its own, not to the service's globals.
 */
export function collectGarbage(): number | undefined {
  try {
    let gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) {
      setFlagsFromString("--expose-gc");
      gc = runInNewContext("gc") as (() => void) | undefined;
    }
    if (typeof gc !== "function") return undefined;
    const started = performance.now();
    gc();
    return performance.now() - started;
  } catch {
    return undefined;
  }
}

/** What the service did before it listened (`rehearseForStart`). */
export type StartRehearsal = RehearsalOutcome & { rounds: number; collectedMs?: number };

/**
 * The start-up rehearsal as `main` runs it: a rehearsal (`once`); when it went through, a
 * full garbage collection and a second rehearsal. Why: start-up and the first rehearsal
 * leave the heap full of garbage, and V8 collected it with a full (mark-compact) collection
 * during one of the first real requests (~110 ms of the service's CPU, in 2 of 6 starts,
 * measured); collected before the service listens, it is not. The second rehearsal runs
 * again what the collection made cold (bytecode and caches it dropped), and leaves little
 * garbage. `ms` is the two rehearsals' time and the collection's.
 */
export async function rehearseForStart(once: () => Promise<RehearsalOutcome>, collect: () => number | undefined = collectGarbage): Promise<StartRehearsal> {
  const first = await once();
  if (!first.rehearsed) return { ...first, rounds: 1 };
  const collected = collect();
  const collectedMs = collected === undefined ? {} : { collectedMs: Math.round(collected) };
  const second = await once();
  if (!second.rehearsed) return { ...second, rounds: 2, ...collectedMs };
  return { rehearsed: true, status: second.status, ms: Math.round(first.ms + (collected ?? 0) + second.ms), rounds: 2, ...collectedMs };
}
