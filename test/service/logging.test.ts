/**
 * Nothing fails silently: job failures, rejected event writes, worker-loop and sweep
 * errors and unhandled rejections reach the service's one logger, with the request id.
 */
import { Writable } from "node:stream";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createService, logUnhandledRejections, Service } from "../../automation/service/main";
import { TOKENS, testConfig } from "./harness";

interface Line {
  level: number;
  msg: string;
  requestId?: string;
  err?: { message: string };
}

function capture(): { log: pino.Logger; lines: Line[] } {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(l) as Line);
      done();
    },
  });
  return { log: pino({ level: "info" }, stream), lines };
}

let service: Service | undefined;
afterEach(async () => {
  await service?.close(1000);
  service = undefined;
});

async function submit(s: Service, name: string): Promise<string> {
  const res = await s.app.inject({
    method: "POST",
    url: "/requests",
    headers: { authorization: `Bearer ${TOKENS.alice}` },
    payload: { team: "payments", environment: "dev", offering: "queue", name, params: {} },
  });
  expect(res.statusCode).toBe(202);
  return res.json().id as string;
}

const until = async (check: () => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("the service's logger", () => {
  it("logs a failed job with its request id", async () => {
    const { log, lines } = capture();
    service = await createService({ config: testConfig(), sqliteFile: ":memory:", engine: "simulate", log, startRunner: false });
    service.engine.preview = () => Promise.reject(new Error("the engine fell over"));
    const id = await submit(service, "failing");
    await service.runner.drain();
    expect(lines.find((l) => l.msg === "job failed: the engine fell over")).toMatchObject({ requestId: id });
  });

  it("logs an event that could not be stored instead of leaving the rejection unhandled", async () => {
    const { log, lines } = capture();
    service = await createService({ config: testConfig(), sqliteFile: ":memory:", engine: "simulate", log, startRunner: false });
    const store = service.store;
    const append = store.appendEvents.bind(store);
    store.appendEvents = (requestId, events) =>
      events.some((e) => e.type === "progress") ? Promise.reject(new Error("disk full")) : append(requestId, events);
    const id = await submit(service, "progress");
    await service.runner.drain();
    const entry = lines.find((l) => l.msg === "progress event not stored");
    expect(entry).toMatchObject({ requestId: id, err: { message: "disk full" } });
  });

  it("logs worker-loop and sweep errors instead of swallowing them", async () => {
    const { log, lines } = capture();
    service = await createService({ config: testConfig(), sqliteFile: ":memory:", engine: "simulate", log, startRunner: false });
    const store = service.store;
    store.claimJob = () => Promise.reject(new Error("claim query failed"));
    service.workflow.expireStale = () => Promise.reject(new Error("expiry query failed"));
    service.runner.start();
    await until(() => lines.some((l) => l.msg === "worker loop error") && lines.some((l) => l.msg.startsWith("sweep failed")));
    expect(lines.find((l) => l.msg === "worker loop error")?.err?.message).toBe("claim query failed");
    expect(lines.find((l) => l.msg.startsWith("sweep failed"))?.err?.message).toBe("expiry query failed");
  });

  it("logs an unhandled rejection at the process level", async () => {
    const { log, lines } = capture();
    const off = logUnhandledRejections(log);
    try {
      process.emit("unhandledRejection", new Error("nobody caught me"), Promise.resolve());
      expect(lines.find((l) => l.msg === "unhandled promise rejection")?.err?.message).toBe("nobody caught me");
    } finally {
      off();
    }
  });
});
