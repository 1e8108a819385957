/**
 * `paved mcp`: Paved's MCP tools over stdio, for an agent's MCP client to start. A client
 * of the service's HTTP API at `PAVED_URL`, as the agent whose token is `PAVED_TOKEN`: the
 * service's auth and gate decide what the agent may do.
 */
import type { CommandIO } from "./io";

export const usage = `Usage: paved mcp

Serves Paved's MCP tools over stdio (JSON-RPC on stdin and stdout). Configured by the environment:
  PAVED_URL    the Paved service (default http://127.0.0.1:8080)
  PAVED_TOKEN  the agent's bearer token (required; an agent in paved.yaml \`agents\`)
`;

export async function run(argv: string[], io: CommandIO, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout.write(usage);
    return 0;
  }
  if (argv.length > 0) {
    io.stderr.write(`paved mcp: unexpected argument "${argv[0]}"\n\n${usage}`);
    return 2;
  }
  const token = env.PAVED_TOKEN;
  if (!token) {
    io.stderr.write(`paved mcp: PAVED_TOKEN is not set: the agent's bearer token is required\n\n${usage}`);
    return 2;
  }
  const url = env.PAVED_URL || "http://127.0.0.1:8080";
  const [{ StdioServerTransport }, { createMcpServer }, { fetchApi }] = await Promise.all([
    import("@modelcontextprotocol/sdk/server/stdio.js"),
    import("../mcp/server"),
    import("../mcp/api"),
  ]);
  const server = createMcpServer({ api: fetchApi(url, token), baseUrl: url, pollMs: 500 });
  const transport = new StdioServerTransport();
  const closed = new Promise<number>((resolve) => {
    transport.onclose = () => resolve(0);
  });
  await server.connect(transport);
  io.stderr.write(`paved mcp: serving over stdio for ${url}\n`);
  // Runs until the client closes stdin.
  process.stdin.once("end", () => void server.close());
  return closed;
}
