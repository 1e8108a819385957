/** A service on the simulate engine and an in-memory SQLite store, driven through `app.inject`. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { parse as parseYaml, stringify } from "yaml";
import { parseConfig } from "../../automation/config";
import { createService, Service } from "../../automation/service/main";
import { freshDatabase } from "../postgres";

export const ROOT = join(__dirname, "..", "..");
export const TOKENS = { alice: "alice-dev-token", bob: "bob-dev-token", carol: "carol-dev-token", dave: "dave-dev-token", erin: "erin-dev-token" } as const;
export type Who = keyof typeof TOKENS;

/** The shipped demo paved.yaml, plus `changes` merged at the top level. */
export function demoConfig(changes: Record<string, unknown> = {}) {
  const raw = parseYaml(readFileSync(join(ROOT, "paved.yaml"), "utf8")) as Record<string, unknown>;
  return parseConfig(stringify({ ...raw, ...changes }), "paved.yaml");
}

/**
 * The demo config with two more people: dave (team search, no approver group) and erin
 * (payments member too, not an approver).
 */
export function testConfig(extra: Record<string, unknown> = {}) {
  const raw = parseYaml(readFileSync(join(ROOT, "paved.yaml"), "utf8")) as any;
  raw.people.dave = { token: TOKENS.dave };
  raw.people.erin = { token: TOKENS.erin };
  raw.teams.payments.members.push("erin");
  raw.teams.search = { members: ["dave"], autonomy: "none", environments: { dev: { network: { vpcId: "vpc-s", subnetIds: ["s-a", "s-b"] } } } };
  return parseConfig(stringify({ ...raw, ...extra }), "paved.yaml");
}

export class Clock {
  constructor(public t = new Date("2026-11-25T10:00:00.000Z")) {}
  now = () => this.t;
  advance(ms: number) {
    this.t = new Date(this.t.getTime() + ms);
  }
}

export interface Harness {
  service: Service;
  clock: Clock;
  call(who: Who | null, method: "GET" | "POST", url: string, body?: unknown): Promise<{ status: number; body: any; headers: Record<string, unknown> }>;
  /** Runs every queued job. */
  drain(): Promise<number>;
  close(): Promise<void>;
}

export type StoreKind = "sqlite" | "postgres";
export const STORES: StoreKind[] = ["sqlite", "postgres"];

export async function startHarness(config = testConfig(), store: StoreKind = "sqlite"): Promise<Harness> {
  const clock = new Clock();
  const where = store === "postgres" ? { databaseUrl: await freshDatabase() } : { sqliteFile: ":memory:" };
  const service = await createService({ config, ...where, engine: "simulate", logger: false, startRunner: false, now: clock.now });
  return {
    service,
    clock,
    async call(who, method, url, body) {
      const res = await service.app.inject({
        method,
        url,
        headers: who ? { authorization: `Bearer ${TOKENS[who]}` } : {},
        ...(body === undefined ? {} : { payload: body as object }),
      });
      const text = res.body;
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON (SSE)
      }
      return { status: res.statusCode, body: parsed, headers: res.headers as Record<string, unknown> };
    },
    drain: () => service.runner.drain(),
    close: () => service.close(1000),
  };
}

export const pg = (name: string, environment = "dev", params: Record<string, unknown> = { tier: "small" }) => ({
  team: "payments",
  environment,
  offering: "postgres",
  name,
  params,
});

/** One harness for the file, started before its tests and closed after them. */
export function useHarness(config?: Parameters<typeof startHarness>[0]): Harness {
  let current: Harness | undefined;
  beforeAll(async () => {
    current = await startHarness(config);
  }, 60_000);
  afterAll(async () => {
    await current?.close();
  });
  // The harness exists only once the file's tests run: read through to it then.
  return new Proxy({} as Harness, {
    get: (_target, key) => {
      if (!current) throw new Error("the harness is used before the tests run");
      return current[key as keyof Harness];
    },
  });
}
