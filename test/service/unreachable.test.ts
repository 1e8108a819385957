/**
 * The store goes away and comes back: while PostgreSQL cannot be reached the endpoints
 * answer 503 `store_unavailable`, and the service recovers on its own when it returns.
 * The outage is a TCP proxy in front of the test server, closed and reopened.
 */
import { createServer, Server, Socket, connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createService, Service } from "../../automation/service/main";
import { freePort } from "../net";
import { freshDatabase, postgresUnavailable } from "../postgres";
import { testConfig } from "./harness";

const skip = postgresUnavailable();
if (skip) console.log(`store outage test skipped: ${skip}`);

class Proxy {
  private server?: Server;
  private sockets = new Set<Socket>();
  constructor(
    private readonly target: { host: string; port: number },
    readonly port: number,
  ) {}
  static async start(target: { host: string; port: number }): Promise<Proxy> {
    const proxy = new Proxy(target, await freePort());
    await proxy.open();
    return proxy;
  }
  open(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    return new Promise((resolve) => this.server!.listen(this.port, "127.0.0.1", () => resolve()));
  }
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server!.close(() => resolve()));
  }
}

describe.skipIf(skip !== undefined)("store unreachable", () => {
  let proxy: Proxy;
  let service: Service;
  beforeAll(async () => {
    const url = new URL(await freshDatabase());
    proxy = await Proxy.start({ host: url.hostname, port: Number(url.port) });
    url.port = String(proxy.port);
    service = await createService({ config: testConfig(), databaseUrl: url.toString(), engine: "simulate", logger: false, startRunner: false });
  }, 60_000);
  afterAll(async () => {
    await service.close(1000);
    await proxy.close();
  });

  const get = (url: string) => service.app.inject({ method: "GET", url, headers: { authorization: "Bearer alice-dev-token" } });

  it("answers 503 store_unavailable during the outage and recovers after it", async () => {
    expect((await get("/requests")).statusCode).toBe(200);
    await proxy.close();
    const down = await get("/requests");
    expect(down.statusCode).toBe(503);
    expect(down.json()).toEqual({ error: { code: "store_unavailable", message: "the store cannot be reached; try again shortly" } });
    expect(down.headers["retry-after"]).toBe("5");
    const health = await service.app.inject({ method: "GET", url: "/healthz" });
    expect(health.statusCode).toBe(503);

    await proxy.open();
    const up = await get("/requests");
    expect(up.statusCode).toBe(200);
    expect((await service.app.inject({ method: "GET", url: "/healthz" })).json()).toEqual({ status: "ok", engine: "simulate", store: "postgres" });
  }, 60_000);
});
