/**
 * The outbox: what a state change tells the sinks. The workflow and the runbook executor
 * build an entry here and hand it to the store with the change itself, so the event is
 * written in the same transaction as the change (both or neither); the delivery worker
 * sends it later, from any replica.
 */
import { randomUUID } from "node:crypto";
import type { RequestRow, OutboxEntry, RunRow } from "../store/store";
import type { ApprovalRequirement } from "../risk";
import type { NotificationEvent, NotificationSettings } from "./config";

/** What an event says about a request. */
export interface RequestSummary {
  id: string;
  team: string;
  environment: string;
  offering: string;
  name: string;
  action: string;
  status: string;
  requestedBy: string;
  risk: string | null;
  requiredApprovals: (ApprovalRequirement & { description: string }) | null;
  reasons: string[];
  error?: string;
}

/** What an event says about a runbook run waiting at a step. */
export interface RunSummary {
  id: string;
  runbook: string;
  team: string | null;
  status: string;
  step: number;
  requestedBy: string;
  requiredApprovals: (ApprovalRequirement & { description: string }) | null;
}

/** The body of a webhook delivery (and what the Slack message is made from). */
export interface NotificationPayload {
  /** The event id: `x-paved-delivery`, stable across retries. */
  id: string;
  event: NotificationEvent;
  at: string;
  request?: RequestSummary;
  run?: RunSummary;
  /** The rung reached (`escalated`). */
  escalation?: { rung: number; addedGroup?: string };
  /** The request (or run) on the web page. */
  link: string | null;
}

/** The event a request's new status tells, if any (`cancelled` is the requester's own doing). */
export const STATUS_EVENTS: Partial<Record<string, NotificationEvent>> = {
  awaiting_approval: "approval_needed",
  approved: "approved",
  rejected: "rejected",
  succeeded: "applied",
  failed: "failed",
  expired: "expired",
  blocked: "blocked",
};

export function summarizeRequest(row: RequestRow): RequestSummary {
  const risk = row.risk
    ? (JSON.parse(row.risk) as { level: string; reasons: string[]; requiredApprovals: ApprovalRequirement & { description: string } })
    : undefined;
  return {
    id: row.id,
    team: row.team,
    environment: row.environment,
    offering: row.offering,
    name: row.name,
    action: row.action,
    status: row.status,
    requestedBy: row.requested_by,
    risk: risk?.level ?? null,
    requiredApprovals: risk?.requiredApprovals ?? null,
    reasons: risk?.reasons ?? [],
    ...(row.error ? { error: row.error } : {}),
  };
}

export class Outbox {
  constructor(
    private readonly settings: NotificationSettings,
    /** `PAVED_PUBLIC_URL`: the base of links. Without it, events carry no link. */
    private readonly publicUrl?: string,
  ) {}

  /** The sinks `event` of `team` goes to: every matching route's, plus `extra` (a rung's `notify`). */
  sinksFor(event: NotificationEvent, team: string | null, extra: string[] = []): string[] {
    const sinks = new Set<string>();
    for (const route of this.settings.routes) {
      if (!route.events.includes(event)) continue;
      if (route.teams && (team === null || !route.teams.includes(team))) continue;
      for (const s of route.to) sinks.add(s);
    }
    for (const s of extra) sinks.add(s);
    return [...sinks].filter((s) => s in this.settings.sinks);
  }

  private link(query: string): string | null {
    return this.publicUrl ? `${this.publicUrl.replace(/\/+$/, "")}/?${query}` : null;
  }

  /** The outbox entry of a request's event; undefined when no sink wants it. */
  forRequest(event: NotificationEvent, row: RequestRow, at: string, options: { escalation?: NotificationPayload["escalation"]; notify?: string[] } = {}) {
    const payload: Omit<NotificationPayload, "id"> = {
      event,
      at,
      request: summarizeRequest(row),
      ...(options.escalation ? { escalation: options.escalation } : {}),
      link: this.link(`request=${encodeURIComponent(row.id)}`),
    };
    return this.entry(row.id, row.team, payload, options.notify);
  }

  /** The outbox entry of a runbook run waiting at a step; undefined when no sink wants it. */
  forRun(event: NotificationEvent, run: RunRow, step: number, at: string, requiredApprovals: RunSummary["requiredApprovals"] = null) {
    const payload: Omit<NotificationPayload, "id"> = {
      event,
      at,
      run: { id: run.id, runbook: run.runbook_id, team: run.team, status: run.status, step, requestedBy: run.requested_by, requiredApprovals },
      link: this.link(`run=${encodeURIComponent(run.id)}`),
    };
    return this.entry(run.id, run.team, payload);
  }

  private entry(subjectId: string, team: string | null, payload: Omit<NotificationPayload, "id">, notify?: string[]): OutboxEntry | undefined {
    const sinks = this.sinksFor(payload.event, team, notify);
    if (sinks.length === 0) return undefined;
    const id = `evt_${randomUUID()}`;
    const full: NotificationPayload = { id, ...payload };
    return { event: { id, event: payload.event, subject_id: subjectId, team, at: payload.at, payload: JSON.stringify(full) }, sinks };
  }
}
