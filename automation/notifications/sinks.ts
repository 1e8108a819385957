/**
 * What each sink sends for an event: the HTTP request, built from the stored payload.
 *
 * - `webhook`: the payload as JSON, byte for byte as stored (so the signature covers what
 *   the receiver reads), with `x-paved-event`, `x-paved-delivery` (the event id, stable
 *   across retries: receivers drop duplicates by it), `x-paved-timestamp` and
 *   `x-paved-signature` (see `signing.ts`).
 * - `slack`: an incoming-webhook message, a `text` fallback and `blocks`: what happened, the
 *   risk, the reasons, who must approve and a link to the page.
 *
 * Secrets (`env:NAME`) are read when a delivery is sent and appear nowhere else: not in
 * errors (which name the variable), logs, the audit or API answers.
 */
import type { SinkConfig } from "./config";
import { resolveSetting } from "./config";
import type { NotificationPayload } from "./outbox";
import { sign } from "./signing";

export interface OutgoingRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** A delivery that cannot be sent as configured (a missing environment variable): retried like any failure. */
export class SinkSetupError extends Error {}

function setting(sinkName: string, key: string, value: string, env: NodeJS.ProcessEnv): string {
  const r = resolveSetting(value, env);
  if (r.value === undefined) throw new SinkSetupError(`sink ${sinkName}: the environment variable ${r.from} (its ${key}) is not set`);
  return r.value;
}

/** The HTTP request `sink` sends for the stored payload `raw`. */
export function buildRequest(sinkName: string, sink: SinkConfig, raw: string, env: NodeJS.ProcessEnv, now: Date): OutgoingRequest {
  const url = setting(sinkName, "url", sink.url, env);
  const payload = JSON.parse(raw) as NotificationPayload;
  if (sink.type === "slack") {
    return { url, headers: { "content-type": "application/json" }, body: JSON.stringify(slackMessage(payload)) };
  }
  const secret = setting(sinkName, "secret", sink.secret, env);
  const timestamp = Math.floor(now.getTime() / 1000);
  return {
    url,
    headers: {
      "content-type": "application/json",
      "user-agent": "paved-notifications",
      "x-paved-event": payload.event,
      "x-paved-delivery": payload.id,
      "x-paved-timestamp": String(timestamp),
      "x-paved-signature": sign(secret, timestamp, raw),
    },
    body: raw,
  };
}

const TITLES: Record<NotificationPayload["event"], string> = {
  approval_needed: "Approval needed",
  answer_needed: "Answer needed",
  approved: "Approved",
  rejected: "Rejected",
  escalated: "Escalated",
  applied: "Applied",
  failed: "Failed",
  expired: "Expired: nobody approved in time",
  blocked: "Blocked by a mandatory policy",
};

/** Slack's mrkdwn escapes. */
function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Who must approve, with the group an escalation added. */
function whoMustApprove(p: NotificationPayload): string | undefined {
  const needs = p.request?.requiredApprovals ?? p.run?.requiredApprovals;
  if (!needs || needs.auto) return undefined;
  return `${needs.description}${p.escalation?.addedGroup ? ` (or ${p.escalation.addedGroup}, added by the escalation)` : ""}`;
}

/** The Slack incoming-webhook message of an event. */
export function slackMessage(p: NotificationPayload): { text: string; blocks: unknown[] } {
  const r = p.request;
  const title = `${TITLES[p.event]}${p.escalation ? ` (rung ${p.escalation.rung})` : ""}`;
  const subject = r
    ? `${r.action} ${r.offering} ${r.name} (${r.team}/${r.environment})`
    : `runbook ${p.run!.runbook}, step ${p.run!.step}${p.run!.team ? ` (${p.run!.team})` : ""}`;
  const risk = r?.risk ?? null;
  const who = whoMustApprove(p);
  const text = [`${title}: ${subject}`, risk ? `${risk} risk` : "", who ? `needs ${who}` : "", p.link ?? ""].filter(Boolean).join(" · ");
  const fields = [
    ...(risk ? [{ type: "mrkdwn", text: `*Risk*\n${esc(risk)}` }] : []),
    ...(who ? [{ type: "mrkdwn", text: `*Who must approve*\n${esc(who)}` }] : []),
    { type: "mrkdwn", text: `*Requested by*\n${esc(r?.requestedBy ?? p.run!.requestedBy)}` },
    { type: "mrkdwn", text: `*Status*\n${esc(r?.status ?? p.run!.status)}` },
  ];
  const reasons = (r?.reasons ?? []).slice(0, 10).map((x) => `• ${esc(x)}`);
  const blocks: unknown[] = [
    { type: "section", text: { type: "mrkdwn", text: `*${esc(title)}*: ${esc(subject)}` } },
    { type: "section", fields },
    ...(reasons.length ? [{ type: "section", text: { type: "mrkdwn", text: `*Reasons*\n${reasons.join("\n")}`.slice(0, 2900) } }] : []),
    ...(r?.error ? [{ type: "section", text: { type: "mrkdwn", text: `*Error*\n${esc(r.error).slice(0, 2900)}` } }] : []),
    ...(p.link
      ? [{ type: "actions", elements: [{ type: "button", text: { type: "plain_text", text: r ? "Open the request" : "Open the run" }, url: p.link }] }]
      : []),
  ];
  return { text, blocks };
}
