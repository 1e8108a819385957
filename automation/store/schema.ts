/**
 * The store's tables, as Kysely sees them. Timestamps are ISO-8601 strings and JSON is
 * text, so one schema serves SQLite and PostgreSQL alike.
 */
import type { Generated } from "kysely";

export interface RequestsTable {
  id: string;
  action: string;
  team: string;
  environment: string;
  offering: string;
  name: string;
  /** The instance's Pulumi stack: `<team>.<environment>.<name>` (instances made before 0.2: `<team>-<environment>-<name>`). */
  stack: string;
  params: string;
  requested_by: string;
  status: string;
  engine: string;
  risk: string | null;
  preview: string | null;
  violations: string | null;
  outputs: string | null;
  error: string | null;
  /** When the current preview started waiting for approval (for expiry). */
  awaiting_since: string | null;
  /** Approvals with an id at or below this were given for an earlier wait and count no more. */
  approval_floor: number;
  /** `agent` when an agent asked; null (a person) otherwise. */
  requester_kind?: string | null;
  created_at: string;
  updated_at: string;
}

export interface ApprovalsTable {
  id: Generated<number>;
  request_id: string;
  by: string;
  at: string;
  digest: string;
  comment: string | null;
}

export interface AuditTable {
  id: Generated<number>;
  at: string;
  actor: string;
  action: string;
  request_id: string | null;
  stack: string | null;
  digest: string | null;
  detail: string | null;
  /** `agent` when an agent acted; null for people and the system. */
  actor_kind?: string | null;
}

/** One outcome of a change, for earned autonomy. */
export interface TrackRecordTable {
  id: Generated<number>;
  team: string;
  /** The agent that asked, or '' for people. */
  agent: string;
  offering: string;
  action: string;
  level: string;
  /** `success`, `failure`, `rejected`, `rollback`, `revoked`. */
  outcome: string;
  /** 1 when a human approved the change. */
  approved: number;
  request_id: string | null;
  at: string;
}

export interface EventsTable {
  id: Generated<number>;
  request_id: string;
  at: string;
  type: string;
  data: string;
}

export interface InstancesTable {
  stack: string;
  team: string;
  environment: string;
  name: string;
  offering: string;
  params: string;
  outputs: string;
  /** `active` or `destroyed`. */
  status: string;
  /** 1 when an operation was interrupted and the stack must be refreshed before the next one. */
  needs_refresh: number;
  created_at: string;
  updated_at: string;
}

export interface StackStateTable {
  stack: string;
  state: string;
  updated_at: string;
}

export interface JobsTable {
  id: Generated<number>;
  request_id: string;
  /** `preview` or `apply`. */
  kind: string;
  stack: string;
  /** `queued`, `running`, `done`, `failed`. */
  status: string;
  attempts: number;
  lease_owner: string | null;
  lease_until: string | null;
  /** Not before this time (retries). */
  run_after: string;
  created_at: string;
  updated_at: string;
  /** The request's team: jobs are claimed round-robin across teams. Null for stack locks. */
  team: string | null;
  /** When the job was claimed, as a sequence number: the team claimed longest ago goes next. */
  claim_seq: number | null;
}

export interface RunbookRunsTable {
  id: string;
  runbook_id: string;
  /** The team the run acts for (its `team` param), for who may see it. */
  team: string | null;
  params: string;
  requested_by: string;
  /** `running`, `awaiting_answer`, `awaiting_approval`, `succeeded`, `failed`, `rejected`, `cancelled`. */
  status: string;
  /** 1-based number of the step the run is at. */
  current_step: number;
  dry_run: number;
  /** Values steps keep for later steps (JSON). */
  state: string;
  /** Answers by step number (JSON). */
  answers: string;
  error: string | null;
  /** The replica advancing the run, until `lease_until` (null while it waits for a person). */
  lease_owner: string | null;
  lease_until: string | null;
  created_at: string;
  updated_at: string;
}

export interface RunbookStepsTable {
  run_id: string;
  n: number;
  /** `running`, `succeeded`, `failed`, `skipped`, `awaiting_answer`, `awaiting_approval`, `interrupted`. */
  status: string;
  output: string | null;
  /** Irreversible actions: the digest of the plan awaiting approval, its risk and requirement (JSON). */
  digest: string | null;
  approval: string | null;
  awaiting_since: string | null;
  /** Approvals with an id at or below this were given for an earlier wait and count no more. */
  approval_floor: number;
  started_at: string | null;
  finished_at: string | null;
}

export interface RunbookApprovalsTable {
  id: Generated<number>;
  run_id: string;
  n: number;
  by: string;
  at: string;
  digest: string;
  comment: string | null;
}

/** An outbox entry: one event a person may need to know about, with its payload (JSON). */
export interface NotificationEventsTable {
  id: string;
  /** `approval_needed`, `approved`, `rejected`, `escalated`, `applied`, `failed`, `expired`, `blocked`, `answer_needed`. */
  event: string;
  /** The request or runbook run the event is about. */
  subject_id: string;
  team: string | null;
  at: string;
  payload: string;
}

export interface NotificationDeliveriesTable {
  id: Generated<number>;
  event_id: string;
  sink: string;
  /** `queued`, `delivering`, `delivered`, `dead`. */
  status: string;
  attempts: number;
  /** Not before this time (backoff, `Retry-After`). */
  run_after: string;
  lease_owner: string | null;
  lease_until: string | null;
  /** Why the last attempt failed (never a secret). */
  last_error: string | null;
  delivered_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface EscalationsTable {
  request_id: string;
  /** 1-based rung of the request's risk level's ladder. */
  rung: number;
  at: string;
  /** The group `addApprovers` added from this rung on. */
  added_group: string | null;
}

export interface Database {
  runbook_runs: RunbookRunsTable;
  runbook_steps: RunbookStepsTable;
  runbook_approvals: RunbookApprovalsTable;
  requests: RequestsTable;
  approvals: ApprovalsTable;
  audit: AuditTable;
  events: EventsTable;
  instances: InstancesTable;
  stack_state: StackStateTable;
  jobs: JobsTable;
  track_record: TrackRecordTable;
  notification_events: NotificationEventsTable;
  notification_deliveries: NotificationDeliveriesTable;
  escalations: EscalationsTable;
}
