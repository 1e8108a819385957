/**
 * `/mcp`: Paved's MCP tools over streamable HTTP (stateless: one server per call), with the
 * same bearer token as the API. Each tool calls the API's own routes in process with that
 * token, so the auth, the limits and the gate are the API's.
 */
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { ApiCall } from "../../mcp/api";
import { createMcpServer } from "../../mcp/server";

/** The API through `app.inject`, as the caller of `request`. */
function injectApi(app: FastifyInstance, authorization: string): ApiCall {
  return async (method, url, body) => {
    const res = await app.inject({ method, url, headers: { authorization }, ...(body === undefined ? {} : { payload: body as object }) });
    let parsed: unknown = res.body;
    try {
      parsed = JSON.parse(res.body);
    } catch {
      // not JSON
    }
    return { status: res.statusCode, body: parsed };
  };
}

export const mcpRoutes: FastifyPluginAsyncZod = async (app) => {
  const root = app;
  const handle = async (request: FastifyRequest, reply: FastifyReply) => {
    const host = request.headers.host ?? "127.0.0.1";
    const server = createMcpServer({ api: injectApi(root, request.headers.authorization!), baseUrl: `${request.protocol}://${host}` });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    reply.hijack();
    reply.raw.on("close", () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(request.raw, reply.raw, request.body);
  };
  app.post("/mcp", { schema: { hide: true } }, handle);
  app.get("/mcp", { schema: { hide: true } }, handle);
  app.delete("/mcp", { schema: { hide: true } }, handle);
};
