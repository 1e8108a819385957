/**
 * Paved's MCP server driven by the SDK's own client, over stdio (`paved mcp` spawned through
 * tsx, talking to a service this file starts) and over streamable HTTP (`/mcp` on that
 * service): the tools and their schemas and annotations; a dev queue create applies alone;
 * a prod destroy waits for two platform approvers; no tool approves, and the API refuses an
 * agent's approval.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createService, Service } from "../../automation/service/main";
import { freePort } from "../net";
import { ROOT, testConfig, TOKENS } from "../service/harness";

const AGENT_TOKEN = "deploy-bot-token";
const TOOLS = ["cancel_request", "get_request", "list_instances", "list_offerings", "list_runbooks", "request_change", "start_runbook", "wait_for_request"];

let service: Service;
let base: string;

const api = async (token: string, method: "GET" | "POST", path: string, body?: unknown) => {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as any };
};

async function settle(id: string, done: (r: any) => boolean): Promise<any> {
  for (let i = 0; i < 300; i++) {
    const r = (await api(TOKENS.alice, "GET", `/requests/${id}`)).body;
    if (done(r)) return r;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`request ${id} did not settle`);
}

beforeAll(async () => {
  const config = testConfig({ agents: { "deploy-bot": { token: AGENT_TOKEN, team: "payments", autonomy: "low" } } });
  service = await createService({ config, sqliteFile: ":memory:", engine: "simulate", logger: false });
  const port = await freePort();
  await service.app.listen({ port, host: "127.0.0.1" });
  base = `http://127.0.0.1:${port}`;
  // A prod database the agent will ask to destroy: created by alice, approved by bob.
  const created = await api(TOKENS.alice, "POST", "/requests", {
    team: "payments",
    environment: "prod",
    offering: "postgres",
    name: "ledger",
    params: { tier: "small" },
  });
  const waiting = await settle(created.body.id, (r) => r.status !== "previewing");
  expect(waiting.status).toBe("awaiting_approval");
  await api(TOKENS.bob, "POST", `/requests/${waiting.id}/approve`, { digest: waiting.preview.digest });
  expect((await settle(waiting.id, (r) => ["succeeded", "failed"].includes(r.status))).status).toBe("succeeded");
}, 120_000);

afterAll(async () => {
  await service?.close(1000);
});

const transports: [string, () => Transport][] = [
  [
    "stdio (paved mcp)",
    () =>
      new StdioClientTransport({
        command: process.execPath,
        args: ["--import", "tsx", "automation/cli.ts", "mcp"],
        cwd: ROOT,
        env: { ...(process.env as Record<string, string>), PAVED_URL: base, PAVED_TOKEN: AGENT_TOKEN },
        stderr: "pipe",
      }),
  ],
  [
    "streamable HTTP (/mcp)",
    () => new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers: { authorization: `Bearer ${AGENT_TOKEN}` } } }),
  ],
];

for (const [label, transport] of transports) {
  describe(`over ${label}`, () => {
    const client = new Client({ name: "paved-test", version: "1" });
    const suffix = label.startsWith("stdio") ? "s" : "h";
    beforeAll(async () => {
      await client.connect(transport());
    }, 60_000);
    afterAll(async () => {
      await client.close();
    });

    it("lists the tools with titles, JSON Schemas from the API's zod schemas, and annotations; none approves", async () => {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(TOOLS);
      expect(tools.some((t) => /approv|reject/.test(t.name))).toBe(false);
      for (const t of tools) {
        expect(t.title, t.name).toMatch(/^[A-Z]/);
        expect(t.inputSchema.type).toBe("object");
        expect(Object.keys(t.annotations ?? {}).sort(), t.name).toEqual(["destructiveHint", "idempotentHint", "openWorldHint", "readOnlyHint"]);
      }
      const change = tools.find((t) => t.name === "request_change")!;
      expect(change.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true, idempotentHint: false });
      expect(Object.keys(change.inputSchema.properties ?? {}).sort()).toEqual(["action", "environment", "name", "offering", "params", "team"]);
      expect((change.inputSchema.properties as any).environment.enum).toEqual(["dev", "staging", "prod"]);
      expect(change.inputSchema.required).toEqual(expect.arrayContaining(["team", "environment", "offering", "name"]));
      expect(tools.find((t) => t.name === "get_request")!.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false, idempotentHint: true });
      const wait = tools.find((t) => t.name === "wait_for_request")!.inputSchema.properties as any;
      expect(wait.timeoutSeconds).toMatchObject({ type: "integer", minimum: 1, maximum: 600, default: 60 });
    });

    it("a dev queue create applies alone, and the request names its requester as an agent", async () => {
      const res: any = await client.callTool({
        name: "request_change",
        arguments: { action: "create", team: "payments", environment: "dev", offering: "queue", name: `jobs-${suffix}` },
      });
      expect(res.isError).toBeFalsy();
      const r = res.structuredContent;
      expect(["approved", "applying", "succeeded"]).toContain(r.status);
      expect(r.risk.level).toBe("low");
      expect(r.waitingFor).toBeNull();
      expect(r.requestedBy).toEqual({ kind: "agent", name: "deploy-bot" });
      expect(r.link).toMatch(new RegExp(`/#${r.id}$`));
      const done: any = await client.callTool({ name: "wait_for_request", arguments: { id: r.id, timeoutSeconds: 30 } });
      expect(done.structuredContent).toMatchObject({ status: "succeeded", timedOut: false });
      const view = (await api(TOKENS.alice, "GET", `/requests/${r.id}`)).body;
      expect(view.actor).toEqual({ kind: "agent", name: "deploy-bot" });
      const audit = (await api(TOKENS.alice, "GET", `/audit?requestId=${r.id}`)).body.entries;
      expect(audit[0]).toMatchObject({ actor: "deploy-bot", actorKind: "agent", action: "request.create" });
      expect(audit.find((e: any) => e.action === "request.auto-approved").actorKind).toBe("system");
    }, 60_000);

    it("a prod destroy waits for two platform approvers, says so plainly, and no one approves through MCP", async () => {
      const res: any = await client.callTool({
        name: "request_change",
        arguments: { action: "destroy", team: "payments", environment: "prod", offering: "postgres", name: "ledger" },
      });
      expect(res.isError).toBeFalsy();
      const r = res.structuredContent;
      expect(r.status).toBe("awaiting_approval");
      expect(r.risk.level).toBe("critical");
      expect(r.approvals).toMatchObject({ required: "2 approvals from platform", counted: [], missing: 2, approvers: ["bob", "carol"] });
      expect(r.waitingFor).toBe(
        `a human: 2 more approvals (0 of 2 from platform) from platform: bob, carol. An agent cannot approve; a person reviews it at ${r.link}`,
      );
      expect(res.content[0].text).toContain(`Request ${r.id} (destroy postgres ledger in payments/prod) is critical risk and waits for a human`);

      // wait_for_request is bounded and reports progress while it waits.
      const notes: string[] = [];
      const waited: any = await client.callTool({ name: "wait_for_request", arguments: { id: r.id, timeoutSeconds: 1 } }, undefined, {
        onprogress: (p) => notes.push(p.message ?? ""),
      });
      expect(waited.structuredContent).toMatchObject({ status: "awaiting_approval", timedOut: true });
      expect(notes[0]).toBe("awaiting_approval: waiting for a human: 2 more approvals (0 of 2 from platform) from platform: bob, carol");

      // The agent's own approval, over HTTP: refused, whatever the digest.
      const approve = await api(AGENT_TOKEN, "POST", `/requests/${r.id}/approve`, { digest: r.preview.digest });
      expect(approve).toEqual({
        status: 403,
        body: { error: { code: "agents_cannot_approve", message: "deploy-bot is an agent: agents cannot approve a request, a person must" } },
      });
      const reject = await api(AGENT_TOKEN, "POST", `/requests/${r.id}/reject`, { reason: "no" });
      expect(reject.body.error.code).toBe("agents_cannot_approve");

      const cancelled: any = await client.callTool({ name: "cancel_request", arguments: { id: r.id } });
      expect(cancelled.structuredContent.status).toBe("cancelled");
    }, 60_000);

    it("errors come back as tool errors with the API's codes", async () => {
      const missing: any = await client.callTool({ name: "get_request", arguments: { id: "req_00000000-0000-0000-0000-000000000000" } });
      expect(missing.isError).toBe(true);
      expect(missing.content[0].text).toBe("request_not_found: there is no request req_00000000-0000-0000-0000-000000000000");
      const foreign: any = await client.callTool({
        name: "request_change",
        arguments: { action: "create", team: "search", environment: "dev", offering: "queue", name: `theirs-${suffix}` },
      });
      expect(foreign.isError).toBe(true);
      expect(foreign.content[0].text).toBe("not_a_team_member: deploy-bot is not a member of team search");
    });

    it("starts a runbook as a dry run by default", async () => {
      const { structuredContent }: any = await client.callTool({ name: "list_runbooks", arguments: {} });
      expect(structuredContent.runbooks.length).toBeGreaterThan(0);
      const res: any = await client.callTool({ name: "start_runbook", arguments: { runbook: "no-such-runbook" } });
      expect(res.isError).toBe(true);
      expect(res.content[0].text).toMatch(/^runbook_not_found: /);
    });
  });
}

describe("without a token", () => {
  it("/mcp answers 401 like the API", async () => {
    const res = await fetch(`${base}/mcp`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(res.status).toBe(401);
    expect(((await res.json()) as any).error.code).toBe("unauthorized");
  });
});
