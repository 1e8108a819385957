/**
 * The start-up rehearsal: one request the whole way through the service, against a store
 * whose writes are rolled back. It must end where a real one would, leave nothing behind,
 * tell nobody, and leave the service's own requests, jobs and streams as they were.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import type { PavedConfig } from "../../automation/config";
import type { Engine } from "../../automation/engine/types";
import {
  collectGarbage,
  REHEARSAL_NAME,
  RehearsalOutcome,
  rehearsalConfig,
  rehearsalTarget,
  rehearse,
  rehearseForStart,
} from "../../automation/service/rehearsal";
import type { Store } from "../../automation/store/store";
import { postgresUnavailable } from "../postgres";
import { Harness, startHarness, STORES, StoreKind, testConfig } from "./harness";
import { ALICE, useProcesses } from "./process";

const TABLES = [
  "requests",
  "approvals",
  "audit",
  "events",
  "instances",
  "stack_state",
  "jobs",
  "track_record",
  "notification_events",
  "notification_deliveries",
  "escalations",
  "runbook_runs",
  "runbook_steps",
  "runbook_approvals",
] as const;

/** Every row of every table, in a stable order: what "nothing changed" is compared with. */
async function everything(store: Store): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const table of TABLES) out[table] = (await sql`select * from ${sql.table(table)}`.execute(store.db)).rows.map((r) => JSON.stringify(r)).sort();
  return out;
}

const rows = (all: Record<string, unknown[]>) => Object.values(all).reduce((n, t) => n + t.length, 0);

/** A team ahead of payments with prod only and no autonomy: its requests wait for approval. */
const prodFirst = () => {
  const base = testConfig();
  return {
    ...base,
    teams: { ops: { ...base.teams.payments, autonomy: "none" as const, environments: { prod: base.teams.payments.environments.prod! } }, ...base.teams },
  };
};

for (const kind of STORES) {
  const skip = kind === "postgres" ? postgresUnavailable() : undefined;
  if (skip) console.log(`rehearsal on postgres skipped: ${skip}`);
  describe.skipIf(skip !== undefined)(`the start-up rehearsal on ${kind}`, () => suite(kind));
}

function suite(kind: StoreKind) {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  /** What the service's own store and workflow told while `fn` ran. */
  async function watching<T>(harness: Harness, fn: () => Promise<T>): Promise<{ result: T; told: string[] }> {
    const told: string[] = [];
    const onEvent = (id: string) => told.push(`event ${id}`);
    const onJob = () => told.push("job");
    harness.service.store.events.on("event", onEvent);
    harness.service.workflow.bus.on("job", onJob);
    try {
      const result = await fn();
      await new Promise((r) => setTimeout(r, 100));
      return { result, told };
    } finally {
      harness.service.store.events.off("event", onEvent);
      harness.service.workflow.bus.off("job", onJob);
    }
  }

  it("takes a dev request to succeeded, and leaves no row and tells nobody", async () => {
    h = await startHarness(testConfig(), kind);
    const before = await everything(h.service.store);
    expect(rows(before)).toBe(0);
    const { result, told } = await watching(h, () => h!.service.rehearse());
    expect(result).toMatchObject({ rehearsed: true, status: "succeeded" });
    expect(told).toEqual([]);
    expect(await everything(h.service.store)).toEqual(before);

    // The name was never taken: a real request for it goes through.
    const real = await h.call("alice", "POST", "/requests", { team: "payments", environment: "dev", offering: "queue", name: REHEARSAL_NAME, params: {} });
    expect(real.status, JSON.stringify(real.body)).toBe(202);
    expect(await h.drain()).toBe(2);
    expect((await h.call("alice", "GET", `/requests/${real.body.id}`)).body.status).toBe("succeeded");
  });

  it("leaves the service's own queued job, awaiting request and open stream as they were", async () => {
    h = await startHarness(prodFirst(), kind);
    // One request waiting for approval, its stream open; one whose preview is queued.
    const waiting = await h.call("alice", "POST", "/requests", { team: "payments", environment: "prod", offering: "queue", name: "w-q", params: {} });
    expect(waiting.status).toBe(202);
    expect(await h.drain()).toBe(1);
    expect((await h.call("alice", "GET", `/requests/${waiting.body.id}`)).body.status).toBe("awaiting_approval");
    const queued = await h.call("alice", "POST", "/requests", { team: "payments", environment: "dev", offering: "queue", name: "q-q", params: {} });
    expect(queued.status).toBe(202);
    let streamEnded = false;
    const stream = h.service.app
      .inject({ method: "GET", url: `/requests/${waiting.body.id}/events`, headers: { authorization: "Bearer alice-dev-token" } })
      .then((res) => {
        streamEnded = true;
        return res;
      });
    await new Promise((r) => setTimeout(r, 50));
    expect(h.service.app.streams.count()).toBe(1);
    const before = await everything(h.service.store);

    // The rehearsal's request (ops/prod, no autonomy) waits for approval too: its own
    // stream is ended, the service's is not.
    const { result, told } = await watching(h, () => h!.service.rehearse());
    expect(result).toMatchObject({ rehearsed: true, status: "awaiting_approval" });
    expect(told).toEqual([]);
    expect(await everything(h.service.store)).toEqual(before);
    expect(h.service.app.streams.count()).toBe(1);
    expect(streamEnded).toBe(false);

    // The queued preview is still there for the service's runner.
    expect(await h.drain()).toBe(2);
    expect((await h.call("alice", "GET", `/requests/${queued.body.id}`)).body.status).toBe("succeeded");
    h.service.app.streams.closeAll();
    expect((await stream).body).toContain("awaiting_approval");
  });

  it("refuses nothing real: a name already taken ends the rehearsal with the answer, writing nothing", async () => {
    h = await startHarness(testConfig(), kind);
    const taken = await h.call("alice", "POST", "/requests", { team: "payments", environment: "dev", offering: "queue", name: REHEARSAL_NAME, params: {} });
    expect(taken.status).toBe(202);
    await h.drain();
    const before = await everything(h.service.store);
    const { result, told } = await watching(h, () => h!.service.rehearse());
    expect(result).toEqual({
      rehearsed: false,
      reason: expect.stringMatching(/^POST \/requests answered 409: .*queue paved-rehearsal already exists in payments\/dev/),
    });
    expect(told).toEqual([]);
    expect(await everything(h.service.store)).toEqual(before);
  });

  it("gives up after its timeout, and still leaves nothing", async () => {
    h = await startHarness(testConfig(), kind);
    const outcome = await rehearse({ store: h.service.store, engine: h.service.engine, config: h.service.config, timeoutMs: 1 });
    expect(outcome).toEqual({ rehearsed: false, reason: "the request did not settle within 1 ms" });
    expect(rows(await everything(h.service.store))).toBe(0);
    // The worker it shares still answers.
    const real = await h.call("alice", "POST", "/requests", { team: "payments", environment: "dev", offering: "queue", name: "after", params: {} });
    expect(await h.drain()).toBe(2);
    expect((await h.call("alice", "GET", `/requests/${real.body.id}`)).body.status).toBe("succeeded");
  });

  it("is skipped, saying why, for an engine whose state is not in the store and when no team has an environment", async () => {
    h = await startHarness(testConfig(), kind);
    const pulumi = { name: "pulumi" } as unknown as Engine;
    expect(await rehearse({ store: h.service.store, engine: pulumi, config: h.service.config })).toEqual({
      rehearsed: false,
      reason: "the pulumi engine keeps its state outside the store",
    });
    const bare = { ...h.service.config, teams: { payments: { ...h.service.config.teams.payments, environments: {} } } };
    expect(await rehearse({ store: h.service.store, engine: h.service.engine, config: bare })).toEqual({
      rehearsed: false,
      reason: "no team in paved.yaml has an environment",
    });
    expect(rows(await everything(h.service.store))).toBe(0);
  });
}

describe("a started service", () => {
  const startService = useProcesses();
  it("rehearses before it answers, says so, and keeps nothing of it", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-rehearsal-"));
    try {
      const started = await startService({ PAVED_DATA_DIR: dataDir });
      const said = started
        .output()
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as { msg: string; status: string; rounds: number })
        .filter((line) => /rehears/.test(line.msg));
      expect(said.map((l) => [l.msg, l.status, l.rounds])).toEqual([["rehearsed a request (rolled back)", "succeeded", 2]]);
      const list = (await (await fetch(`${started.base}/requests`, { headers: ALICE })).json()) as { requests: unknown[] };
      expect(list.requests).toEqual([]);
      const audit = (await (await fetch(`${started.base}/audit`, { headers: ALICE })).json()) as { entries: unknown[] };
      expect(audit.entries).toEqual([]);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe("rehearseForStart", () => {
  const outcomes = (...list: RehearsalOutcome[]) => {
    const calls: string[] = [];
    const once = async () => {
      calls.push("rehearse");
      return list.shift()!;
    };
    const collect = () => {
      calls.push("collect");
      return 30.4;
    };
    return { calls, once, collect };
  };

  it("rehearses, collects the garbage, and rehearses again, the time of all three in ms", async () => {
    const { calls, once, collect } = outcomes({ rehearsed: true, status: "succeeded", ms: 120 }, { rehearsed: true, status: "succeeded", ms: 60 });
    expect(await rehearseForStart(once, collect)).toEqual({ rehearsed: true, status: "succeeded", ms: 210, rounds: 2, collectedMs: 30 });
    expect(calls).toEqual(["rehearse", "collect", "rehearse"]);
  });

  it("stops after a first rehearsal that did not go through, collecting nothing", async () => {
    const { calls, once, collect } = outcomes({ rehearsed: false, reason: "the pulumi engine keeps its state outside the store" });
    expect(await rehearseForStart(once, collect)).toEqual({ rehearsed: false, reason: "the pulumi engine keeps its state outside the store", rounds: 1 });
    expect(calls).toEqual(["rehearse"]);
  });

  it("says why when the second did not go through, and works on when the runtime would not collect", async () => {
    const { calls, once } = outcomes(
      { rehearsed: true, status: "succeeded", ms: 120 },
      { rehearsed: false, reason: "the request did not settle within 30000 ms" },
    );
    expect(await rehearseForStart(once, () => undefined)).toEqual({ rehearsed: false, reason: "the request did not settle within 30000 ms", rounds: 2 });
    expect(calls).toEqual(["rehearse", "rehearse"]);
  });
});

describe("collectGarbage", () => {
  it("collects what nothing holds any more, without putting gc in the globals", async () => {
    let held: object | undefined = { big: new Array(1000).fill("x") };
    const ref = new WeakRef(held);
    held = undefined;
    // A WeakRef's target lives until the current job ends.
    await new Promise((r) => setTimeout(r, 0));
    const ms = collectGarbage();
    expect(typeof ms).toBe("number");
    expect(ref.deref()).toBeUndefined();
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });
});

describe("rehearsalTarget", () => {
  const teams = (t: Record<string, string[]>) =>
    ({
      teams: Object.fromEntries(Object.entries(t).map(([name, envs]) => [name, { environments: Object.fromEntries(envs.map((e) => [e, {}])) }])),
    }) as unknown as Pick<PavedConfig, "teams">;
  it("picks the first team with an environment, in its first of dev, staging, prod", () => {
    expect(rehearsalTarget(teams({ a: ["prod", "staging"], b: ["dev"] }))).toEqual({ team: "a", environment: "staging" });
    expect(rehearsalTarget(teams({ a: [], b: ["prod", "dev"] }))).toEqual({ team: "b", environment: "dev" });
    expect(rehearsalTarget(teams({ a: [] }))).toBeUndefined();
  });
});

describe("rehearsalConfig", () => {
  it("knows one person, the rehearsal's, by its token only, with no identity provider or CI identity", () => {
    const base = testConfig();
    const config = rehearsalConfig(base, "the-token", "payments");
    const requester = { name: REHEARSAL_NAME, teams: ["payments"], groups: [] };
    expect(config.authenticate("the-token")).toEqual(requester);
    expect(config.authenticate("alice-dev-token")).toBeUndefined();
    expect(base.authenticate("alice-dev-token")?.name).toBe("alice");
    expect(config.person(REHEARSAL_NAME)).toEqual(requester);
    expect(config.person("alice")).toBeUndefined();
    expect(config.auth).toMatchObject({ tokens: true, oidc: undefined, ci: [] });
    expect(config.teams).toBe(base.teams);
  });
});
