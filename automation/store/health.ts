/**
 * The store's integrity, as `/healthz` reports it: SQLite's `quick_check` (a damaged page
 * makes every later read fail, while `select 1` still answers), PostgreSQL's reachability.
 * Checked at start and then on a timer; the last result is what `/healthz` sees.
 */
import { sql } from "kysely";
import type { Store } from "./store";

export interface Integrity {
  ok: boolean;
  /** What is wrong, when something is. */
  problem?: string;
  checkedAt: string;
}

/** Runs one integrity check of `store`. */
export async function checkIntegrity(store: Store, now = new Date()): Promise<Integrity> {
  const checkedAt = now.toISOString();
  const sqlite = store.dialect === "sqlite";
  try {
    if (sqlite) {
      const { rows } = await sql<Record<string, string>>`pragma quick_check`.execute(store.db);
      const found = rows.map((r) => Object.values(r)[0]).filter((v) => v !== "ok");
      if (found.length > 0) return { ok: false, problem: `${store.description} failed quick_check: ${found.slice(0, 3).join("; ")}`, checkedAt };
      return { ok: true, checkedAt };
    }
    await store.ping();
    return { ok: true, checkedAt };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    const reason = `${e.message ?? String(err)}${e.code ? ` (${e.code})` : ""}`;
    return {
      ok: false,
      problem: sqlite ? `${store.description} failed quick_check: ${reason}` : `${store.description} cannot be reached: ${reason}`,
      checkedAt,
    };
  }
}

export class StoreHealth {
  private current: Integrity = { ok: true, checkedAt: new Date(0).toISOString() };
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly store: Store,
    private readonly log?: { error(obj: object, msg: string): void },
  ) {}

  get integrity(): Integrity {
    return this.current;
  }

  /** Checks now; logs a store that turned bad. */
  async check(): Promise<Integrity> {
    const result = await checkIntegrity(this.store);
    if (!result.ok && this.current.ok) this.log?.error({ problem: result.problem }, "store integrity check failed");
    this.current = result;
    return result;
  }

  /** Checks at once, then every `intervalMs`. */
  async start(intervalMs: number): Promise<Integrity> {
    const first = await this.check();
    this.timer = setInterval(() => void this.check(), intervalMs);
    this.timer.unref();
    return first;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
