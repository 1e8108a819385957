/**
 * Schema migrations, in code, run at start-up on SQLite and PostgreSQL alike. Add a new
 * entry for every change; never edit one that has shipped.
 */
import { Kysely, sql } from "kysely";
import { Migration, MigrationProvider, Migrator } from "kysely/migration";

export type Dialect = "sqlite" | "postgres";

function migrations(dialect: Dialect): Record<string, Migration> {
  // An auto-incrementing integer key: SQLite's rowid alias, PostgreSQL's identity column.
  const serial = (db: Kysely<any>, table: string) =>
    dialect === "postgres"
      ? db.schema.createTable(table).addColumn("id", "integer", (c) => c.primaryKey().generatedAlwaysAsIdentity())
      : db.schema.createTable(table).addColumn("id", "integer", (c) => c.primaryKey().autoIncrement());
  return {
    "0001-initial": {
      async up(db) {
        await db.schema
          .createTable("requests")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("action", "text", (c) => c.notNull())
          .addColumn("team", "text", (c) => c.notNull())
          .addColumn("environment", "text", (c) => c.notNull())
          .addColumn("offering", "text", (c) => c.notNull())
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("stack", "text", (c) => c.notNull())
          .addColumn("params", "text", (c) => c.notNull())
          .addColumn("requested_by", "text", (c) => c.notNull())
          .addColumn("status", "text", (c) => c.notNull())
          .addColumn("engine", "text", (c) => c.notNull())
          .addColumn("risk", "text")
          .addColumn("preview", "text")
          .addColumn("violations", "text")
          .addColumn("outputs", "text")
          .addColumn("error", "text")
          .addColumn("awaiting_since", "text")
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("updated_at", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("requests_stack_status").on("requests").columns(["stack", "status"]).execute();
        await db.schema.createIndex("requests_team_status").on("requests").columns(["team", "status"]).execute();

        await serial(db, "approvals")
          .addColumn("request_id", "text", (c) => c.notNull().references("requests.id"))
          .addColumn("by", "text", (c) => c.notNull())
          .addColumn("at", "text", (c) => c.notNull())
          .addColumn("digest", "text", (c) => c.notNull())
          .addColumn("comment", "text")
          .execute();
        await db.schema.createIndex("approvals_request").on("approvals").column("request_id").execute();

        await serial(db, "audit")
          .addColumn("at", "text", (c) => c.notNull())
          .addColumn("actor", "text", (c) => c.notNull())
          .addColumn("action", "text", (c) => c.notNull())
          .addColumn("request_id", "text")
          .addColumn("stack", "text")
          .addColumn("digest", "text")
          .addColumn("detail", "text")
          .execute();
        await db.schema.createIndex("audit_request").on("audit").column("request_id").execute();

        await serial(db, "events")
          .addColumn("request_id", "text", (c) => c.notNull())
          .addColumn("at", "text", (c) => c.notNull())
          .addColumn("type", "text", (c) => c.notNull())
          .addColumn("data", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("events_request").on("events").columns(["request_id", "id"]).execute();

        await db.schema
          .createTable("instances")
          .addColumn("stack", "text", (c) => c.primaryKey())
          .addColumn("team", "text", (c) => c.notNull())
          .addColumn("environment", "text", (c) => c.notNull())
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("offering", "text", (c) => c.notNull())
          .addColumn("params", "text", (c) => c.notNull())
          .addColumn("outputs", "text", (c) => c.notNull())
          .addColumn("status", "text", (c) => c.notNull())
          .addColumn("needs_refresh", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("updated_at", "text", (c) => c.notNull())
          .execute();

        await db.schema
          .createTable("stack_state")
          .addColumn("stack", "text", (c) => c.primaryKey())
          .addColumn("state", "text", (c) => c.notNull())
          .addColumn("updated_at", "text", (c) => c.notNull())
          .execute();

        await serial(db, "jobs")
          .addColumn("request_id", "text", (c) => c.notNull())
          .addColumn("kind", "text", (c) => c.notNull())
          .addColumn("stack", "text", (c) => c.notNull())
          .addColumn("status", "text", (c) => c.notNull())
          .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("lease_owner", "text")
          .addColumn("lease_until", "text")
          .addColumn("run_after", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("updated_at", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("jobs_status_run_after").on("jobs").columns(["status", "run_after"]).execute();
        // At most one running job per stack, whatever the number of replicas.
        await sql`create unique index jobs_one_running_per_stack on jobs (stack) where status = 'running'`.execute(db);
      },
    },
    "0002-runbooks": {
      async up(db) {
        await db.schema
          .createTable("runbook_runs")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("runbook_id", "text", (c) => c.notNull())
          .addColumn("team", "text")
          .addColumn("params", "text", (c) => c.notNull())
          .addColumn("requested_by", "text", (c) => c.notNull())
          .addColumn("status", "text", (c) => c.notNull())
          .addColumn("current_step", "integer", (c) => c.notNull())
          .addColumn("dry_run", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("state", "text", (c) => c.notNull())
          .addColumn("answers", "text", (c) => c.notNull())
          .addColumn("error", "text")
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("updated_at", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("runbook_runs_status").on("runbook_runs").column("status").execute();
        await db.schema
          .createTable("runbook_steps")
          .addColumn("run_id", "text", (c) => c.notNull().references("runbook_runs.id"))
          .addColumn("n", "integer", (c) => c.notNull())
          .addColumn("status", "text", (c) => c.notNull())
          .addColumn("output", "text")
          .addColumn("digest", "text")
          .addColumn("approval", "text")
          .addColumn("awaiting_since", "text")
          .addColumn("started_at", "text")
          .addColumn("finished_at", "text")
          .addPrimaryKeyConstraint("runbook_steps_pk", ["run_id", "n"])
          .execute();
        await serial(db, "runbook_approvals")
          .addColumn("run_id", "text", (c) => c.notNull().references("runbook_runs.id"))
          .addColumn("n", "integer", (c) => c.notNull())
          .addColumn("by", "text", (c) => c.notNull())
          .addColumn("at", "text", (c) => c.notNull())
          .addColumn("digest", "text", (c) => c.notNull())
          .addColumn("comment", "text")
          .execute();
      },
    },
    "0003-approval-floor": {
      async up(db) {
        // Approvals with an id at or below the floor were given for an earlier wait.
        await db.schema
          .alterTable("requests")
          .addColumn("approval_floor", "integer", (c) => c.notNull().defaultTo(0))
          .execute();
      },
    },
    "0004-one-request-in-flight": {
      async up(db) {
        // Two requests on one stack at once would race: the database refuses the second.
        await sql`create unique index requests_one_in_flight on requests (stack) where status in ('previewing', 'awaiting_approval', 'approved', 'applying')`.execute(
          db,
        );
      },
    },
    "0005-gate-for-every-door": {
      async up(db) {
        // An instance is found by (team, environment, name), never by a stack name another
        // team's look-alike could produce; one live instance per triple. Existing stacks keep
        // their names (the engine's backend knows them by it), new ones get `team.env.name`.
        await sql`create unique index instances_identity on instances (team, environment, name) where status <> 'destroyed'`.execute(db);
        // Runbook runs are claimed like jobs: an owner and a lease, so a replica starting up
        // never takes a run another live replica is advancing.
        await db.schema.alterTable("runbook_runs").addColumn("lease_owner", "text").execute();
        await db.schema.alterTable("runbook_runs").addColumn("lease_until", "text").execute();
        // Approvals of a runbook step count for the wait they were given in, as for requests.
        await db.schema
          .alterTable("runbook_steps")
          .addColumn("approval_floor", "integer", (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema.createIndex("runbook_approvals_step").on("runbook_approvals").columns(["run_id", "n"]).execute();
      },
    },
    "0006-fair-claims": {
      async up(db) {
        // Jobs are claimed round-robin across teams: each job knows its team, and each claim its turn.
        await db.schema.alterTable("jobs").addColumn("team", "text").execute();
        await db.schema.alterTable("jobs").addColumn("claim_seq", "integer").execute();
        await sql`update jobs set team = (select r.team from requests r where r.id = jobs.request_id)`.execute(db);
        await db.schema.createIndex("jobs_team_claim_seq").on("jobs").columns(["team", "claim_seq"]).execute();
        await db.schema.createIndex("jobs_claim_seq").on("jobs").column("claim_seq").execute();
      },
    },
    "0007-notifications": {
      async up(db) {
        // The outbox: each event a person may act on, written with the change that caused it.
        await db.schema
          .createTable("notification_events")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("event", "text", (c) => c.notNull())
          .addColumn("subject_id", "text", (c) => c.notNull())
          .addColumn("team", "text")
          .addColumn("at", "text", (c) => c.notNull())
          .addColumn("payload", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("notification_events_subject").on("notification_events").column("subject_id").execute();
        // One delivery per event and sink, claimed by workers like a job (owner and lease).
        await serial(db, "notification_deliveries")
          .addColumn("event_id", "text", (c) => c.notNull().references("notification_events.id"))
          .addColumn("sink", "text", (c) => c.notNull())
          .addColumn("status", "text", (c) => c.notNull())
          .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("run_after", "text", (c) => c.notNull())
          .addColumn("lease_owner", "text")
          .addColumn("lease_until", "text")
          .addColumn("last_error", "text")
          .addColumn("delivered_at", "text")
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("updated_at", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("notification_deliveries_one").on("notification_deliveries").columns(["event_id", "sink"]).unique().execute();
        await db.schema.createIndex("notification_deliveries_status").on("notification_deliveries").columns(["status", "run_after"]).execute();
        // The rungs of the escalation ladder a request reached: each fires once, whatever the replica.
        await db.schema
          .createTable("escalations")
          .addColumn("request_id", "text", (c) => c.notNull().references("requests.id"))
          .addColumn("rung", "integer", (c) => c.notNull())
          .addColumn("at", "text", (c) => c.notNull())
          .addColumn("added_group", "text")
          .addPrimaryKeyConstraint("escalations_pk", ["request_id", "rung"])
          .execute();
      },
    },
    "0008-earned-autonomy": {
      async up(db) {
        // Who asked: a person or an agent (null before agents existed: a person).
        await db.schema.alterTable("requests").addColumn("requester_kind", "text").execute();
        await db.schema.alterTable("audit").addColumn("actor_kind", "text").execute();
        // The track record earned autonomy is decided from: one row per outcome of a change,
        // per team x offering x action, and per agent for an agent's requests ('' for people).
        await serial(db, "track_record")
          .addColumn("team", "text", (c) => c.notNull())
          .addColumn("agent", "text", (c) => c.notNull().defaultTo(""))
          .addColumn("offering", "text", (c) => c.notNull())
          .addColumn("action", "text", (c) => c.notNull())
          .addColumn("level", "text", (c) => c.notNull())
          .addColumn("outcome", "text", (c) => c.notNull())
          .addColumn("approved", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("request_id", "text")
          .addColumn("at", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("track_record_key").on("track_record").columns(["team", "agent", "offering", "action", "at"]).execute();
      },
    },
    "0010-request-list-index": {
      async up(db) {
        // The list's order (newest first, then id), for everyone and for one team: a page
        // reads its rows from the index instead of sorting every request.
        await sql`create index requests_list_order on requests (created_at desc, id)`.execute(db);
        await sql`create index requests_team_list_order on requests (team, created_at desc, id)`.execute(db);
      },
    },
    "0011-request-list-keys": {
      async up(db) {
        // The list reads only what identifies each row's state (id, status, updated_at) and
        // answers ended requests from kept texts: with those in the index, a page is read from
        // the index alone, never from rows whose previews spill over several pages.
        await sql`drop index requests_list_order`.execute(db);
        await sql`drop index requests_team_list_order`.execute(db);
        if (dialect === "postgres") {
          await sql`create index requests_list_order on requests (created_at desc, id) include (team, status, updated_at)`.execute(db);
          await sql`create index requests_team_list_order on requests (team, created_at desc, id) include (status, updated_at)`.execute(db);
        } else {
          await sql`create index requests_list_order on requests (created_at desc, id, team, status, updated_at)`.execute(db);
          await sql`create index requests_team_list_order on requests (team, created_at desc, id, status, updated_at)`.execute(db);
        }
      },
    },
  };
}

class InCodeProvider implements MigrationProvider {
  constructor(private readonly dialect: Dialect) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations(this.dialect);
  }
}

/** Brings the database to the latest schema; throws with the failing migration's name. */
export async function migrate(db: Kysely<any>, dialect: Dialect): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: new InCodeProvider(dialect),
    migrationTableName: "paved_migrations",
    migrationLockTableName: "paved_migrations_lock",
  });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === "Error");
  if (error || failed) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(failed ? `migration ${failed.migrationName} failed: ${reason}` : `the migrations could not start (paved_migrations tables): ${reason}`);
  }
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}
