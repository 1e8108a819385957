/**
 * The request lifecycle:
 *
 * ```
 * submitted -> previewing -> awaiting_approval -> approved -> applying -> succeeded
 *                  |              |  (rejected, expired, cancelled)        -> failed
 *                  |-> blocked (mandatory policy violation)
 *                  |-> approved (auto: risk within the team's autonomy)
 * ```
 *
 * Every transition is a compare-and-set on the status in the store, is audited, and emits
 * an event. Engine work runs as jobs (preview, apply) that a runner claims; the workflow
 * only decides. Risk and approvals come from `risk.ts`, shared with the PR comment.
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { Environment, isOffering } from "../components/guardrails";
import { validateOfferingInstance } from "../components/offerings";
import type { Violation } from "../policy-pack/evaluate";
import { EnvironmentSpec, formatPath, validateSpec } from "../stacks/spec";
import type { PavedConfig, Person } from "./config";
import type { Engine, EngineOperation, EnginePreview } from "./engine/types";
import { ConcurrentOperationError, JobInterrupted, PreviewChangedError } from "./engine/types";
import { ExtraRisk, Gate, GateSubject, RecordInput } from "./gate";
import type { Outcome } from "./earned";
import { ApprovalRequirement, ClassifiedStep, RiskLevel } from "./risk";
import { finalSnapshotIdentifier } from "../components/aws/naming";
import type { AuditEntry, JobRow, NewEvent, RequestRow, Store } from "./store/store";
import { DomainError } from "./errors";
import { Outbox, STATUS_EVENTS } from "./notifications/outbox";

export const STATUSES = [
  "previewing",
  "awaiting_approval",
  "approved",
  "applying",
  "succeeded",
  "failed",
  "blocked",
  "rejected",
  "cancelled",
  "expired",
] as const;
export type Status = (typeof STATUSES)[number];
export const TERMINAL_STATUSES: readonly Status[] = ["succeeded", "failed", "blocked", "rejected", "cancelled", "expired"];

export type Action = "create" | "update" | "destroy";

export interface SubmitInput {
  action: Action;
  team: string;
  environment: Environment;
  offering: string;
  name: string;
  params: Record<string, unknown>;
}

/** What the API shows of a request's risk. */
export interface RiskView {
  level: RiskLevel;
  blocked: boolean;
  reasons: string[];
  requiredApprovals: ApprovalRequirement & { description: string };
  /** Why the change applies alone on earned autonomy (also the first of `reasons`). */
  earned?: string;
}

export interface PreviewView {
  digest: string;
  steps: { op: string; urn: string; type: string; risk: string; reasons: string[]; changedKeys: string[] }[];
  changeSummary: Record<string, number>;
}

/** Who acted: a person or an agent (the string fields beside it keep the name alone). */
export interface ActorView {
  kind: "person" | "agent";
  name: string;
}

export interface RequestView {
  id: string;
  action: Action;
  team: string;
  environment: Environment;
  offering: string;
  name: string;
  stack: string;
  params: Record<string, unknown>;
  requestedBy: string;
  /** The requester, with its kind: agents are shown as agents everywhere. */
  actor: ActorView;
  status: Status;
  engine: string;
  risk: RiskView | null;
  preview: PreviewView | null;
  violations: Violation[];
  approvals: { by: string; at: string; digest: string; comment: string | null }[];
  /** While awaiting approval: approvals counted for the current preview, how many are missing, and who may give them. */
  approvalsNeeded?: { counted: string[]; missing: number; summary: string; approvers: string[] };
  /** The escalation rungs the request reached, in order. */
  escalations: { rung: number; at: string; addedGroup?: string }[];
  outputs: Record<string, unknown> | null;
  error: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface WorkflowOptions {
  store: Store;
  engine: Engine;
  config: PavedConfig;
  now?: () => Date;
  /** `PAVED_PUBLIC_URL`: the base of links in notifications. */
  publicUrl?: string;
  /** Where operational messages go (never secrets). */
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /**
   * How long the engine's output lines wait to be stored together, in ms. Default 50: a
   * burst of output goes in one insert, and the lines of a short operation go with the
   * status that ends it (one statement, and one read by each stream, instead of one per
   * burst); a stream shows a line at most this much later.
   */
  progressBatchMs?: number;
}

/**
 * `<team>.<environment>.<name>`: the Pulumi stack of a new instance. Teams, environments
 * and names never contain a `.`, so no two instances share a stack (with `-` as the
 * separator, team `payments-dev`'s prod `ledger` and team `payments`'s dev `prod-ledger`
 * did). Instances made before keep their stack; the store finds every instance by its
 * (team, environment, name), never by its stack name.
 */
export function stackName(team: string, environment: string, name: string): string {
  return `${team}.${environment}.${name}`;
}

const SYSTEM = "paved";

const actorOf = (person: Person): ActorView => ({ kind: person.agent ? "agent" : "person", name: person.name });

export class Workflow {
  readonly store: Store;
  readonly engine: Engine;
  readonly config: PavedConfig;
  /** The one approval gate, shared with the runbook executor and every other door. */
  readonly gate: Gate;
  /** Emits `event` (requestId) after every stored event, and `job` when a job is queued. */
  readonly bus = new EventEmitter();
  /** Builds the notifications each change writes with it (see `notifications/outbox.ts`). */
  readonly outbox: Outbox;
  private readonly now: () => Date;
  readonly log: NonNullable<WorkflowOptions["log"]>;
  /** See `WorkflowOptions.progressBatchMs`. */
  progressBatchMs: number;

  constructor(options: WorkflowOptions) {
    this.store = options.store;
    this.engine = options.engine;
    this.config = options.config;
    this.now = options.now ?? (() => new Date());
    this.gate = new Gate(options.config, this.now);
    this.outbox = new Outbox(options.config.notifications, options.publicUrl);
    const quiet = () => undefined;
    this.log = options.log ?? { info: quiet, warn: quiet, error: quiet };
    this.progressBatchMs = options.progressBatchMs ?? 50;
    this.bus.setMaxListeners(0);
  }

  private at(): string {
    return this.now().toISOString();
  }

  private async emit(requestId: string, type: "status" | "progress", data: Record<string, unknown>): Promise<void> {
    // After the engine's lines given so far, in the same insert: a stream shows them in the order they happened.
    const before = await this.takeProgress(requestId);
    await this.store.appendEvents(requestId, [...before, { at: this.at(), type, data }]);
    this.bus.emit("event", requestId);
  }

  /**
   * The engine's output lines of each request not yet written. Lines wait up to
   * `progressBatchMs` and go in one insert (one statement and one commit for a burst of
   * output); the status that ends an operation takes those still waiting into its own
   * statement (`takeProgress`). One write at a time per request, in order.
   */
  private readonly progress = new Map<string, { pending: NewEvent[]; timer?: NodeJS.Timeout; writing: Promise<void> }>();

  private progressLine(requestId: string, line: string): void {
    let state = this.progress.get(requestId);
    if (!state) this.progress.set(requestId, (state = { pending: [], writing: Promise.resolve() }));
    state.pending.push({ at: this.at(), type: "progress", data: { line } });
    state.timer ??= setTimeout(() => void this.writeProgress(requestId), this.progressBatchMs);
  }

  /** Writes the request's waiting lines in one insert, after any write of them in flight. */
  private writeProgress(requestId: string): Promise<void> {
    const state = this.progress.get(requestId);
    if (!state) return Promise.resolve();
    clearTimeout(state.timer);
    state.timer = undefined;
    const written: Promise<void> = state.writing
      .then(() => this.writeLines(requestId, state.pending.splice(0)))
      .finally(() => {
        if (state.writing === written && state.pending.length === 0 && !state.timer && this.progress.get(requestId) === state) this.progress.delete(requestId);
      });
    state.writing = written;
    return written;
  }

  /** Stores lines (a failure is logged: the request goes on without them). */
  private async writeLines(requestId: string, lines: NewEvent[]): Promise<void> {
    if (lines.length === 0) return;
    try {
      await this.store.appendEvents(requestId, lines);
      this.bus.emit("event", requestId);
    } catch (err) {
      this.log.error({ requestId, err }, "progress event not stored");
    }
  }

  /**
   * The request's lines not yet written, once every write of its earlier lines is done: the
   * caller stores them just before its own event, in the same statement.
   */
  private async takeProgress(requestId: string): Promise<NewEvent[]> {
    const state = this.progress.get(requestId);
    if (!state) return [];
    for (let writing = state.writing; ; writing = state.writing) {
      await writing;
      if (state.writing === writing) break;
    }
    clearTimeout(state.timer);
    state.timer = undefined;
    const taken = state.pending.splice(0);
    if (this.progress.get(requestId) === state) this.progress.delete(requestId);
    return taken;
  }

  private async enqueue(request: RequestRow, kind: "preview" | "apply"): Promise<void> {
    await this.store.enqueueJob({ request_id: request.id, kind, stack: request.stack, at: this.at() });
    this.bus.emit("job");
  }

  /**
   * Moves a request from one of `from` to `to`, with the patch; false if it was not in `from`.
   * The change, its notification, its status event and what `then` names (an audit entry, the
   * next job) are one transaction: all or nothing, one commit.
   */
  private async transition(
    request: RequestRow,
    from: Status[],
    to: Status,
    patch: Partial<RequestRow> = {},
    detail?: Record<string, unknown>,
    then: { audit?: Omit<AuditEntry, "at" | "request_id" | "stack">; enqueue?: "preview" | "apply" } = {},
  ): Promise<boolean> {
    const at = this.at();
    const next = { ...patch, status: to, updated_at: at };
    const kind = STATUS_EVENTS[to];
    const outbox = kind ? this.outbox.forRequest(kind, { ...request, ...next }, at) : undefined;
    // After the engine's lines given so far, in the same statement: a stream shows them in the order they happened.
    const before = await this.takeProgress(request.id);
    let ok = false;
    try {
      ok = await this.store.updateRequest(request.id, next, from, outbox, {
        before,
        event: { at, type: "status", data: { status: to, ...(detail ?? {}) } },
        ...(then.audit ? { audit: { ...then.audit, at, request_id: request.id, stack: request.stack } } : {}),
        ...(then.enqueue ? { job: { request_id: request.id, kind: then.enqueue, stack: request.stack, at } } : {}),
      });
    } finally {
      // Not moved (or not stored): the lines are written on their own.
      if (!ok) await this.writeLines(request.id, before);
    }
    if (ok) {
      this.bus.emit("event", request.id);
      if (then.enqueue && !this.runningStacks.has(request.stack)) this.bus.emit("job");
    }
    return ok;
  }

  // Requests

  /** The spec of the one-resource environment behind an instance. */
  specFor(team: string, environment: Environment, offering: string, name: string, params: Record<string, unknown>): EnvironmentSpec {
    const env = this.config.environment(team, environment);
    return {
      team,
      environment,
      ...(env.network ? { network: env.network } : {}),
      ...(env.kubernetes ? { kubernetes: env.kubernetes } : {}),
      resources: [{ offering: offering as never, name, params }],
    };
  }

  async submit(person: Person, input: SubmitInput): Promise<RequestView> {
    if (!person.teams.includes(input.team)) {
      throw new DomainError("forbidden", "not_a_team_member", `${person.name} is not a member of team ${input.team}`);
    }
    if (!isOffering(input.offering)) {
      throw new DomainError("invalid", "invalid_request", "the request is not valid", [
        { path: "offering", message: `"${input.offering}" is not an offering` },
      ]);
    }
    // Found by (team, environment, name): only the requesting team's own instance ever matches.
    const instance = await this.store.findInstance(input.team, input.environment, input.name);
    const stack = instance?.stack ?? stackName(input.team, input.environment, input.name);
    const exists = instance?.status === "active";
    if (instance && instance.team !== input.team) throw new Error(`instance ${instance.stack} does not belong to team ${input.team}`);
    if (input.action === "create" && exists) {
      throw new DomainError("conflict", "instance_exists", `${input.offering} ${input.name} already exists in ${input.team}/${input.environment}`);
    }
    if (input.action !== "create" && !exists) {
      throw new DomainError("conflict", "instance_not_found", `there is no instance ${input.name} in ${input.team}/${input.environment} to ${input.action}`);
    }
    if (instance && exists && instance.offering !== input.offering) {
      throw new DomainError("conflict", "offering_mismatch", `${input.name} is a ${instance.offering}, not a ${input.offering}`);
    }
    // An update changes only the params it names; a destroy keeps the instance's params.
    const params =
      input.action === "create"
        ? input.params
        : input.action === "update"
          ? { ...(JSON.parse(instance!.params) as Record<string, unknown>), ...input.params }
          : (JSON.parse(instance!.params) as Record<string, unknown>);
    // A destroy removes what exists: an instance made under older rules can always go.
    const parsed =
      input.action === "destroy"
        ? { ok: true as const }
        : validateOfferingInstance({ offering: input.offering, team: input.team, environment: input.environment, name: input.name, params });
    if (!parsed.ok) {
      throw new DomainError(
        "invalid",
        "invalid_params",
        `the params are not valid for ${input.offering}`,
        parsed.issues.map((i) => ({ path: formatPath(i.path), message: i.message })),
      );
    }
    const spec = this.specFor(input.team, input.environment, input.offering, input.name, params);
    const checked = validateSpec(spec);
    if (!checked.ok) {
      throw new DomainError(
        "unprocessable",
        "missing_context",
        `team ${input.team} has no ${input.environment} settings this offering needs (paved.yaml teams.${input.team}.environments.${input.environment})`,
        checked.issues.map((i) => ({ path: formatPath(i.path), message: i.message })),
      );
    }
    const busy = await this.store.inFlight(stack, TERMINAL_STATUSES);
    if (busy.length > 0) {
      throw new DomainError("conflict", "request_in_flight", `request ${busy[0].id} on ${stack} is still ${busy[0].status}`);
    }
    const at = this.at();
    const row: RequestRow = {
      id: `req_${randomUUID()}`,
      action: input.action,
      team: input.team,
      environment: input.environment,
      offering: input.offering,
      name: input.name,
      stack,
      params: JSON.stringify(params),
      requested_by: person.name,
      status: "previewing",
      engine: this.engine.name,
      risk: null,
      preview: null,
      violations: null,
      outputs: null,
      error: null,
      awaiting_since: null,
      approval_floor: 0,
      ...(person.agent ? { requester_kind: "agent" } : {}),
      created_at: at,
      updated_at: at,
    };
    // The request, its audit entry, its first status event and its preview job: one transaction.
    const inserted = await this.store.insertRequest(row, {
      audit: {
        at,
        actor: person.name,
        ...(person.agent ? { actor_kind: "agent" as const } : {}),
        action: `request.${input.action}`,
        request_id: row.id,
        stack,
        detail: { offering: input.offering, params },
      },
      event: { at, type: "status", data: { status: "previewing", actor: actorOf(person) } },
      job: { request_id: row.id, kind: "preview", stack, at },
    });
    if (!inserted) {
      const other = (await this.store.inFlight(stack, TERMINAL_STATUSES))[0];
      throw new DomainError("conflict", "request_in_flight", `request ${other?.id ?? "(another)"} on ${stack} is still ${other?.status ?? "in flight"}`);
    }
    this.bus.emit("event", row.id);
    this.bus.emit("job");
    return this.viewWith(row, [], []);
  }

  async get(id: string): Promise<RequestRow> {
    const row = await this.store.getRequest(id);
    if (!row) throw new DomainError("not_found", "request_not_found", `there is no request ${id}`);
    return row;
  }

  /** Whether `person` may see requests of `team`: its members and every approver. */
  canSee(person: Person, team: string): boolean {
    return this.gate.canSee(person, team);
  }

  /** Teams whose requests `person` may list (undefined: all). */
  visibleTeams(person: Person): string[] | undefined {
    return this.gate.visibleTeams(person);
  }

  async getFor(person: Person, id: string): Promise<RequestRow> {
    const row = await this.get(id);
    // Someone who may not see it learns nothing, not even that it exists.
    if (!this.canSee(person, row.team)) throw new DomainError("not_found", "request_not_found", `there is no request ${id}`);
    return this.current(row);
  }

  /** `row` as it stands now: a wait past the approval expiry is expired when read, not only by the sweeper. */
  async current(row: RequestRow): Promise<RequestRow> {
    return (await this.expireIfStale(row)) ? this.get(row.id) : row;
  }

  private requirementOf(row: RequestRow): (ApprovalRequirement & { description: string }) | undefined {
    const risk = row.risk ? (JSON.parse(row.risk) as RiskView) : undefined;
    return risk?.requiredApprovals;
  }

  /** A request waiting for approval, as the gate sees it (with the groups its escalations added). */
  private async subject(row: RequestRow): Promise<GateSubject> {
    return {
      addedGroups: await this.addedGroups(row.id),
      noun: "request",
      team: row.team,
      requestedBy: row.requested_by,
      requirement: this.requirementOf(row)!,
      digest: (JSON.parse(row.preview!) as PreviewView).digest,
      awaitingSince: row.awaiting_since ?? row.updated_at,
    };
  }

  /** The groups the request's escalation rungs added as approvers. */
  private async addedGroups(id: string): Promise<string[]> {
    return (await this.store.escalations(id)).flatMap((e) => (e.added_group ? [e.added_group] : []));
  }

  /** Approvals given in the request's current wait (an approval counts for the wait it was given in). */
  private async given(row: RequestRow) {
    return (await this.store.approvals(row.id)).filter((a) => a.id > row.approval_floor);
  }

  async approve(person: Person, id: string, input: { digest: string; comment?: string }): Promise<RequestView> {
    const row = await this.getFor(person, id);
    await this.expireIfStale(row);
    const current = await this.get(id);
    if (current.status !== "awaiting_approval") {
      throw new DomainError("conflict", "invalid_state", `request ${id} is ${current.status}, not awaiting_approval`);
    }
    this.gate.checkApprover(person, await this.subject(current), input.digest, await this.given(current));
    const at = this.at();
    await this.store.addApproval({ request_id: id, by: person.name, at, digest: input.digest, comment: input.comment ?? null });
    await this.store.audit({
      at,
      actor: person.name,
      action: "request.approve",
      request_id: id,
      stack: current.stack,
      digest: input.digest,
      detail: input.comment ? { comment: input.comment } : undefined,
    });
    await this.emit(id, "status", { status: "awaiting_approval", approvedBy: person.name });
    await this.advanceIfApproved(await this.get(id));
    return this.view(await this.get(id));
  }

  private async advanceIfApproved(row: RequestRow): Promise<void> {
    const subject = await this.subject(row);
    // After a fresh preview (the engine's plan guard fired, or the preview changed) everyone approves again.
    const check = this.gate.count(subject, await this.given(row));
    if (!check.satisfied) return;
    await this.transition(
      row,
      ["awaiting_approval"],
      "approved",
      {},
      { approvedBy: check.counted },
      { audit: { actor: SYSTEM, action: "request.approved", digest: subject.digest, detail: { approvers: check.counted } }, enqueue: "apply" },
    );
  }

  async reject(person: Person, id: string, reason: string): Promise<RequestView> {
    const row = await this.getFor(person, id);
    const requirement = this.requirementOf(row);
    if (!requirement) throw new DomainError("conflict", "invalid_state", `request ${id} is ${row.status}, not awaiting_approval`);
    const addedGroups = await this.addedGroups(row.id);
    this.gate.checkRejecter(person, { noun: "request", team: row.team, requestedBy: row.requested_by, requirement, addedGroups });
    if (!(await this.transition(row, ["awaiting_approval"], "rejected", { error: `rejected by ${person.name}: ${reason}` }, { by: person.name }))) {
      throw new DomainError("conflict", "invalid_state", `request ${id} is ${(await this.get(id)).status}, not awaiting_approval`);
    }
    await this.store.audit({ at: this.at(), actor: person.name, action: "request.reject", request_id: id, stack: row.stack, detail: { reason } });
    await this.track(await this.get(id), "rejected");
    return this.view(await this.get(id));
  }

  async cancel(person: Person, id: string): Promise<RequestView> {
    const row = await this.getFor(person, id);
    if (row.requested_by !== person.name) throw new DomainError("forbidden", "not_requester", "only the requester can cancel a request");
    if (
      !(await this.transition(
        row,
        ["previewing", "awaiting_approval", "approved"],
        "cancelled",
        { error: `cancelled by ${person.name}` },
        { by: person.name, actor: actorOf(person) },
      ))
    ) {
      throw new DomainError("conflict", "invalid_state", `request ${id} is ${(await this.get(id)).status}: it can no longer be cancelled`);
    }
    await this.store.audit({
      at: this.at(),
      actor: person.name,
      ...(person.agent ? { actor_kind: "agent" as const } : {}),
      action: "request.cancel",
      request_id: id,
      stack: row.stack,
    });
    return this.view(await this.get(id));
  }

  /** Requests that waited longer than the approval expiry become `expired`. */
  async expireStale(): Promise<number> {
    const cutoff = new Date(this.now().getTime() - this.config.expiryMs).toISOString();
    let n = 0;
    for (const row of await this.store.awaitingSince(cutoff)) if (await this.expireIfStale(row)) n++;
    return n;
  }

  private async expireIfStale(row: RequestRow): Promise<boolean> {
    if (row.status !== "awaiting_approval" || !row.awaiting_since) return false;
    if (!this.gate.expired({ awaitingSince: row.awaiting_since })) return false;
    if (!(await this.transition(row, ["awaiting_approval"], "expired", { error: "no sufficient approval within the approval expiry" }))) return false;
    await this.store.audit({ at: this.at(), actor: SYSTEM, action: "request.expired", request_id: row.id, stack: row.stack });
    return true;
  }

  /**
   * Fires the escalation rungs that are due: for each request waiting for approval, the
   * rungs of its risk level whose `after` has passed since it started waiting, each once
   * (the store refuses a second time, whatever the replica), never after a decision. Each
   * fired rung is audited (`request.escalated`), written to the outbox (`escalated`, to the
   * rung's `notify` and the routes) and emitted. Driven by the store: run it periodically.
   */
  async escalate(): Promise<number> {
    const ladder = this.config.escalation;
    if (Object.keys(ladder).length === 0) return 0;
    let fired = 0;
    for (const row of await this.store.awaitingSince(this.at())) {
      if (await this.expireIfStale(row)) continue;
      const level = this.requirementOf(row)?.level;
      const rungs = level ? ladder[level] : undefined;
      if (!rungs || !row.awaiting_since) continue;
      const reached = new Set((await this.store.escalations(row.id)).map((e) => e.rung));
      const waited = this.now().getTime() - new Date(row.awaiting_since).getTime();
      for (const [i, rung] of rungs.entries()) {
        if (rung.afterMs > waited) break;
        if (reached.has(i + 1)) continue;
        const at = this.at();
        const escalation = { rung: i + 1, ...(rung.addApprovers ? { addedGroup: rung.addApprovers } : {}) };
        const outbox = this.outbox.forRequest("escalated", row, at, { escalation, notify: rung.notify });
        const recorded = await this.store.escalate(
          { request_id: row.id, rung: i + 1, at, added_group: rung.addApprovers ?? null },
          { actor: SYSTEM, action: "request.escalated", stack: row.stack, detail: { ...escalation, notified: outbox?.sinks ?? [] } },
          outbox,
        );
        if (!recorded) continue;
        fired++;
        await this.emit(row.id, "status", {
          status: "awaiting_approval",
          escalated: escalation.rung,
          ...(rung.addApprovers ? { addedGroup: rung.addApprovers } : {}),
        });
      }
    }
    return fired;
  }

  // Jobs

  private operation(row: RequestRow, signal?: AbortSignal): EngineOperation {
    return {
      stack: row.stack,
      action: row.action as Action,
      spec: this.specFor(row.team, row.environment as Environment, row.offering, row.name, JSON.parse(row.params) as Record<string, unknown>),
      signal,
      onProgress: (line) => this.progressLine(row.id, line),
    };
  }

  /**
   * A restore from a snapshot the team does not own: at least high. The team owns the
   * final snapshots of its own instances (`finalSnapshotIdentifier` names them after the
   * team, environment and name); any other snapshot may hold another team's data.
   */
  async snapshotRisk(team: string, offering: string, params: Record<string, unknown>): Promise<ExtraRisk[]> {
    const snapshot = params.snapshotIdentifier;
    if (typeof snapshot !== "string") return [];
    const id = snapshot.replace(/^arn:aws[\w-]*:rds:[\w-]+:\d{12}:snapshot:/, "");
    const own = (await this.store.teamInstances(team)).map((i) => finalSnapshotIdentifier(i.name, { team: i.team, environment: i.environment }));
    if (own.includes(id)) return [];
    return [
      {
        atLeast: "high",
        reason: `restores ${offering} from snapshot ${id}, which is not a final snapshot of team ${team}'s instances: it may hold another team's data`,
      },
    ];
  }

  /** Risk, requirement and view of an engine preview, for `row`. */
  private async assess(row: RequestRow, preview: EnginePreview): Promise<{ risk: RiskView; view: PreviewView; blocked: boolean }> {
    const environment = row.environment as Environment;
    const extra = await this.snapshotRisk(row.team, row.offering, JSON.parse(row.params) as Record<string, unknown>);
    const requester = this.config.person(row.requested_by);
    const record = await this.recordFor(row);
    const a = this.gate.assess({ team: row.team, environment, steps: preview.steps, violations: preview.violations, extra, requester, record });
    const steps = a.steps.map((s: ClassifiedStep) => ({ op: s.op, urn: s.urn, type: s.type, risk: s.risk, reasons: s.reasons, changedKeys: s.changedKeys }));
    return {
      blocked: a.blocked,
      risk: { level: a.level, blocked: a.blocked, reasons: a.reasons, requiredApprovals: a.requirement, ...(a.earned ? { earned: a.earned.reason } : {}) },
      view: { digest: preview.digest, steps, changeSummary: preview.changeSummary },
    };
  }

  /** The track record of `row`'s team, offering and action (its agent's own, for an agent), within the team's window. */
  private async recordFor(row: RequestRow): Promise<RecordInput | undefined> {
    const rule = this.config.earn(row.team);
    if (!rule) return undefined;
    const since = new Date(this.now().getTime() - rule.withinMs).toISOString();
    const agent = row.requester_kind === "agent" ? row.requested_by : "";
    const rows = await this.store.trackRecord(row.team, since, { agent, offering: row.offering, action: row.action });
    return {
      offering: row.offering,
      action: row.action,
      entries: rows.map((r) => ({ level: r.level as RiskLevel, outcome: r.outcome as Outcome, approved: r.approved === 1, at: r.at, requestId: r.request_id })),
    };
  }

  /** Adds `row`'s outcome to its track record: a success counts when a human approved it. */
  private async track(row: RequestRow, outcome: Outcome): Promise<void> {
    const risk = row.risk ? (JSON.parse(row.risk) as RiskView) : undefined;
    if (!risk) return;
    await this.store.recordOutcome({
      team: row.team,
      agent: row.requester_kind === "agent" ? row.requested_by : "",
      offering: row.offering,
      action: row.action,
      level: risk.level,
      outcome,
      approved: risk.requiredApprovals.auto ? 0 : 1,
      request_id: row.id,
      at: this.at(),
    });
  }

  /** A runbook rolled back a change of `offering`: every action's record of it starts again (and the agent's, for an agent's run). */
  async trackRollback(team: string, offering: string, requestedBy: string): Promise<void> {
    const agents = this.config.person(requestedBy)?.agent ? ["", requestedBy] : [""];
    for (const agent of agents) {
      for (const action of ["create", "update", "destroy"]) {
        await this.store.recordOutcome({ team, agent, offering, action, level: "low", outcome: "rollback", approved: 0, request_id: null, at: this.at() });
      }
    }
  }

  /** Records a preview on `row` and moves it on: blocked, approved (auto) or awaiting approval. */
  private async decide(row: RequestRow, preview: EnginePreview, from: Status[], engineMs?: number): Promise<void> {
    const { risk, view, blocked } = await this.assess(row, preview);
    const patch: Partial<RequestRow> = { risk: JSON.stringify(risk), preview: JSON.stringify(view), violations: JSON.stringify(preview.violations) };
    // engineMs: how long the engine's preview took, so the service's own overhead can be told apart.
    const detail = { digest: preview.digest, risk: risk.level, ...(engineMs !== undefined ? { engineMs } : {}) };
    if (blocked) {
      await this.transition(row, from, "blocked", { ...patch, error: "a mandatory policy failed: see violations" }, detail, {
        audit: {
          actor: SYSTEM,
          action: "request.blocked",
          digest: preview.digest,
          detail: { violations: preview.violations.filter((v) => v.enforcementLevel === "mandatory").map((v) => v.policyName) },
        },
      });
      return;
    }
    if (risk.requiredApprovals.auto) {
      await this.transition(
        row,
        from,
        "approved",
        patch,
        { ...detail, auto: true },
        {
          audit: {
            actor: SYSTEM,
            action: "request.auto-approved",
            digest: preview.digest,
            detail: {
              risk: risk.level,
              autonomy: this.config.autonomy(row.team, row.environment as Environment),
              ...(risk.earned ? { earned: risk.earned } : {}),
            },
          },
          enqueue: "apply",
        },
      );
      return;
    }
    const floor = await this.store.lastApprovalId();
    if (
      await this.transition(
        row,
        from,
        "awaiting_approval",
        { ...patch, awaiting_since: this.at(), approval_floor: floor },
        { ...detail, needs: risk.requiredApprovals.description },
        {
          audit: {
            actor: SYSTEM,
            action: "request.awaiting-approval",
            digest: preview.digest,
            detail: { risk: risk.level, needs: risk.requiredApprovals.description },
          },
        },
      )
    ) {
      await this.advanceIfApproved(await this.get(row.id));
    }
  }

  /**
   * Stacks whose job this process is running: a job that the running one queues on its own
   * stack wakes no idle worker (it could not be claimed before the running one ends, and
   * the runner's worker claims again as soon as it does). Woken, the idle worker's claim
   * raced the running job's end: ~15 ms lost per request on PostgreSQL.
   */
  private readonly runningStacks = new Set<string>();

  /** Runs one claimed job. Returns `retry` when the stack was busy elsewhere. */
  async runJob(job: JobRow, signal?: AbortSignal): Promise<"done" | "retry"> {
    // One running job per stack (the store's claim guarantees it, across replicas).
    this.runningStacks.add(job.stack);
    try {
      return await this.runClaimedJob(job, signal);
    } finally {
      this.runningStacks.delete(job.stack);
    }
  }

  private async runClaimedJob(job: JobRow, signal?: AbortSignal): Promise<"done" | "retry"> {
    const row = await this.get(job.request_id);
    try {
      if (job.kind === "preview") {
        if (row.status !== "previewing") return "done";
        const started = performance.now();
        const preview = await this.engine.preview(this.operation(row, signal));
        const engineMs = Math.round(performance.now() - started);
        await this.decide(await this.get(row.id), preview, ["previewing"], engineMs);
        return "done";
      }
      // apply: from approved, or still applying when this is a retry after a busy stack.
      if (row.status === "approved") {
        if (!(await this.transition(row, ["approved"], "applying"))) return "done";
      } else if (row.status !== "applying") {
        return "done";
      }
      const approved = JSON.parse(row.preview!) as PreviewView;
      const op = this.operation(row, signal);
      // Preview again: what runs must be what was approved.
      let started = performance.now();
      const again = await this.engine.preview(op);
      // The engine's own time (preview and apply), so the service's overhead can be told apart.
      let engineMs = performance.now() - started;
      if (again.digest !== approved.digest) {
        await this.store.audit({
          at: this.at(),
          actor: SYSTEM,
          action: "request.preview-changed",
          request_id: row.id,
          stack: row.stack,
          digest: again.digest,
          detail: { approved: approved.digest },
        });
        await this.decide(await this.get(row.id), again, ["applying"]);
        return "done";
      }
      await this.store.audit({
        at: this.at(),
        actor: SYSTEM,
        action: `engine.${row.action === "destroy" ? "destroy" : "up"}`,
        request_id: row.id,
        stack: row.stack,
        digest: approved.digest,
      });
      started = performance.now();
      const result = await this.engine.apply(op, { digest: approved.digest, unprotect: row.action === "destroy" });
      engineMs += performance.now() - started;
      await this.store.upsertInstance({
        stack: row.stack,
        team: row.team,
        environment: row.environment,
        name: row.name,
        offering: row.offering,
        params: row.params,
        outputs: JSON.stringify(row.action === "destroy" ? {} : (result.outputs[row.name] ?? {})),
        status: row.action === "destroy" ? "destroyed" : "active",
        needs_refresh: 0,
        created_at: this.at(),
        updated_at: this.at(),
      });
      const outputs = row.action === "destroy" ? {} : ((result.outputs[row.name] as Record<string, unknown>) ?? {});
      await this.transition(
        row,
        ["applying"],
        "succeeded",
        { outputs: JSON.stringify(outputs) },
        { changeSummary: result.changeSummary, engineMs: Math.round(engineMs) },
        { audit: { actor: SYSTEM, action: "request.succeeded", digest: approved.digest, detail: { changeSummary: result.changeSummary } } },
      );
      await this.track(await this.get(row.id), "success");
      return "done";
    } catch (err) {
      // Shutdown ran out of grace: the runner records the job as interrupted, as after a crash.
      if (signal?.aborted && signal.reason instanceof JobInterrupted) throw err;
      if (err instanceof ConcurrentOperationError) {
        await this.emit(row.id, "progress", { line: `${err.message}: retrying later` });
        return "retry";
      }
      if (err instanceof PreviewChangedError) {
        // The engine's own guard (an update plan) caught a change: preview and approve afresh.
        await this.store.audit({
          at: this.at(),
          actor: SYSTEM,
          action: "request.preview-changed",
          request_id: row.id,
          stack: row.stack,
          detail: { reason: err.message },
        });
        await this.transition(await this.get(row.id), ["applying"], "previewing", {}, undefined, { enqueue: "preview" });
        return "done";
      }
      const message = err instanceof Error ? err.message : String(err);
      this.log.warn({ requestId: row.id, stack: row.stack, kind: job.kind }, `job failed: ${message}`);
      const fresh = await this.get(row.id);
      const failed = await this.transition(fresh, ["previewing", "applying"], "failed", { error: message }, undefined, {
        audit: { actor: SYSTEM, action: "request.failed", detail: { error: message } },
      });
      if (failed && job.kind === "apply") await this.track(fresh, "failure");
      return "done";
    }
  }

  /**
   * A job whose replica died. A preview changes nothing: it simply runs again. An apply may
   * have changed the stack halfway: its request is `failed` (`interrupted`) and the stack
   * is flagged for a refresh, never re-applied behind anyone's back.
   */
  async interrupted(job: JobRow): Promise<void> {
    const row = await this.store.getRequest(job.request_id);
    if (!row) return;
    if (job.kind === "preview" && row.status === "previewing") {
      await this.store.audit({
        at: this.at(),
        actor: SYSTEM,
        action: "request.preview-restarted",
        request_id: row.id,
        stack: row.stack,
        detail: { job: job.id },
      });
      await this.enqueue(row, "preview");
      return;
    }
    if (await this.transition(row, ["previewing", "applying"], "failed", { error: "interrupted" }, { reason: "interrupted" })) {
      const at = this.at();
      if (await this.store.getInstance(row.stack)) await this.store.setNeedsRefresh(row.stack, true, at);
      else if (job.kind === "apply") {
        // A create cut off mid-apply may have left resources behind: list the stack so it is refreshed, not forgotten.
        await this.store.upsertInstance({
          stack: row.stack,
          team: row.team,
          environment: row.environment,
          name: row.name,
          offering: row.offering,
          params: row.params,
          outputs: "{}",
          status: "interrupted",
          needs_refresh: 1,
          created_at: at,
          updated_at: at,
        });
      }
      await this.store.audit({
        at: this.at(),
        actor: SYSTEM,
        action: "request.interrupted",
        request_id: row.id,
        stack: row.stack,
        detail: { job: job.id, kind: job.kind },
      });
    }
  }

  // Views

  private async approvalsNeeded(row: RequestRow): Promise<NonNullable<RequestView["approvalsNeeded"]>> {
    const subject = await this.subject(row);
    return { ...this.gate.progress(subject, await this.given(row)), approvers: this.gate.approversFor(subject) };
  }

  async view(row: RequestRow): Promise<RequestView> {
    return this.viewWith(row, await this.store.approvals(row.id), await this.store.escalations(row.id));
  }

  /**
   * A page of the list: each row as it stands now (a wait past the expiry shows as
   * expired), and the page's approvals and escalations read in one query each rather than
   * one per request.
   */
  async views(rows: RequestRow[]): Promise<RequestView[]> {
    const current = await Promise.all(rows.map((r) => this.current(r)));
    const ids = current.map((r) => r.id);
    const [approvals, escalations] = await Promise.all([this.store.approvalsOf(ids), this.store.escalationsOf(ids)]);
    return Promise.all(current.map((r) => this.viewWith(r, approvals.get(r.id) ?? [], escalations.get(r.id) ?? [])));
  }

  private async viewWith(
    row: RequestRow,
    approvals: { by: string; at: string; digest: string; comment: string | null }[],
    escalations: { rung: number; at: string; added_group: string | null }[],
  ): Promise<RequestView> {
    return {
      id: row.id,
      action: row.action as Action,
      team: row.team,
      environment: row.environment as Environment,
      offering: row.offering,
      name: row.name,
      stack: row.stack,
      params: JSON.parse(row.params) as Record<string, unknown>,
      requestedBy: row.requested_by,
      actor: { kind: row.requester_kind === "agent" ? "agent" : "person", name: row.requested_by },
      status: row.status as Status,
      engine: row.engine,
      risk: row.risk ? (JSON.parse(row.risk) as RiskView) : null,
      preview: row.preview ? (JSON.parse(row.preview) as PreviewView) : null,
      violations: row.violations ? (JSON.parse(row.violations) as Violation[]) : [],
      approvals: approvals.map((a) => ({ by: a.by, at: a.at, digest: a.digest, comment: a.comment })),
      ...(row.status === "awaiting_approval" && row.risk && row.preview ? { approvalsNeeded: await this.approvalsNeeded(row) } : {}),
      escalations: escalations.map((e) => ({ rung: e.rung, at: e.at, ...(e.added_group ? { addedGroup: e.added_group } : {}) })),
      outputs: row.outputs ? (JSON.parse(row.outputs) as Record<string, unknown>) : null,
      error: row.error,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }
}
