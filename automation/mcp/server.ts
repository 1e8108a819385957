/**
 * Paved's MCP tools: an agent lists the catalog and its instances, requests a change, reads
 * its preview and risk, waits for it, cancels it, starts a runbook (dry-run by default).
 * There is no approve tool, and the API refuses an agent's approval anyway
 * (`agents_cannot_approve`): a change past the agent's autonomy waits for a person.
 *
 * Every tool calls the HTTP API (`api.ts`), so the service's auth and gate decide; an API
 * error comes back as a tool error (`isError`) carrying the API's code.
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult, ServerNotification, ServerRequest } from "@modelcontextprotocol/sdk/types.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import { z } from "zod";
import { createRequestBody, idParams } from "../service/schemas";
import type { RequestView } from "../workflow";
import { ApiCall, ApiError, call } from "./api";

export interface McpOptions {
  api: ApiCall;
  /** The service's address, for links a person can open. */
  baseUrl: string;
  /** Time between reads of a request while waiting. Default 250 ms. */
  pollMs?: number;
  /** How long `request_change` waits for the preview. Default 120 s. */
  previewTimeoutMs?: number;
  /** The server's version, in its initialize answer. */
  version?: string;
}

const TERMINAL = ["succeeded", "failed", "blocked", "rejected", "cancelled", "expired"];

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** A request as an agent needs it: status, preview, risk and reasons, approvals given and needed, a link, and what it waits for. */
export function summarize(r: RequestView, baseUrl: string) {
  const needed = r.risk?.requiredApprovals;
  const waiting = r.status === "awaiting_approval" && needed && !needed.auto;
  const who = r.approvalsNeeded?.approvers ?? [];
  const progress = r.approvalsNeeded;
  const link = `${baseUrl.replace(/\/+$/, "")}/#${r.id}`;
  return {
    id: r.id,
    status: r.status,
    action: r.action,
    team: r.team,
    environment: r.environment,
    offering: r.offering,
    name: r.name,
    requestedBy: r.actor,
    engine: r.engine,
    risk: r.risk ? { level: r.risk.level, blocked: r.risk.blocked, reasons: r.risk.reasons } : null,
    preview: r.preview
      ? {
          digest: r.preview.digest,
          changeSummary: r.preview.changeSummary,
          steps: r.preview.steps.map((s) => ({ op: s.op, type: s.type, urn: s.urn, risk: s.risk, reasons: s.reasons, changedKeys: s.changedKeys })),
        }
      : null,
    violations: r.violations.map((v) => ({ policy: v.policyName, enforcementLevel: v.enforcementLevel, message: v.message })),
    approvals: {
      given: r.approvals.map((a) => ({ by: a.by, at: a.at })),
      required: needed ? needed.description : null,
      ...(progress ? { counted: progress.counted, missing: progress.missing, approvers: who } : {}),
    },
    waitingFor: waiting
      ? `a human: ${progress ? `${progress.missing} more approval${progress.missing === 1 ? "" : "s"} (${progress.summary})` : needed.description}` +
        `${who.length ? ` from ${needed.group ? `${needed.group}: ` : ""}${who.join(", ")}` : ""}. An agent cannot approve; a person reviews it at ${link}`
      : null,
    outputs: r.outputs,
    error: r.error,
    link,
  };
}

function ok(data: Record<string, unknown>, text: string): CallToolResult {
  return { content: [{ type: "text", text: `${text}\n\n${JSON.stringify(data, null, 2)}` }], structuredContent: data };
}

/** An API error as a tool error, with the API's code. */
function toolError(err: unknown): CallToolResult {
  if (err instanceof ApiError) {
    const error = { code: err.code, message: err.message, ...(err.issues ? { issues: err.issues } : {}) };
    const issues = err.issues?.length ? `\n${err.issues.map((i) => `  ${i.path}: ${i.message}`).join("\n")}` : "";
    return { isError: true, content: [{ type: "text", text: `${err.code}: ${err.message}${issues}` }], structuredContent: { error } };
  }
  throw err;
}

/** One line an agent can act on. */
function headline(s: ReturnType<typeof summarize>): string {
  const what = `${s.action} ${s.offering} ${s.name} in ${s.team}/${s.environment}`;
  if (s.waitingFor) return `Request ${s.id} (${what}) is ${s.risk?.level} risk and waits for ${s.waitingFor}`;
  if (s.status === "previewing") return `Request ${s.id} (${what}) is still previewing.`;
  const earned = s.risk?.reasons.find((r) => r.startsWith("auto-applied:"));
  return `Request ${s.id} (${what}) is ${s.status}${s.risk ? ` (${s.risk.level} risk${earned ? `; ${earned}` : ""})` : ""}${s.error ? `: ${s.error}` : "."}`;
}

async function progress(extra: Extra, value: number, total: number, message: string): Promise<void> {
  const token = extra._meta?.progressToken;
  if (token === undefined) return;
  await extra.sendNotification({ method: "notifications/progress", params: { progressToken: token, progress: value, total, message } });
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });

/** Paved's tools on a new MCP server. */
export function createMcpServer(options: McpOptions): McpServer {
  const { api, baseUrl } = options;
  const pollMs = options.pollMs ?? 250;
  const server = new McpServer({ name: "paved", version: options.version ?? "1" }, { capabilities: { logging: {} } });
  const get = async (id: string) => summarize(await call<RequestView>(api, "GET", `/requests/${id}`), baseUrl);

  /** Reads the request until `done` holds or the time is up, notifying progress on each change. */
  async function until(id: string, done: (status: string) => boolean, timeoutMs: number, extra: Extra) {
    const started = Date.now();
    let s = await get(id);
    let last = "";
    let notified = 0;
    while (!done(s.status) && Date.now() - started < timeoutMs && !extra.signal.aborted) {
      // A notification when the state changes, and every 2 s while it does not.
      const line = `${s.status}${s.waitingFor ? `: waiting for ${s.waitingFor.split(". ")[0]}` : ""}`;
      if (line !== last || Date.now() - notified >= 2000) {
        await progress(extra, Math.round((Date.now() - started) / 1000), Math.round(timeoutMs / 1000), line);
        last = line;
        notified = Date.now();
      }
      await sleep(pollMs, extra.signal);
      s = await get(id);
    }
    return { summary: s, timedOut: !done(s.status) };
  }

  server.registerTool(
    "list_offerings",
    {
      title: "List offerings",
      description: "The catalog: each offering a team may request (postgres, redis, queue, bucket, namespace, web-service) with the JSON Schema of its params.",
      inputSchema: z.strictObject({}),
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    async () => {
      try {
        const catalog = await call<{ engine: string; offerings: unknown[] }>(api, "GET", "/catalog");
        return ok(catalog, `${catalog.offerings.length} offerings (engine ${catalog.engine}).`);
      } catch (err) {
        return toolError(err);
      }
    },
  );

  server.registerTool(
    "list_instances",
    {
      title: "List instances",
      description: "The instances your team has (team, environment, name, offering, params and outputs).",
      inputSchema: z.strictObject({ team: createRequestBody.shape.team.optional() }),
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    async ({ team }) => {
      try {
        const list = await call<{ engine: string; instances: unknown[] }>(api, "GET", `/instances${team ? `?team=${encodeURIComponent(team)}` : ""}`);
        return ok(list, `${list.instances.length} instances.`);
      } catch (err) {
        return toolError(err);
      }
    },
  );

  server.registerTool(
    "get_request",
    {
      title: "Get a request",
      description: "A change request: status, preview steps, risk and its reasons, approvals given and still needed (and who may give them), and a link.",
      inputSchema: idParams,
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    async ({ id }) => {
      try {
        const s = await get(id);
        return ok(s, headline(s));
      } catch (err) {
        return toolError(err);
      }
    },
  );

  server.registerTool(
    "list_runbooks",
    {
      title: "List runbooks",
      description: "The runbooks that can be started, with their params' JSON Schema.",
      inputSchema: z.strictObject({}),
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    async () => {
      try {
        const list = await call<{ runbooks: unknown[] }>(api, "GET", "/runbooks");
        return ok(list, `${list.runbooks.length} runbooks.`);
      } catch (err) {
        return toolError(err);
      }
    },
  );

  server.registerTool(
    "request_change",
    {
      title: "Request a change",
      description:
        "Request a create, update or destroy of an offering for your team. Returns once the preview is ready: the risk, its reasons, and " +
        "whether it applies alone (within your autonomy) or waits for a human, and who. You cannot approve it; wait_for_request follows it.",
      inputSchema: createRequestBody,
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
    },
    async (input, extra) => {
      try {
        const created = await call<RequestView>(api, "POST", "/requests", input);
        const { summary } = await until(created.id, (s) => s !== "previewing", options.previewTimeoutMs ?? 120_000, extra);
        return ok(summary, headline(summary));
      } catch (err) {
        return toolError(err);
      }
    },
  );

  server.registerTool(
    "wait_for_request",
    {
      title: "Wait for a request",
      description:
        "Waits until the request is finished (succeeded, failed, blocked, rejected, cancelled, expired) or timeoutSeconds pass " +
        "(default 60, at most 600), sending progress notifications; returns the request and whether the wait timed out.",
      inputSchema: z.strictObject({ id: idParams.shape.id, timeoutSeconds: z.number().int().min(1).max(600).default(60) }),
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    async ({ id, timeoutSeconds }, extra) => {
      try {
        const { summary, timedOut } = await until(id, (s) => TERMINAL.includes(s), timeoutSeconds * 1000, extra);
        const text = timedOut ? `Still ${summary.status} after ${timeoutSeconds} s. ${headline(summary)}` : headline(summary);
        return ok({ ...summary, timedOut }, text);
      } catch (err) {
        return toolError(err);
      }
    },
  );

  server.registerTool(
    "cancel_request",
    {
      title: "Cancel a request",
      description: "Cancels a request you made that has not started applying.",
      inputSchema: idParams,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    async ({ id }) => {
      try {
        const s = summarize(await call<RequestView>(api, "POST", `/requests/${id}/cancel`), baseUrl);
        return ok(s, headline(s));
      } catch (err) {
        return toolError(err);
      }
    },
  );

  server.registerTool(
    "start_runbook",
    {
      title: "Start a runbook",
      description:
        "Starts a runbook run, as a dry run unless dryRun is false. Steps that need a human (an answer, an approval) wait for one: " +
        "the run's status says so.",
      inputSchema: z.strictObject({
        runbook: z.string().min(1).max(64),
        params: z.record(z.string(), z.unknown()).default({}),
        dryRun: z.boolean().default(true),
      }),
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
    },
    async ({ runbook, params, dryRun }) => {
      try {
        const run = await call<{ id: string; status: string; dryRun: boolean }>(api, "POST", `/runbooks/${encodeURIComponent(runbook)}/runs`, {
          params,
          dryRun,
        });
        return ok(run, `Runbook run ${run.id} is ${run.status}${run.dryRun ? " (dry run: nothing is changed)" : ""}.`);
      } catch (err) {
        return toolError(err);
      }
    },
  );

  return server;
}
