/**
 * The service's store behind Kysely: a SQLite file (the embedded default) or PostgreSQL
 * (`DATABASE_URL`, for several replicas). Every read and write the workflow does goes
 * through here, so both databases behave alike.
 */
import { EventEmitter } from "node:events";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { Compilable, Kysely, PostgresDialect, SqliteDialect, Transaction, sql } from "kysely";
import type {
  Database,
  EscalationsTable,
  InstancesTable,
  JobsTable,
  NotificationDeliveriesTable,
  NotificationEventsTable,
  RequestsTable,
  RunbookRunsTable,
  RunbookStepsTable,
  TrackRecordTable,
} from "./schema";
import { Dialect, migrate } from "./migrations";

export type RequestRow = RequestsTable;
/** What identifies a request's state: a row changes status and `updated_at` together. */
export type RequestKey = Pick<RequestRow, "id" | "status" | "updated_at" | "created_at">;

/** Which requests a list reads: filters, page size and where the previous page ended. */
export interface ListFilter {
  status?: string;
  teams?: string[];
  team?: string;
  /** Default 200. */
  limit?: number;
  /** Continue after this request (`created_at`, `id`), newest first. */
  after?: { createdAt: string; id: string };
}
export type InstanceRow = InstancesTable;
export type JobRow = Omit<JobsTable, "id"> & { id: number };
export type RunRow = RunbookRunsTable;
export type RunStepRow = RunbookStepsTable;
export type EscalationRow = EscalationsTable;
export type DeliveryRow = Omit<NotificationDeliveriesTable, "id"> & { id: number };
/** An outbox entry: the event, and the sinks it goes to (one delivery each). */
export interface OutboxEntry {
  event: NotificationEventsTable;
  sinks: string[];
}

export interface StoreOptions {
  /** `postgres://...`: use PostgreSQL. Otherwise SQLite. */
  databaseUrl?: string;
  /** Directory of the SQLite file `paved.db` (created when missing). Ignored with `databaseUrl`. */
  dataDir?: string;
  /** `:memory:` for a throwaway SQLite database. */
  sqliteFile?: string;
}

/**
 * Whether `err` says the database cannot be reached (connection refused, reset, timed
 * out, server shutting down), as opposed to a bad query.
 */
export function isStoreUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  const code = e?.code ?? "";
  return (
    [
      "ECONNREFUSED",
      "ECONNRESET",
      "ETIMEDOUT",
      "EPIPE",
      "ENOTFOUND",
      "EHOSTUNREACH",
      "57P01",
      "57P02",
      "57P03",
      "SQLITE_BUSY",
      "SQLITE_CANTOPEN",
      "SQLITE_IOERR",
    ].includes(code) ||
    code.startsWith("08") ||
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/.test(e?.message ?? "")
  );
}

/** A store that cannot be opened or migrated: says which file, directory or database. */
export class StoreOpenError extends Error {
  constructor(where: string, cause: unknown) {
    const e = cause as { code?: string; message?: string };
    super(`cannot use ${where}: ${e?.message ?? String(cause)}${e?.code && !String(e.message).includes(e.code) ? ` (${e.code})` : ""}`, { cause });
    this.name = "StoreOpenError";
  }
}

/** A database URL without its password, to name it in messages. */
function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}${u.port ? `:${u.port}` : ""}${u.pathname}`;
  } catch {
    return "(DATABASE_URL)";
  }
}

function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === "23505" || e?.code === "SQLITE_CONSTRAINT_UNIQUE" || /UNIQUE constraint failed/.test(e?.message ?? "");
}

/** An audit entry as the store records it. */
export interface AuditEntry {
  at: string;
  actor: string;
  action: string;
  request_id?: string;
  stack?: string;
  digest?: string;
  detail?: unknown;
  actor_kind?: "agent";
}

/** A job to queue. */
export interface NewJob {
  request_id: string;
  kind: string;
  stack: string;
  at: string;
}

/** A request event to store (the stream's `status` and `progress` entries). */
export interface NewEvent {
  at: string;
  type: string;
  data: unknown;
}

/** What `insertRequest` and `updateRequest` write with a change, all or nothing, when the change is made. */
export interface RequestChangeExtras {
  event?: NewEvent;
  /** Events stored just before `event`, in the same statement (the engine's lines that led to it). */
  before?: readonly NewEvent[];
  audit?: AuditEntry;
  job?: NewJob;
}

async function writeAudit(db: Kysely<Database>, entry: AuditEntry): Promise<void> {
  await db.insertInto("audit").values(auditRow(entry)).execute();
}

async function writeJob(db: Kysely<Database>, job: NewJob): Promise<void> {
  await db
    .insertInto("jobs")
    .values({
      ...jobRow(job),
      // The request's team, for fair claiming (the workflow does not need to know).
      team: sql<string | null>`(select r.team from requests r where r.id = ${job.request_id})`,
    })
    .execute();
}

/**
 * Stores a request's events. On PostgreSQL every replica is told in the same statement (one
 * round trip, delivered at its commit); the replica that wrote them tells its own streams at
 * once and ignores the echo from its own connections (see `watchEvents`).
 */
async function writeEvents(db: Kysely<Database>, dialect: Dialect, requestId: string, events: readonly NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  const insert = db.insertInto("events").values(events.map((e) => ({ request_id: requestId, at: e.at, type: e.type, data: JSON.stringify(e.data) })));
  if (dialect === "postgres") {
    await db
      .with("e", () => insert.returning("request_id"))
      .selectFrom(sql`(select distinct request_id from e)`.as("e"))
      .select(sql`pg_notify(${EVENTS_CHANNEL}, e.request_id)`.as("notified"))
      .execute();
  } else {
    await insert.execute();
  }
}

/** Writes an outbox entry inside `trx`: the event and one queued delivery per sink. */
async function writeOutbox(trx: Kysely<Database>, entry: OutboxEntry): Promise<void> {
  await trx.insertInto("notification_events").values(entry.event).execute();
  const deliveries = deliveryRows(entry);
  if (deliveries.length > 0) await trx.insertInto("notification_deliveries").values(deliveries).execute();
}

/** The rows `writeAudit` stores for `entry`. */
function auditRow(entry: AuditEntry) {
  return {
    at: entry.at,
    actor: entry.actor,
    actor_kind: entry.actor_kind ?? null,
    action: entry.action,
    request_id: entry.request_id ?? null,
    stack: entry.stack ?? null,
    digest: entry.digest ?? null,
    detail: entry.detail === undefined ? null : JSON.stringify(entry.detail),
  };
}

/** The row `writeJob` stores for `job` (its team comes from the request). */
function jobRow(job: NewJob) {
  return {
    request_id: job.request_id,
    kind: job.kind,
    stack: job.stack,
    status: "queued",
    attempts: 0,
    lease_owner: null,
    lease_until: null,
    run_after: job.at,
    created_at: job.at,
    updated_at: job.at,
  };
}

/** The delivery rows `writeOutbox` stores for `entry`, one per sink. */
function deliveryRows(entry: OutboxEntry) {
  const at = entry.event.at;
  return [...new Set(entry.sinks)].map((sink) => ({
    event_id: entry.event.id,
    sink,
    status: "queued",
    attempts: 0,
    run_after: at,
    lease_owner: null,
    lease_until: null,
    last_error: null,
    delivered_at: null,
    created_at: at,
    updated_at: at,
  }));
}

/**
 * PostgreSQL: an insert of `rows` (all with the same columns) made only when the change
 * `g` (a CTE of the same statement) was made: the rows are passed as one JSON parameter and
 * typed by the table's own row type; `fromChange` columns are taken from `g`'s row.
 */
function insertWithChange(table: keyof Database, rows: readonly Record<string, unknown>[], fromChange: string[] = [], returning?: string) {
  const columns = Object.keys(rows[0]!);
  const all = [...columns, ...fromChange];
  const values = [...columns.map((c) => sql`v.${sql.ref(c)}`), ...fromChange.map((c) => sql`g.${sql.ref(c)}`)];
  return sql`insert into ${sql.table(table)} (${sql.join(all.map((c) => sql.ref(c)))}) select ${sql.join(values)} from json_populate_recordset(null::${sql.table(table)}, ${JSON.stringify(rows)}::json) as v, g${returning ? sql` returning ${sql.ref(returning)}` : sql``}`;
}

/** Statements kept prepared per SQLite connection (the list's `team in (...)` varies with the teams). */
const STATEMENT_CACHE_SIZE = 256;

/**
 * A better-sqlite3 database whose `prepare` reuses statements by their SQL: Kysely prepares
 * every query afresh, which costs as much as running a small one. A statement is reused only
 * when no iteration holds it (Kysely's `stream`); its queries run to completion in one call.
 */
export function reusingStatements<S extends { busy?: boolean }>(database: { prepare(sql: string): S; close(): unknown }) {
  const cache = new Map<string, S>();
  return {
    close: () => database.close(),
    prepare(sqlText: string): S {
      const hit = cache.get(sqlText);
      if (hit && !hit.busy) {
        // Most recently used last: the first entry is the one to evict.
        cache.delete(sqlText);
        cache.set(sqlText, hit);
        return hit;
      }
      const stmt = database.prepare(sqlText);
      if (!hit) {
        cache.set(sqlText, stmt);
        if (cache.size > STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
      }
      return stmt;
    },
  };
}

/** Thrown to roll back a transaction that did what it was for (`warm`, `rehearse`). */
class RolledBack extends Error {}

/** The PostgreSQL channel that carries the request id of every stored event, across replicas. */
const EVENTS_CHANNEL = "paved_events";

/** PostgreSQL connections kept open (and opened at start-up): a request uses up to three at once. */
const POOL_MIN = 3;

export class Store {
  /**
   * Emits `event` (request id) for every stored event: this process's own at once, and on
   * PostgreSQL every replica's through `LISTEN/NOTIFY` (see `watchEvents`). One watcher per
   * process, however many streams are open.
   */
  readonly events = new EventEmitter();
  private listener?: { stop(): Promise<void> };

  private constructor(
    readonly db: Kysely<Database>,
    readonly dialect: Dialect,
    /** What `/healthz` reports: `sqlite:<file>` or `postgres`. */
    readonly description: string,
    private readonly databaseUrl?: string,
    /** PostgreSQL: the process ids of the server backends of this store's pooled connections. */
    private readonly ownBackends: ReadonlySet<number> = new Set(),
  ) {
    this.events.setMaxListeners(0);
  }

  /** Opens the database and runs the migrations. */
  static async open(options: StoreOptions): Promise<Store> {
    if (options.databaseUrl) {
      const { Pool } = await import("pg");
      // `min` connections stay open however long the service idles, and are opened before it
      // answers: opening one (TCP, authentication, a new server process) cost more than a whole
      // warm request, and fell on the first requests after a start or a quiet spell.
      const pool = new Pool({ connectionString: options.databaseUrl, max: 10, min: POOL_MIN, connectionTimeoutMillis: 5000 });
      // A connection that drops while idle (the server restarted) must not crash the process:
      // the pool discards it and the next query opens a new one.
      pool.on("error", () => undefined);
      // The server processes behind this store's connections: their notifications are its own.
      const ownBackends = new Set<number>();
      const backendOf = (client: unknown) => (client as { processID?: number }).processID;
      pool.on("connect", (client) => {
        client.on("error", () => undefined);
        const pid = backendOf(client);
        if (pid !== undefined) ownBackends.add(pid);
      });
      pool.on("remove", (client) => {
        const pid = backendOf(client);
        if (pid !== undefined) ownBackends.delete(pid);
      });
      const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
      try {
        await migrate(db, "postgres");
        const warm = await Promise.all(Array.from({ length: POOL_MIN }, () => pool.connect()));
        for (const client of warm) client.release();
      } catch (err) {
        await db.destroy().catch(() => undefined);
        throw new StoreOpenError(`the PostgreSQL database ${describeUrl(options.databaseUrl)}`, err);
      }
      return new Store(db, "postgres", "postgres", options.databaseUrl, ownBackends);
    }
    const Sqlite = (await import("better-sqlite3")).default;
    let file = options.sqliteFile;
    if (!file) {
      const dir = resolve(options.dataDir ?? ".paved");
      try {
        mkdirSync(dir, { recursive: true });
      } catch (err) {
        throw new StoreOpenError(`the data directory ${dir} (PAVED_DATA_DIR)`, err);
      }
      file = join(dir, "paved.db");
    }
    let database: InstanceType<typeof Sqlite> | undefined;
    try {
      database = new Sqlite(file);
      database.pragma("journal_mode = WAL");
      database.pragma("busy_timeout = 5000");
      database.pragma("foreign_keys = ON");
      const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: reusingStatements(database) }) });
      await migrate(db, "sqlite");
      return new Store(db, "sqlite", `sqlite:${file}`);
    } catch (err) {
      database?.close();
      const where = file === ":memory:" ? "the in-memory SQLite database" : `the SQLite database ${resolve(file)} (is its directory writable?)`;
      throw new StoreOpenError(where, err);
    }
  }

  async close(): Promise<void> {
    await this.listener?.stop();
    this.listener = undefined;
    await this.db.destroy();
  }

  /**
   * Starts relaying other replicas' events to `events` (PostgreSQL: one connection that
   * `LISTEN`s, reconnecting when it drops; `reconnected` then fires, since events may have
   * been missed meanwhile). SQLite has one replica: its events are all in-process already.
   */
  async watchEvents(log?: { warn(obj: object, msg: string): void }): Promise<void> {
    if (this.dialect !== "postgres" || this.listener) return;
    const { Client } = await import("pg");
    let client: InstanceType<typeof Client> | undefined;
    let stopped = false;
    let retry: NodeJS.Timeout | undefined;
    const connect = async (): Promise<void> => {
      const c = new Client({ connectionString: this.databaseUrl, connectionTimeoutMillis: 5000 });
      const reconnect = (err: unknown) => {
        if (stopped || client !== c) return;
        client = undefined;
        log?.warn({ err }, "event watcher lost its connection: reconnecting");
        c.end().catch(() => undefined);
        retry = setTimeout(() => void connect(), 1000);
        retry.unref();
      };
      client = c;
      c.on("error", reconnect);
      c.on("end", () => reconnect(new Error("connection ended")));
      c.on("notification", (n) => {
        // This process's own events were announced in-process at their commit already: the
        // echo from one of its own connections (by the sending backend's process id) is skipped.
        if (n.channel === EVENTS_CHANNEL && n.payload && !this.ownBackends.has(n.processId)) this.events.emit("event", n.payload);
      });
      try {
        await c.connect();
        await c.query(`LISTEN ${EVENTS_CHANNEL}`);
        this.events.emit("reconnected");
      } catch (err) {
        reconnect(err);
      }
    };
    await connect();
    this.listener = {
      stop: async () => {
        stopped = true;
        if (retry) clearTimeout(retry);
        await client?.end().catch(() => undefined);
      },
    };
  }

  /** Runs `fn` in a transaction; in a rehearsal's store (`rehearse`), in the rehearsal's own. */
  transaction<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return fn(this.db as Transaction<Database>);
    return this.db.transaction().execute(fn);
  }

  /**
   * Runs `fn` with a store whose every statement goes into one transaction that is rolled
   * back when `fn` ends, however it ends: `fn` reads back what it wrote, nobody else sees
   * it, and nothing of it stays (on PostgreSQL its notifications are never sent, and
   * sequences, which no rollback resets, skip the numbers it took). The rehearsal's store
   * has events of its own (`events`), and its transactions join the one. While it runs it
   * holds one connection (PostgreSQL) or the database (SQLite). For the start-up rehearsal
   * (`service/rehearsal.ts`).
   */
  async rehearse<T>(fn: (store: Store) => Promise<T>): Promise<T> {
    let result: { value: T } | undefined;
    await this.db
      .transaction()
      .execute(async (trx) => {
        result = { value: await fn(new Store(trx, this.dialect, `${this.description} (rehearsal)`)) };
        throw new RolledBack();
      })
      .catch((err: unknown) => {
        if (!(err instanceof RolledBack)) throw err;
      });
    return result!.value;
  }

  /**
   * Runs the statements of a request's path once, on each pooled connection, matching no
   * row and leaving nothing behind (the writes in a transaction that is rolled back), so
   * that the first request after start does not pay for cold code: the query compiler, the
   * driver's parsers, and on PostgreSQL each new connection's first look at each table.
   * `npm run bench` on PostgreSQL, with the other changes of the day: the first request's
   * overhead went from 108 ms to 65 ms (medians of 5 starts).
   */
  async warm(): Promise<void> {
    const none = "warm-up:none";
    const at = "0001-01-01T00:00:00.000Z";
    const once = async () => {
      await this.getRequest(none);
      await this.inFlight(none, [none]);
      await this.findInstance(none, none, none);
      await this.eventsAfter(none, 0);
      await this.getStackState(none);
      // Nothing is runnable before year 1.
      await this.claimJob(none, at, at);
      const event = { at, type: "status", data: {} };
      const audit = { at, actor: none, action: none, request_id: none, stack: none };
      const job = { request_id: none, kind: none, stack: none, at };
      // A change of no request: every part is planned, none writes.
      const outbox = { event: { id: none, event: none, subject_id: none, team: null, at, payload: "{}" }, sinks: [none] };
      await this.updateRequest(none, { updated_at: at }, [none], outbox, { before: [event], event, audit, job });
      await this.updateRequest(none, { updated_at: at }, [none], undefined, { event, audit, job });
      await this.updateRequest(none, { updated_at: at }, [none], undefined, { event });
      // A new request that breaks a constraint (no team): planned, refused, nothing written.
      await this.insertRequest({ id: none, team: null } as unknown as RequestRow, { event, audit, job }).catch(() => undefined);
      await this.transaction(async (trx) => {
        await writeEvents(trx, this.dialect, none, [event]);
        await writeAudit(trx, audit);
        await writeJob(trx, job);
        throw new RolledBack();
      }).catch((err: unknown) => {
        if (!(err instanceof RolledBack)) throw err;
      });
    };
    await Promise.all(Array.from({ length: this.dialect === "postgres" ? POOL_MIN : 1 }, once));
  }

  // Requests

  /**
   * Inserts a request, with what `also` names in the same transaction (one commit). False,
   * with nothing written, when another request on its stack is in flight (whatever the replica).
   */
  async insertRequest(row: RequestRow, also: RequestChangeExtras = {}): Promise<boolean> {
    const { event, audit, job } = also;
    try {
      if (!event && !audit && !job) {
        await this.db.insertInto("requests").values(row).execute();
        return true;
      }
      if (this.dialect === "postgres") {
        await this.changeAtOnce(this.db.insertInto("requests").values(row).returning(["id", "team"]), row.id, event ? [event] : [], { audit, job });
      } else {
        await this.transaction(async (trx) => {
          await trx.insertInto("requests").values(row).execute();
          if (audit) await writeAudit(trx, audit);
          if (event) await writeEvents(trx, this.dialect, row.id, [event]);
          if (job) await writeJob(trx, job);
        });
      }
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
    if (event) this.events.emit("event", row.id);
    return true;
  }

  async getRequest(id: string): Promise<RequestRow | undefined> {
    return this.db.selectFrom("requests").selectAll().where("id", "=", id).executeTakeFirst();
  }

  /**
   * Requests, newest first. `after` continues a listing after the given request (its
   * `created_at` and `id`), so pages hold still while new requests arrive. The order is
   * an index's (`requests_list_order`, or `requests_team_list_order` for one team): a page
   * reads its rows and stops, at any depth, however many requests are stored.
   */
  async listRequests(filter: ListFilter): Promise<RequestRow[]> {
    if (filter.teams?.length === 0) return [];
    return this.listQuery(filter).selectAll().execute();
  }

  /**
   * The same page as `listRequests`, only what identifies each row's state (id, status,
   * `updated_at`, `created_at`): the list answers ended requests from kept texts and reads the
   * whole rows only of the others (`getRequests`).
   */
  async listRequestKeys(filter: ListFilter): Promise<RequestKey[]> {
    if (filter.teams?.length === 0) return [];
    return this.listQuery(filter).select(["id", "status", "updated_at", "created_at"]).execute();
  }

  private listQuery(filter: ListFilter) {
    let q = this.db.selectFrom("requests");
    if (filter.after) {
      const { createdAt, id } = filter.after;
      // `created_at <= X` first: a range the index seeks to, rather than an OR it cannot use.
      q = q.where("created_at", "<=", createdAt).where((eb) => eb.or([eb("created_at", "<", createdAt), eb("id", ">", id)]));
    }
    if (filter.status) q = q.where("status", "=", filter.status);
    if (filter.team) q = q.where("team", "=", filter.team);
    if (filter.teams?.length === 1) q = q.where("team", "=", filter.teams[0]!);
    // Several teams (an approver sees them all): filtered while walking the list's order.
    // SQLite's planner, given statistics, would rather read each team's part of the team
    // index and sort them all (every request, for an approver); the unary `+` keeps it off.
    else if (filter.teams) q = this.dialect === "sqlite" ? q.where(sql<string>`+team`, "in", filter.teams) : q.where("team", "in", filter.teams);
    return q
      .orderBy("created_at", "desc")
      .orderBy("id")
      .limit(filter.limit ?? 200);
  }

  /** The requests with these ids, in the order of `ids` (ids with no request left out). */
  async getRequests(ids: readonly string[]): Promise<RequestRow[]> {
    if (ids.length === 0) return [];
    const rows = await this.db
      .selectFrom("requests")
      .selectAll()
      .where("id", "in", [...new Set(ids)])
      .execute();
    const byId = new Map<string, RequestRow>(rows.map((r) => [r.id, r]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  /**
   * Updates a request when its status is one of `from` (all when omitted). Returns whether
   * it was updated: a concurrent change (a cancel during a preview) wins cleanly.
   */
  async updateRequest(id: string, patch: Partial<RequestRow>, from?: string[], outbox?: OutboxEntry, also: RequestChangeExtras = {}): Promise<boolean> {
    const change = (db: Kysely<Database>) => {
      const q = db.updateTable("requests").set(patch).where("id", "=", id);
      return from ? q.where("status", "in", from) : q;
    };
    const update = async (db: Kysely<Database>) => Number((await change(db).executeTakeFirst()).numUpdatedRows) > 0;
    const { event, audit, job } = also;
    const events = [...(also.before ?? []), ...(event ? [event] : [])];
    if (!outbox && events.length === 0 && !audit && !job) return update(this.db);
    if (this.dialect === "postgres") {
      const updated = await this.changeAtOnce(change(this.db).returning(["id", "team"]), id, events, { audit, job, outbox });
      if (updated && events.length > 0) this.events.emit("event", id);
      return updated;
    }
    // SQLite: what goes with the change is written in the same transaction, all or nothing.
    const updated = await this.transaction(async (trx) => {
      if (!(await update(trx))) return false;
      if (outbox) await writeOutbox(trx, outbox);
      await writeEvents(trx, this.dialect, id, events);
      if (audit) await writeAudit(trx, audit);
      if (job) await writeJob(trx, job);
      return true;
    });
    if (updated && events.length > 0) this.events.emit("event", id);
    return updated;
  }

  /**
   * PostgreSQL: a request's change (`change`, an insert or a conditional update returning the
   * request's id and team) and what goes with it, in one statement: one round trip, where a
   * transaction took one per row and two more. The events, audit entry, job and outbox rows
   * are written only when the change is (they are joined with its returned row), and other
   * replicas are told of the events at the commit. Returns whether the change was made.
   */
  private async changeAtOnce(
    change: Compilable<{ id: string; team: string }>,
    requestId: string,
    events: readonly NewEvent[],
    extras: { audit?: AuditEntry; job?: NewJob; outbox?: OutboxEntry },
  ): Promise<boolean> {
    const parts = [sql`g as (${change})`];
    if (events.length > 0) {
      const rows = events.map((e) => ({ request_id: requestId, at: e.at, type: e.type, data: JSON.stringify(e.data) }));
      parts.push(sql`e as (${insertWithChange("events", rows, [], "request_id")})`);
    }
    if (extras.audit) parts.push(sql`a as (${insertWithChange("audit", [auditRow(extras.audit)])})`);
    if (extras.job) parts.push(sql`j as (${insertWithChange("jobs", [jobRow(extras.job)], ["team"])})`);
    if (extras.outbox) {
      // The deliveries' foreign key is checked at the end of the statement, when both are in.
      parts.push(sql`o as (${insertWithChange("notification_events", [{ ...extras.outbox.event }])})`);
      const deliveries = deliveryRows(extras.outbox);
      if (deliveries.length > 0) parts.push(sql`d as (${insertWithChange("notification_deliveries", deliveries)})`);
    }
    // Selected so that the notifications are sent (a CTE no one reads would not run).
    const notified =
      events.length > 0
        ? sql`(select count(*) from (select pg_notify(${EVENTS_CHANNEL}, x.request_id) from (select distinct request_id from e) x) n)::int`
        : sql`0`;
    const result = await sql<{
      changed: number;
      notified: number;
    }>`with ${sql.join(parts)} select (select count(*) from g)::int as changed, ${notified} as notified`.execute(this.db);
    return (result.rows[0]?.changed ?? 0) > 0;
  }

  /** Requests on `stack` that have not reached a terminal status. */
  async inFlight(stack: string, terminal: readonly string[]): Promise<RequestRow[]> {
    return this.db
      .selectFrom("requests")
      .selectAll()
      .where("stack", "=", stack)
      .where("status", "not in", [...terminal])
      .execute();
  }

  /** Requests waiting for approval since before `cutoff`. */
  async awaitingSince(cutoff: string): Promise<RequestRow[]> {
    return this.db.selectFrom("requests").selectAll().where("status", "=", "awaiting_approval").where("awaiting_since", "<", cutoff).execute();
  }

  // Approvals

  async addApproval(a: { request_id: string; by: string; at: string; digest: string; comment: string | null }): Promise<void> {
    await this.db.insertInto("approvals").values(a).execute();
  }

  /** The highest approval id so far (0 when none). */
  async lastApprovalId(): Promise<number> {
    const row = await this.db
      .selectFrom("approvals")
      .select((eb) => eb.fn.max("id").as("max"))
      .executeTakeFirst();
    return Number(row?.max ?? 0);
  }

  async approvals(requestId: string) {
    return this.db.selectFrom("approvals").selectAll().where("request_id", "=", requestId).orderBy("id").execute();
  }

  /** The approvals of several requests in one query (a page of the list), by request id, each list in id order. */
  async approvalsOf(requestIds: readonly string[]): Promise<Map<string, Awaited<ReturnType<Store["approvals"]>>>> {
    const out = new Map<string, Awaited<ReturnType<Store["approvals"]>>>(requestIds.map((id) => [id, []]));
    if (requestIds.length === 0) return out;
    const rows = await this.db
      .selectFrom("approvals")
      .selectAll()
      .where("request_id", "in", [...new Set(requestIds)])
      .orderBy("id")
      .execute();
    for (const row of rows) out.get(row.request_id)!.push(row);
    return out;
  }

  // Audit (append-only: there is no update or delete)

  async audit(entry: AuditEntry): Promise<void> {
    await writeAudit(this.db, entry);
  }

  async auditTrail(filter: { requestId?: string; teams?: string[]; limit?: number }) {
    let q = this.db.selectFrom("audit").selectAll();
    if (filter.requestId) q = q.where("request_id", "=", filter.requestId);
    if (filter.teams) {
      if (filter.teams.length === 0) return [];
      const teams = filter.teams;
      q = q.where((eb) =>
        eb.or([
          eb("request_id", "in", eb.selectFrom("requests").select("requests.id").where("requests.team", "in", teams)),
          eb("request_id", "in", eb.selectFrom("runbook_runs").select("runbook_runs.id").where("runbook_runs.team", "in", teams)),
        ]),
      );
    }
    // The latest entries, oldest first.
    return (
      await q
        .orderBy("id", "desc")
        .limit(filter.limit ?? 1000)
        .execute()
    ).reverse();
  }

  // Track record (earned autonomy; append-only)

  async recordOutcome(entry: Omit<TrackRecordTable, "id">): Promise<void> {
    await this.db.insertInto("track_record").values(entry).execute();
  }

  /** Outcomes since `since` for a team (one key when `key` is given), newest first. */
  async trackRecord(team: string, since: string, key?: { agent: string; offering: string; action: string }) {
    let q = this.db.selectFrom("track_record").selectAll().where("team", "=", team).where("at", ">=", since);
    if (key) q = q.where("agent", "=", key.agent).where("offering", "=", key.offering).where("action", "=", key.action);
    return q.orderBy("at", "desc").orderBy("id", "desc").execute();
  }

  // Events

  async appendEvent(requestId: string, at: string, type: string, data: unknown): Promise<void> {
    return this.appendEvents(requestId, [{ at, type, data }]);
  }

  /** Stores a request's events in one statement (one commit), in the order given. */
  async appendEvents(requestId: string, events: readonly NewEvent[]): Promise<void> {
    await writeEvents(this.db, this.dialect, requestId, events);
    this.events.emit("event", requestId);
  }

  async eventsAfter(requestId: string, afterId: number) {
    return this.db.selectFrom("events").selectAll().where("request_id", "=", requestId).where("id", ">", afterId).orderBy("id").execute();
  }

  // Instances

  async getInstance(stack: string): Promise<InstanceRow | undefined> {
    return this.db.selectFrom("instances").selectAll().where("stack", "=", stack).executeTakeFirst();
  }

  /**
   * The live (not destroyed) instance `name` of `team` in `environment`. Instances are found
   * by this triple, never by a stack name, so another team's look-alike never matches.
   */
  async findInstance(team: string, environment: string, name: string): Promise<InstanceRow | undefined> {
    return this.db
      .selectFrom("instances")
      .selectAll()
      .where("team", "=", team)
      .where("environment", "=", environment)
      .where("name", "=", name)
      .where("status", "<>", "destroyed")
      .executeTakeFirst();
  }

  /** Every instance `team` ever had, destroyed ones included (whose final snapshots it owns). */
  async teamInstances(team: string): Promise<InstanceRow[]> {
    return this.db.selectFrom("instances").selectAll().where("team", "=", team).orderBy("stack").execute();
  }

  async upsertInstance(row: InstanceRow): Promise<void> {
    await this.db
      .insertInto("instances")
      .values(row)
      .onConflict((oc) =>
        oc.column("stack").doUpdateSet({
          offering: row.offering,
          params: row.params,
          outputs: row.outputs,
          status: row.status,
          needs_refresh: row.needs_refresh,
          updated_at: row.updated_at,
        }),
      )
      .execute();
  }

  async setNeedsRefresh(stack: string, value: boolean, at: string): Promise<void> {
    await this.db
      .updateTable("instances")
      .set({ needs_refresh: value ? 1 : 0, updated_at: at })
      .where("stack", "=", stack)
      .execute();
  }

  async listInstances(filter: { teams?: string[]; team?: string }): Promise<InstanceRow[]> {
    // Interrupted creates are listed too: their stack may hold resources and needs a refresh.
    let q = this.db.selectFrom("instances").selectAll().where("status", "in", ["active", "interrupted"]);
    if (filter.team) q = q.where("team", "=", filter.team);
    if (filter.teams) {
      if (filter.teams.length === 0) return [];
      q = q.where("team", "in", filter.teams);
    }
    return q.orderBy("stack").execute();
  }

  // Simulated stack state

  async getStackState(stack: string): Promise<string | undefined> {
    const row = await this.db.selectFrom("stack_state").select("state").where("stack", "=", stack).executeTakeFirst();
    return row?.state;
  }

  async putStackState(stack: string, state: string, at: string): Promise<void> {
    await this.db
      .insertInto("stack_state")
      .values({ stack, state, updated_at: at })
      .onConflict((oc) => oc.column("stack").doUpdateSet({ state, updated_at: at }))
      .execute();
  }

  // Jobs

  async enqueueJob(job: NewJob): Promise<void> {
    await writeJob(this.db, job);
  }

  /**
   * Claims a runnable job whose stack has no running job, for `owner` until `leaseUntil`:
   * round-robin across teams (the team whose last claim is oldest, or that never had one,
   * goes first), then the oldest job of that team. So one team's burst delays another
   * team's first request by at most one job per worker. PostgreSQL: `FOR UPDATE SKIP
   * LOCKED`, so replicas never claim the same job; the partial unique index keeps one
   * running job per stack across replicas.
   */
  async claimJob(owner: string, now: string, leaseUntil: string): Promise<JobRow | undefined> {
    // One statement (one round trip, no explicit transaction): the job is chosen in a
    // subquery and taken in the same update.
    let pick = this.db
      .selectFrom("jobs as q")
      .select("q.id")
      .where("q.status", "=", "queued")
      .where("q.run_after", "<=", now)
      .where((eb) => eb("q.stack", "not in", eb.selectFrom("jobs as r").select("r.stack").where("r.status", "=", "running")))
      .orderBy(sql`(select coalesce(max(k.claim_seq), 0) from jobs k where k.team = q.team)`)
      .orderBy("q.id")
      .limit(1);
    if (this.dialect === "postgres") pick = pick.forUpdate().skipLocked();
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const job = await this.db
          .updateTable("jobs")
          .set((eb) => ({
            status: "running",
            lease_owner: owner,
            lease_until: leaseUntil,
            attempts: eb("attempts", "+", 1),
            updated_at: now,
            claim_seq: sql<number>`(select coalesce(max(k.claim_seq), 0) + 1 from jobs k)`,
          }))
          .where("id", "=", pick)
          .where("status", "=", "queued")
          .returningAll()
          .executeTakeFirst();
        return job as JobRow | undefined;
      } catch (err) {
        // Another replica started a job of the same stack in the meantime: look again.
        if (!isUniqueViolation(err)) throw err;
      }
    }
    return undefined;
  }

  /**
   * Holds `stack` for work outside the queue (a runbook's engine action): a running job
   * row of kind `lock`, so no request job of the stack is claimed meanwhile, on any
   * replica. Undefined when a job is running on the stack. Release with `finishJob`.
   */
  async lockStack(stack: string, owner: string, ownerRef: string, now: string, leaseUntil: string): Promise<JobRow | undefined> {
    try {
      const row = await this.db
        .insertInto("jobs")
        .values({
          request_id: ownerRef,
          kind: "lock",
          stack,
          status: "running",
          attempts: 1,
          lease_owner: owner,
          lease_until: leaseUntil,
          run_after: now,
          created_at: now,
          updated_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return row as JobRow;
    } catch (err) {
      if (isUniqueViolation(err)) return undefined;
      throw err;
    }
  }

  /** Extends a running job's lease; false when the job is no longer ours. */
  async heartbeat(jobId: number, owner: string, leaseUntil: string, now: string): Promise<boolean> {
    const r = await this.db
      .updateTable("jobs")
      .set({ lease_until: leaseUntil, updated_at: now })
      .where("id", "=", jobId)
      .where("lease_owner", "=", owner)
      .where("status", "=", "running")
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async finishJob(jobId: number, owner: string, status: "done" | "failed", now: string): Promise<void> {
    await this.db.updateTable("jobs").set({ status, lease_until: null, updated_at: now }).where("id", "=", jobId).where("lease_owner", "=", owner).execute();
  }

  /** Puts a running job back in the queue (retry later), e.g. on a concurrent update. */
  async requeueJob(jobId: number, owner: string, runAfter: string, now: string): Promise<void> {
    await this.db
      .updateTable("jobs")
      .set({ status: "queued", lease_owner: null, lease_until: null, run_after: runAfter, updated_at: now })
      .where("id", "=", jobId)
      .where("lease_owner", "=", owner)
      .execute();
  }

  /** Running jobs whose lease ran out (their replica died): marks them failed and returns them. */
  async reapExpiredJobs(now: string): Promise<JobRow[]> {
    return this.transaction(async (trx) => {
      const expired = (await trx.selectFrom("jobs").selectAll().where("status", "=", "running").where("lease_until", "<", now).execute()) as JobRow[];
      for (const j of expired) {
        await trx.updateTable("jobs").set({ status: "failed", updated_at: now }).where("id", "=", j.id).where("status", "=", "running").execute();
      }
      return expired;
    });
  }

  async jobs(filter: { requestId?: string } = {}): Promise<JobRow[]> {
    let q = this.db.selectFrom("jobs").selectAll();
    if (filter.requestId) q = q.where("request_id", "=", filter.requestId);
    return (await q.orderBy("id").execute()) as JobRow[];
  }

  // Runbook runs: claimed by one replica at a time (owner + lease), every change a compare-and-set.

  async insertRun(row: RunRow): Promise<void> {
    await this.db.insertInto("runbook_runs").values(row).execute();
  }

  async getRun(id: string): Promise<RunRow | undefined> {
    return this.db.selectFrom("runbook_runs").selectAll().where("id", "=", id).executeTakeFirst();
  }

  /**
   * Updates a run when its status is one of `from` and, with `owner`, while `owner` holds
   * it. Returns whether it was updated.
   */
  async updateRun(id: string, patch: Partial<RunRow>, guard: { from?: string[]; owner?: string } = {}, outbox?: OutboxEntry): Promise<boolean> {
    const update = async (db: Kysely<Database>) => {
      let q = db.updateTable("runbook_runs").set(patch).where("id", "=", id);
      if (guard.from) q = q.where("status", "in", guard.from);
      if (guard.owner) q = q.where("lease_owner", "=", guard.owner);
      const r = await q.executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    };
    if (!outbox) return update(this.db);
    return this.transaction(async (trx) => (await update(trx)) && (await writeOutbox(trx, outbox), true));
  }

  /**
   * Takes a `running` run for `owner` until `leaseUntil`: when nobody holds it, its holder's
   * lease ran out, or `owner` holds it already. False when a live replica holds it.
   */
  async claimRun(id: string, owner: string, now: string, leaseUntil: string): Promise<boolean> {
    const r = await this.db
      .updateTable("runbook_runs")
      .set({ lease_owner: owner, lease_until: leaseUntil })
      .where("id", "=", id)
      .where("status", "=", "running")
      .where((eb) => eb.or([eb("lease_owner", "is", null), eb("lease_until", "<", now), eb("lease_owner", "=", owner)]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Extends `owner`'s lease on a run; false when it is no longer theirs. */
  async heartbeatRun(id: string, owner: string, leaseUntil: string): Promise<boolean> {
    const r = await this.db
      .updateTable("runbook_runs")
      .set({ lease_until: leaseUntil })
      .where("id", "=", id)
      .where("lease_owner", "=", owner)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Lets go of a run (it waits for a person, or it ended). */
  async releaseRun(id: string, owner: string): Promise<void> {
    await this.db.updateTable("runbook_runs").set({ lease_owner: null, lease_until: null }).where("id", "=", id).where("lease_owner", "=", owner).execute();
  }

  /** Runs that are `running` with no live holder: their replica died, or never claimed them. */
  async orphanedRuns(now: string): Promise<RunRow[]> {
    return this.db
      .selectFrom("runbook_runs")
      .selectAll()
      .where("status", "=", "running")
      .where((eb) => eb.or([eb("lease_owner", "is", null), eb("lease_until", "<", now)]))
      .orderBy("created_at")
      .execute();
  }

  async getRunStep(runId: string, n: number): Promise<RunStepRow | undefined> {
    return this.db.selectFrom("runbook_steps").selectAll().where("run_id", "=", runId).where("n", "=", n).executeTakeFirst();
  }

  async runSteps(runId: string): Promise<RunStepRow[]> {
    return this.db.selectFrom("runbook_steps").selectAll().where("run_id", "=", runId).orderBy("n").execute();
  }

  /** Writes a step's fields, creating its row on first write. */
  async setRunStep(runId: string, n: number, patch: Partial<Omit<RunStepRow, "run_id" | "n">>): Promise<void> {
    const r = await this.db.updateTable("runbook_steps").set(patch).where("run_id", "=", runId).where("n", "=", n).executeTakeFirst();
    if (Number(r.numUpdatedRows) > 0) return;
    try {
      await this.db
        .insertInto("runbook_steps")
        .values({
          run_id: runId,
          n,
          status: "pending",
          output: null,
          digest: null,
          approval: null,
          awaiting_since: null,
          approval_floor: 0,
          started_at: null,
          finished_at: null,
          ...patch,
        })
        .execute();
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await this.db.updateTable("runbook_steps").set(patch).where("run_id", "=", runId).where("n", "=", n).execute();
    }
  }

  async addRunApproval(a: { run_id: string; n: number; by: string; at: string; digest: string; comment: string | null }): Promise<void> {
    await this.db.insertInto("runbook_approvals").values(a).execute();
  }

  async runApprovals(runId: string) {
    return this.db.selectFrom("runbook_approvals").selectAll().where("run_id", "=", runId).orderBy("id").execute();
  }

  /** The highest runbook approval id so far (0 when none). */
  async lastRunApprovalId(): Promise<number> {
    const row = await this.db
      .selectFrom("runbook_approvals")
      .select((eb) => eb.fn.max("id").as("max"))
      .executeTakeFirst();
    return Number(row?.max ?? 0);
  }

  // Escalations

  async escalations(requestId: string): Promise<EscalationRow[]> {
    return this.db.selectFrom("escalations").selectAll().where("request_id", "=", requestId).orderBy("rung").execute();
  }

  /** The rungs of several requests (a page of the list) in one query, by request id. */
  async escalationsOf(requestIds: readonly string[]): Promise<Map<string, EscalationRow[]>> {
    const out = new Map<string, EscalationRow[]>(requestIds.map((id) => [id, []]));
    if (requestIds.length === 0) return out;
    const rows = await this.db
      .selectFrom("escalations")
      .selectAll()
      .where("request_id", "in", [...new Set(requestIds)])
      .orderBy("rung")
      .execute();
    for (const row of rows) out.get(row.request_id)!.push(row);
    return out;
  }

  /**
   * Records that a request reached a rung of its escalation ladder, with its audit entry
   * and outbox entry, in one transaction: only while the request still awaits approval
   * (PostgreSQL: its row locked, so a decision in flight either comes first or waits), and
   * only once per rung whatever the replica. Returns whether this call recorded it.
   */
  async escalate(
    rung: EscalationRow,
    audit: { actor: string; action: string; stack: string; detail: unknown },
    outbox: OutboxEntry | undefined,
  ): Promise<boolean> {
    try {
      return await this.transaction(async (trx) => {
        let q = trx.selectFrom("requests").select("status").where("id", "=", rung.request_id);
        if (this.dialect === "postgres") q = q.forUpdate();
        const row = await q.executeTakeFirst();
        if (row?.status !== "awaiting_approval") return false;
        const inserted = await trx
          .insertInto("escalations")
          .values(rung)
          .onConflict((oc) => oc.columns(["request_id", "rung"]).doNothing())
          .returning("rung")
          .executeTakeFirst();
        if (!inserted) return false;
        await trx
          .insertInto("audit")
          .values({ at: rung.at, ...audit, request_id: rung.request_id, digest: null, detail: JSON.stringify(audit.detail) })
          .execute();
        if (outbox) await writeOutbox(trx, outbox);
        return true;
      });
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }

  // Notification deliveries: claimed by workers like jobs (owner and lease).

  /**
   * Claims up to `limit` deliveries that are due: queued ones whose `run_after` passed,
   * and ones whose worker's lease ran out (its replica died mid-delivery). PostgreSQL:
   * `FOR UPDATE SKIP LOCKED`, so replicas never claim the same delivery.
   */
  async claimDeliveries(owner: string, now: string, leaseUntil: string, limit: number): Promise<(DeliveryRow & { payload: string; event: string })[]> {
    const claimed = await this.transaction(async (trx) => {
      let q = trx
        .selectFrom("notification_deliveries")
        .selectAll()
        .where((eb) =>
          eb.or([eb.and([eb("status", "=", "queued"), eb("run_after", "<=", now)]), eb.and([eb("status", "=", "delivering"), eb("lease_until", "<", now)])]),
        )
        .orderBy("id")
        .limit(limit);
      if (this.dialect === "postgres") q = q.forUpdate().skipLocked();
      const rows = (await q.execute()) as DeliveryRow[];
      for (const d of rows) {
        await trx
          .updateTable("notification_deliveries")
          .set({ status: "delivering", lease_owner: owner, lease_until: leaseUntil, attempts: d.attempts + 1, updated_at: now })
          .where("id", "=", d.id)
          .execute();
      }
      return rows.map((d) => ({ ...d, status: "delivering", lease_owner: owner, lease_until: leaseUntil, attempts: d.attempts + 1 }));
    });
    if (claimed.length === 0) return [];
    const events = await this.db
      .selectFrom("notification_events")
      .select(["id", "event", "payload"])
      .where(
        "id",
        "in",
        claimed.map((d) => d.event_id),
      )
      .execute();
    const byId = new Map(events.map((e) => [e.id, e]));
    return claimed.map((d) => ({ ...d, event: byId.get(d.event_id)!.event, payload: byId.get(d.event_id)!.payload }));
  }

  /**
   * Ends `owner`'s attempt at a delivery: `delivered` (never claimed again), `dead`, or
   * back to `queued` until `run_after`. False when the lease was lost meanwhile.
   */
  async finishDelivery(
    id: number,
    owner: string,
    patch: { status: "delivered" | "dead" | "queued"; run_after?: string; last_error?: string | null; now: string },
  ): Promise<boolean> {
    const r = await this.db
      .updateTable("notification_deliveries")
      .set({
        status: patch.status,
        lease_owner: null,
        lease_until: null,
        updated_at: patch.now,
        ...(patch.run_after ? { run_after: patch.run_after } : {}),
        ...(patch.last_error !== undefined ? { last_error: patch.last_error } : {}),
        ...(patch.status === "delivered" ? { delivered_at: patch.now } : {}),
      })
      .where("id", "=", id)
      .where("lease_owner", "=", owner)
      .where("status", "=", "delivering")
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Deliveries with their event, newest first. */
  async deliveries(filter: { status?: string; subjectId?: string; limit?: number } = {}) {
    let q = this.db
      .selectFrom("notification_deliveries as d")
      .innerJoin("notification_events as e", "e.id", "d.event_id")
      .select([
        "d.id",
        "d.event_id",
        "d.sink",
        "d.status",
        "d.attempts",
        "d.run_after",
        "d.last_error",
        "d.delivered_at",
        "d.created_at",
        "d.updated_at",
        "e.event",
        "e.subject_id",
        "e.team",
        "e.at",
      ]);
    if (filter.status) q = q.where("d.status", "=", filter.status);
    if (filter.subjectId) q = q.where("e.subject_id", "=", filter.subjectId);
    return q
      .orderBy("d.id", "desc")
      .limit(filter.limit ?? 200)
      .execute();
  }

  /** Whether the database answers. */
  async ping(): Promise<boolean> {
    await sql`select 1`.execute(this.db);
    return true;
  }
}
