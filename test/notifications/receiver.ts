/** A real HTTP receiver for notification tests (node:http on loopback): records every POST, answers as told. */
import { createServer, IncomingHttpHeaders, Server } from "node:http";

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  json: any;
}

export class Receiver {
  readonly received: Received[] = [];
  /** Answers for the next requests, in order; then 200. */
  readonly answers: { status: number; headers?: Record<string, string> }[] = [];
  private server?: Server;
  url = "";

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        this.received.push({ headers: req.headers, body, json: JSON.parse(body) });
        const answer = this.answers.shift() ?? { status: 200 };
        res.writeHead(answer.status, answer.headers ?? {});
        res.end(answer.status === 200 ? "ok" : "no");
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const { port } = this.server.address() as { port: number };
    this.url = `http://127.0.0.1:${port}/hook`;
    return this;
  }

  /** Deliveries of `event`, optionally about one request. */
  of(event: string, requestId?: string): Received[] {
    return this.received.filter((r) => r.json.event === event && (requestId === undefined || r.json.request?.id === requestId));
  }

  clear(): void {
    this.received.length = 0;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
