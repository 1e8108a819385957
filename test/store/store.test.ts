/** The store on SQLite and PostgreSQL: migrations, job claims, leases, the audit trail. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Store, reusingStatements } from "../../automation/store/store";
import { freshDatabase, postgresUnavailable } from "../postgres";

const T0 = "2026-11-25T10:00:00.000Z";
const at = (s: number) => new Date(Date.parse(T0) + s * 1000).toISOString();

/** A stored request (created at `at(80)`), with what the test sets. */
const requestRow = (fields: { id: string; team: string; name: string; stack: string; status: string }) => ({
  action: "create",
  environment: "dev",
  offering: "queue",
  params: "{}",
  requested_by: "alice",
  engine: "simulate",
  risk: null,
  preview: null,
  violations: null,
  outputs: null,
  error: null,
  awaiting_since: null,
  approval_floor: 0,
  created_at: at(80),
  updated_at: at(80),
  ...fields,
});

for (const kind of ["sqlite", "postgres"] as const) {
  const skip = kind === "postgres" ? postgresUnavailable() : undefined;
  if (skip) console.log(`store on postgres skipped: ${skip}`);
  describe.skipIf(skip !== undefined)(`store on ${kind}`, () => {
    let url: string | undefined;
    let dir: string;
    const open = () => Store.open(kind === "postgres" ? { databaseUrl: url } : { dataDir: dir });
    let store: Store;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "paved-store-"));
      if (kind === "postgres") url = await freshDatabase();
      store = await open();
    });
    afterAll(async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it.runIf(kind === "postgres")("opens its three pooled connections before answering, and keeps them", async () => {
      const fresh = await Store.open({ databaseUrl: await freshDatabase() });
      try {
        const { sql } = await import("kysely");
        const count = async () =>
          Number((await sql<{ n: string }>`select count(*) as n from pg_stat_activity where datname = current_database()`.execute(fresh.db)).rows[0]!.n);
        expect(await count()).toBe(3);
      } finally {
        await fresh.close();
      }
    });

    /** The number of rows in each of `tables`. */
    const rowCounts = async (tables: string[]) => {
      const { sql } = await import("kysely");
      const out: Record<string, number> = {};
      for (const table of tables) out[table] = Number((await sql<{ n: number }>`select count(*) as n from ${sql.table(table)}`.execute(store.db)).rows[0]!.n);
      return out;
    };

    it("warms up without leaving anything behind: no row, no job, no event told", async () => {
      const counts = () => rowCounts(["requests", "events", "audit", "jobs", "instances", "stack_state"]);
      const before = await counts();
      const told: string[] = [];
      const listen = (id: string) => told.push(id);
      store.events.on("event", listen);
      try {
        await store.warm();
        await new Promise((r) => setTimeout(r, 100));
      } finally {
        store.events.off("event", listen);
      }
      expect(await counts()).toEqual(before);
      expect(told).toEqual([]);
    });

    it("rehearses in one transaction that is rolled back however it ends: its own writes read back, none stays, none told", async () => {
      const { sql } = await import("kysely");
      const counts = () => rowCounts(["requests", "events", "audit", "jobs", "notification_events", "notification_deliveries"]);
      const before = await counts();
      const told: string[] = [];
      const listen = (id: string) => told.push(id);
      store.events.on("event", listen);
      const row = requestRow({ id: "reh-1", team: "payments", name: "reh", stack: "payments.dev.reh", status: "previewing" });
      const write = async (r: Store) => {
        expect(
          await r.insertRequest(row, {
            event: { at: at(80), type: "status", data: { status: "previewing" } },
            audit: { at: at(80), actor: "alice", action: "request.create", request_id: "reh-1", stack: "payments.dev.reh" },
            job: { request_id: "reh-1", kind: "preview", stack: "payments.dev.reh", at: at(80) },
          }),
        ).toBe(true);
        const outbox = { event: { id: "reh-ev", event: "approved", subject_id: "reh-1", team: "payments", at: at(81), payload: "{}" }, sinks: ["chat"] };
        expect(
          await r.updateRequest("reh-1", { status: "approved", updated_at: at(81) }, ["previewing"], outbox, {
            event: { at: at(81), type: "status", data: { status: "approved" } },
          }),
        ).toBe(true);
      };
      try {
        // Its store reads back what it wrote, and tells its own events, not the store's.
        const ownTold: string[] = [];
        const result = await store.rehearse(async (r) => {
          r.events.on("event", (id: string) => ownTold.push(id));
          await write(r);
          // A transaction inside the rehearsal joins it (it would wait for itself otherwise).
          await r.transaction(async (trx) => {
            await trx.updateTable("requests").set({ error: "inner" }).where("id", "=", "reh-1").execute();
          });
          const read = await r.getRequest("reh-1");
          return `${read?.status} ${read?.error}`;
        });
        expect(result).toBe("approved inner");
        expect(ownTold).toEqual(["reh-1", "reh-1"]);
        expect(await store.getRequest("reh-1")).toBeUndefined();
        expect(await counts()).toEqual(before);

        // An error ends it the same way, and comes out as it was.
        const failure = new Error("the rehearsal broke");
        await expect(
          store.rehearse(async (r) => {
            await write(r);
            throw failure;
          }),
        ).rejects.toBe(failure);
        expect(await counts()).toEqual(before);
        await new Promise((r) => setTimeout(r, 100));
      } finally {
        store.events.off("event", listen);
      }
      expect(told).toEqual([]);
      // Nothing held: the store goes on as before.
      expect(await store.insertRequest(row, { event: { at: at(80), type: "status", data: { status: "previewing" } } })).toBe(true);
      expect((await store.getRequest("reh-1"))?.status).toBe("previewing");
      await sql`delete from events where request_id = 'reh-1'`.execute(store.db);
      await sql`delete from requests where id = 'reh-1'`.execute(store.db);
    });

    it("writes a request's change and all that goes with it, or nothing when the change is not made", async () => {
      const { sql } = await import("kysely");
      const count = async (table: string, where: string) =>
        Number((await sql<{ n: number }>`select count(*) as n from ${sql.table(table)} where ${sql.raw(where)}`.execute(store.db)).rows[0]!.n);
      const row = requestRow({ id: "chg-1", team: "payments", name: "chg", stack: "payments.dev.chg", status: "previewing" });
      const extras = (n: number) => ({
        before: [{ at: at(n), type: "progress", data: { line: `line ${n}` } }],
        event: { at: at(n), type: "status", data: { status: "approved" } },
        audit: { at: at(n), actor: "paved", action: `chg.${n}`, request_id: "chg-1", stack: "payments.dev.chg", detail: { n } },
        job: { request_id: "chg-1", kind: "apply", stack: "payments.dev.chg", at: at(n) },
      });
      const outbox = (n: number) => ({
        event: { id: `chg-ev-${n}`, event: "approved", subject_id: "chg-1", team: "payments", at: at(n), payload: "{}" },
        sinks: ["chat", "chat", "mail"],
      });
      expect(
        await store.insertRequest(row, {
          event: { at: at(80), type: "status", data: { status: "previewing" } },
          audit: extras(80).audit,
          job: { ...extras(80).job, kind: "preview" },
        }),
      ).toBe(true);
      // The same id again: refused, nothing more written.
      expect(await store.insertRequest(row, { event: { at: at(80), type: "status", data: {} }, audit: extras(79).audit })).toBe(false);
      // Not in `from`: nothing is written.
      expect(await store.updateRequest("chg-1", { status: "approved", updated_at: at(81) }, ["applying"], outbox(81), extras(81))).toBe(false);
      expect(await store.updateRequest("chg-1", { status: "approved", updated_at: at(82) }, ["previewing"], outbox(82), extras(82))).toBe(true);
      expect((await store.eventsAfter("chg-1", 0)).map((e) => [e.type, JSON.parse(e.data)])).toEqual([
        ["status", { status: "previewing" }],
        ["progress", { line: "line 82" }],
        ["status", { status: "approved" }],
      ]);
      expect(await count("audit", "request_id = 'chg-1'")).toBe(2);
      expect(await count("audit", "action = 'chg.82' and detail = '{\"n\":82}'")).toBe(1);
      expect(await count("jobs", "request_id = 'chg-1' and team = 'payments' and status = 'queued' and attempts = 0")).toBe(2);
      expect(await count("notification_events", "subject_id = 'chg-1'")).toBe(1);
      expect(await count("notification_deliveries", "event_id = 'chg-ev-82' and status = 'queued'")).toBe(2);
      expect((await store.getRequest("chg-1"))?.status).toBe("approved");
    });

    it("migrates once: a second open finds the schema in place", async () => {
      const again = await open();
      expect(await again.ping()).toBe(true);
      await again.close();
      const tables = (await store.db
        .selectFrom("paved_migrations" as never)
        .select("name" as never)
        .execute()) as { name: string }[];
      expect(tables.map((t) => t.name)).toEqual([
        "0001-initial",
        "0002-runbooks",
        "0003-approval-floor",
        "0004-one-request-in-flight",
        "0005-gate-for-every-door",
        "0006-fair-claims",
        "0007-notifications",
        "0008-earned-autonomy",
        "0010-request-list-index",
        "0011-request-list-keys",
      ]);
    });

    it("claims each job once, oldest first, never two running jobs of one stack", async () => {
      await store.enqueueJob({ request_id: "r1", kind: "preview", stack: "s-a", at: at(0) });
      await store.enqueueJob({ request_id: "r2", kind: "apply", stack: "s-a", at: at(1) });
      await store.enqueueJob({ request_id: "r3", kind: "preview", stack: "s-b", at: at(2) });
      const first = await store.claimJob("one", at(3), at(63));
      expect(first).toMatchObject({ request_id: "r1", status: "running", lease_owner: "one", attempts: 1 });
      // r2 is of the same stack as the running r1: r3 comes next.
      const second = await store.claimJob("two", at(3), at(63));
      expect(second).toMatchObject({ request_id: "r3", lease_owner: "two" });
      expect(await store.claimJob("two", at(3), at(63))).toBeUndefined();
      await store.finishJob(first!.id, "one", "done", at(4));
      const third = await store.claimJob("two", at(5), at(65));
      expect(third).toMatchObject({ request_id: "r2", kind: "apply" });
      await store.finishJob(second!.id, "two", "done", at(6));
      await store.finishJob(third!.id, "two", "done", at(6));
    });

    it("concurrent claimers never get the same job", async () => {
      for (let i = 0; i < 20; i++) await store.enqueueJob({ request_id: `c${i}`, kind: "preview", stack: `stack-${i}`, at: at(10) });
      const claimers = Array.from({ length: 8 }, async (_, n) => {
        const got: string[] = [];
        for (;;) {
          const job = await store.claimJob(`w${n}`, at(11), at(71));
          if (!job) return got;
          got.push(job.request_id);
          await store.finishJob(job.id, `w${n}`, "done", at(12));
        }
      });
      const all = (await Promise.all(claimers)).flat().filter((id) => id.startsWith("c"));
      expect(all.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `c${i}`).sort());
    });

    it.runIf(kind === "postgres")("tells its own streams of its events once, and another replica's once, through NOTIFY", async () => {
      const other = await Store.open({ databaseUrl: url });
      try {
        await Promise.all([store.watchEvents(), other.watchEvents()]);
        const heard = { own: [] as string[], other: [] as string[] };
        const onOwn = (id: string) => heard.own.push(id);
        const onOther = (id: string) => heard.other.push(id);
        store.events.on("event", onOwn);
        other.events.on("event", onOther);
        await store.appendEvents("n1", [
          { at: at(30), type: "progress", data: { line: "a" } },
          { at: at(30), type: "progress", data: { line: "b" } },
        ]);
        await other.appendEvent("n2", at(31), "progress", { line: "c" });
        // Notifications arrive after the commit: wait until both are in, then a little more.
        const deadline = Date.now() + 5000;
        while ((heard.own.length < 2 || heard.other.length < 2) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        await new Promise((r) => setTimeout(r, 200));
        store.events.off("event", onOwn);
        other.events.off("event", onOther);
        // Each store: its own event at once (in-process), the other's through NOTIFY, neither twice.
        expect(heard.own.sort()).toEqual(["n1", "n2"]);
        expect(heard.other.sort()).toEqual(["n1", "n2"]);
      } finally {
        await other.close();
      }
    });

    it("a heartbeat extends only the owner's lease; an expired lease is reaped", async () => {
      await store.enqueueJob({ request_id: "h1", kind: "apply", stack: "s-h", at: at(20) });
      const job = (await store.claimJob("alive", at(21), at(31)))!;
      expect(await store.heartbeat(job.id, "alive", at(41), at(25))).toBe(true);
      expect(await store.heartbeat(job.id, "thief", at(99), at(25))).toBe(false);
      expect(await store.reapExpiredJobs(at(40))).toEqual([]);
      const reaped = await store.reapExpiredJobs(at(42));
      expect(reaped.map((j) => j.request_id)).toEqual(["h1"]);
      expect((await store.jobs({ requestId: "h1" }))[0].status).toBe("failed");
      // The stack is free again.
      await store.enqueueJob({ request_id: "h2", kind: "apply", stack: "s-h", at: at(43) });
      expect((await store.claimJob("next", at(44), at(104)))?.request_id).toBe("h2");
    });

    it("a requeued job waits for its retry time", async () => {
      await store.enqueueJob({ request_id: "q1", kind: "apply", stack: "s-q", at: at(50) });
      const job = (await store.claimJob("w", at(51), at(111)))!;
      await store.requeueJob(job.id, "w", at(60), at(51));
      expect(await store.claimJob("w", at(55), at(115))).toBeUndefined();
      expect((await store.claimJob("w", at(60), at(120)))?.request_id).toBe("q1");
    });

    it("refuses a second request in flight on one stack, allows one once the first ended", async () => {
      const row = (id: string, status: string) => requestRow({ id, team: "t", name: "q", stack: "t-dev-q", status });
      expect(await store.insertRequest(row("r-a", "previewing"))).toBe(true);
      expect(await store.insertRequest(row("r-b", "previewing"))).toBe(false);
      expect(await store.updateRequest("r-a", { status: "succeeded" })).toBe(true);
      expect(await store.insertRequest(row("r-c", "previewing"))).toBe(true);
    });

    it("lists newest first, then by id, page after page with the cursor, filtered by team and status", async () => {
      const row = (id: string, team: string, s: number, status = "succeeded") => ({
        ...requestRow({ id, team, name: id, stack: `${team}.dev.${id}`, status }),
        created_at: at(1000 + s),
        updated_at: at(1000 + s),
      });
      // Two pairs created in the same second: the id breaks the tie.
      for (const r of [
        row("l-1", "lt-a", 1),
        row("l-2", "lt-b", 2),
        row("l-3b", "lt-a", 3),
        row("l-3a", "lt-b", 3),
        row("l-4", "lt-a", 4, "failed"),
        row("l-5b", "lt-b", 5),
        row("l-5a", "lt-a", 5),
      ]) {
        expect(await store.insertRequest(r)).toBe(true);
      }
      const teams = ["lt-a", "lt-b"];
      const all = (await store.listRequests({ teams, limit: 100 })).map((r) => r.id);
      expect(all).toEqual(["l-5a", "l-5b", "l-4", "l-3a", "l-3b", "l-2", "l-1"]);
      const pages: string[][] = [];
      let after: { createdAt: string; id: string } | undefined;
      for (;;) {
        const page = await store.listRequests({ teams, limit: 2, after });
        if (page.length === 0) break;
        pages.push(page.map((r) => r.id));
        const last = page[page.length - 1];
        after = { createdAt: last.created_at, id: last.id };
      }
      expect(pages).toEqual([["l-5a", "l-5b"], ["l-4", "l-3a"], ["l-3b", "l-2"], ["l-1"]]);
      expect((await store.listRequests({ team: "lt-a", limit: 100 })).map((r) => r.id)).toEqual(["l-5a", "l-4", "l-3b", "l-1"]);
      expect((await store.listRequests({ team: "lt-a", limit: 2, after: { createdAt: at(1005), id: "l-5a" } })).map((r) => r.id)).toEqual(["l-4", "l-3b"]);
      expect((await store.listRequests({ teams, status: "failed" })).map((r) => r.id)).toEqual(["l-4"]);
      expect(await store.listRequests({ teams: [] })).toEqual([]);
    });

    it("lists the same page as keys only, and reads whole rows by id in the order asked", async () => {
      const teams = ["lt-a", "lt-b"];
      const keys = await store.listRequestKeys({ teams, limit: 3, after: { createdAt: at(1005), id: "l-5b" } });
      expect(keys).toEqual([
        { id: "l-4", status: "failed", updated_at: at(1004), created_at: at(1004) },
        { id: "l-3a", status: "succeeded", updated_at: at(1003), created_at: at(1003) },
        { id: "l-3b", status: "succeeded", updated_at: at(1003), created_at: at(1003) },
      ]);
      expect(await store.listRequestKeys({ teams: [] })).toEqual([]);
      expect((await store.listRequestKeys({ team: "lt-a", status: "failed" })).map((k) => k.id)).toEqual(["l-4"]);
      const rows = await store.getRequests(["l-3b", "nope", "l-1", "l-3b"]);
      expect(rows.map((r) => r.id)).toEqual(["l-3b", "l-1", "l-3b"]);
      expect(rows[0]).toEqual(await store.getRequest("l-3b"));
      expect(await store.getRequests([])).toEqual([]);
    });

    it("reads the approvals of a page in one query, by request, each in id order", async () => {
      await store.addApproval({ request_id: "l-2", by: "bob", at: at(1100), digest: "sha256:a", comment: null });
      await store.addApproval({ request_id: "l-1", by: "carol", at: at(1101), digest: "sha256:b", comment: "ok" });
      await store.addApproval({ request_id: "l-2", by: "carol", at: at(1102), digest: "sha256:a", comment: null });
      const got = await store.approvalsOf(["l-1", "l-2", "l-3a", "l-2"]);
      expect([...got.keys()]).toEqual(["l-1", "l-2", "l-3a"]);
      expect(got.get("l-1")!.map((a) => [a.by, a.comment])).toEqual([["carol", "ok"]]);
      expect(got.get("l-2")!.map((a) => a.by)).toEqual(["bob", "carol"]);
      expect(got.get("l-2")).toEqual(await store.approvals("l-2"));
      expect(got.get("l-3a")).toEqual([]);
      expect((await store.approvalsOf([])).size).toBe(0);
    });

    it("reads a page of the list from an index, with no sort of every request, and its keys from the index alone", async () => {
      const { CompiledQuery, sql } = await import("kysely");
      if (kind === "sqlite") {
        // The store's own queries, planned with statistics of 1,200 requests in four teams.
        const teams = ["pa", "pb", "pc", "pd"];
        await sql`with recursive n(value) as (select 1 union all select value + 1 from n where value < 1200)
          insert into requests select 'plan-' || value, action, 'p' || char(97 + value % 4), environment, offering, name, 'plan.' || value, params,
            requested_by, status, engine, risk, preview, violations, outputs, error, awaiting_since, created_at, updated_at, approval_floor, requester_kind
          from requests, n where requests.id = 'l-1'`.execute(store.db);
        await sql`analyze`.execute(store.db);
        type Compilable = { compile(): { sql: string; parameters: readonly unknown[] } };
        const listQuery = (store as unknown as { listQuery(f: object): { selectAll(): Compilable; select(c: string[]): Compilable } }).listQuery.bind(store);
        const plan = async (query: Compilable) => {
          const { sql: text, parameters } = query.compile();
          const { rows } = await store.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`explain query plan ${text}`, [...parameters]));
          return rows.map((r) => r.detail).join("; ");
        };
        for (const filter of [{}, { teams }, { teams: ["pa", "pb"] }, { teams: ["pa"] }, { team: "pa" }, { teams, after: { createdAt: "x", id: "y" } }]) {
          const where = JSON.stringify(filter);
          const rows = await plan(listQuery({ ...filter, limit: 51 }).selectAll());
          expect(rows, where).toMatch(/USING INDEX requests_(team_)?list_order/);
          expect(rows, where).not.toMatch(/TEMP B-TREE/);
          const keys = await plan(listQuery({ ...filter, limit: 51 }).select(["id", "status", "updated_at", "created_at"]));
          expect(keys, where).toMatch(/USING COVERING INDEX requests_(team_)?list_order/);
          expect(keys, where).not.toMatch(/TEMP B-TREE/);
        }
        await sql`delete from requests where id like 'plan-%'`.execute(store.db);
      } else {
        const indexes = (
          await sql<{ indexname: string; indexdef: string }>`select indexname, indexdef from pg_indexes where tablename = 'requests'`.execute(store.db)
        ).rows;
        const defs = Object.fromEntries(indexes.map((i) => [i.indexname, i.indexdef.replace(/^.* USING btree /, "")]));
        expect(defs.requests_list_order).toBe("(created_at DESC, id) INCLUDE (team, status, updated_at)");
        expect(defs.requests_team_list_order).toBe("(team, created_at DESC, id) INCLUDE (status, updated_at)");
      }
    });

    it("keeps the audit trail in order, with its details", async () => {
      await store.audit({ at: at(70), actor: "alice", action: "request.create", request_id: "a1", stack: "s", detail: { offering: "queue" } });
      await store.audit({ at: at(71), actor: "bob", action: "request.approve", request_id: "a1", digest: "sha256:x" });
      const trail = await store.auditTrail({ requestId: "a1" });
      expect(trail.map((e) => [e.actor, e.action, e.digest, e.detail])).toEqual([
        ["alice", "request.create", null, '{"offering":"queue"}'],
        ["bob", "request.approve", "sha256:x", null],
      ]);
    });
  });
}

describe("reusingStatements", () => {
  it("prepares each SQL text once, again only while its statement is busy, and forgets the least recently used", () => {
    const prepared: string[] = [];
    const db = {
      prepare: (text: string) => {
        prepared.push(text);
        return { text, busy: false };
      },
      close: () => undefined,
    };
    const reusing = reusingStatements(db);
    const a = reusing.prepare("select 1");
    expect(reusing.prepare("select 1")).toBe(a);
    a.busy = true;
    const fresh = reusing.prepare("select 1");
    expect(fresh).not.toBe(a);
    a.busy = false;
    expect(reusing.prepare("select 1")).toBe(a);
    expect(prepared).toEqual(["select 1", "select 1"]);
    for (let i = 0; i < 300; i++) reusing.prepare(`select ${i + 2}`);
    expect(reusing.prepare("select 301")).toBe(reusing.prepare("select 301"));
    prepared.length = 0;
    reusing.prepare("select 1");
    expect(prepared).toEqual(["select 1"]);
  });
});
