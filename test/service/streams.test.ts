/**
 * Event streams fed by one store watcher: no polling per stream, heartbeat comments, a cap
 * per person, nothing left behind when streams close, and on PostgreSQL events from another
 * replica delivered through LISTEN/NOTIFY.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createService, Service } from "../../automation/service/main";
import { freshDatabase, postgresUnavailable } from "../postgres";
import { STORES, testConfig, TOKENS } from "./harness";

const config = () => testConfig({ limits: { streams: { perPerson: 2 } } });

async function open(base: string, id: string, token: string = TOKENS.alice) {
  const controller = new AbortController();
  const res = await fetch(`${base}/requests/${id}/events`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
  let text = "";
  const done =
    res.status === 200
      ? (async () => {
          const reader = res.body!.getReader();
          try {
            for (;;) {
              const { value, done } = await reader.read();
              if (done) return;
              text += Buffer.from(value).toString();
            }
          } catch {
            // aborted
          }
        })()
      : Promise.resolve();
  return { res, text: () => text, close: () => controller.abort(), done };
}

const until = async (check: () => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
};

for (const store of STORES) {
  const skip = store === "postgres" ? postgresUnavailable() : undefined;
  describe.skipIf(skip !== undefined)(`event streams on ${store}`, () => {
    let service: Service;
    let base: string;
    let id: string;
    beforeAll(async () => {
      const where = store === "postgres" ? { databaseUrl: await freshDatabase() } : { sqliteFile: ":memory:" };
      service = await createService({ config: config(), ...where, engine: "simulate", logger: false, startRunner: false, streams: { heartbeatMs: 100 } });
      base = await service.app.listen({ port: 0, host: "127.0.0.1" });
      const created = await service.app.inject({
        method: "POST",
        url: "/requests",
        headers: { authorization: `Bearer ${TOKENS.alice}` },
        payload: { team: "payments", environment: "prod", offering: "queue", name: `s-${store}`, params: {} },
      });
      id = created.json().id;
      await service.runner.drain();
    }, 60_000);
    afterAll(async () => {
      await service.close(1000);
    });

    it("do not poll the store; an event reaches the stream at once; heartbeats keep it alive", async () => {
      const s = await open(base, id);
      expect(s.res.status).toBe(200);
      expect(s.res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(s.res.headers.get("cache-control")).toBe("no-store");
      await until(() => s.text().includes('"status":"awaiting_approval"'));
      let reads = 0;
      const eventsAfter = service.store.eventsAfter.bind(service.store);
      service.store.eventsAfter = (...args) => {
        reads++;
        return eventsAfter(...args);
      };
      try {
        // Notifications of this request (on PostgreSQL, those of earlier events may arrive late).
        let notified = 0;
        const onEvent = (r: string) => void (r === id && notified++);
        service.store.events.on("event", onEvent);
        await new Promise((r) => setTimeout(r, 2500));
        service.store.events.off("event", onEvent);
        // A stream that polled (every 500 ms) would have read 5 times; this one reads only when told.
        expect(reads).toBeLessThanOrEqual(notified);
        expect(reads).toBeLessThan(5);
        expect(s.text()).toContain(": heartbeat\n\n");
        const view = await service.app.inject({ method: "GET", url: `/requests/${id}`, headers: { authorization: `Bearer ${TOKENS.bob}` } });
        const approved = await service.app.inject({
          method: "POST",
          url: `/requests/${id}/approve`,
          headers: { authorization: `Bearer ${TOKENS.bob}` },
          payload: { digest: view.json().preview.digest },
        });
        expect(approved.statusCode).toBe(200);
        await until(() => s.text().includes('"approvedBy"'));
        expect(reads).toBeGreaterThan(0);
      } finally {
        service.store.eventsAfter = eventsAfter;
        s.close();
        await s.done;
      }
    });

    it("cap the streams one person holds (429), and give everything back when they close", async () => {
      // The first test's stream is gone on the server's side too.
      await until(() => service.app.streams.count() === 0);
      const listeners = service.store.events.listenerCount("event");
      expect(listeners).toBe(0);
      const a = await open(base, id);
      const b = await open(base, id);
      const c = await open(base, id);
      expect([a.res.status, b.res.status, c.res.status]).toEqual([200, 200, 429]);
      expect(c.res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(await c.res.json()).toEqual({
        error: { code: "too_many_streams", message: "alice already has 2 event streams open (the most one person may hold): close one first" },
      });
      // Someone else still may.
      const d = await open(base, id, TOKENS.bob);
      expect(d.res.status).toBe(200);
      expect(service.app.streams.count()).toBe(3);
      expect(service.store.events.listenerCount("event")).toBe(listeners + 1);
      for (const s of [a, b, d]) s.close();
      await Promise.all([a.done, b.done, d.done]);
      await until(() => service.app.streams.count() === 0);
      expect(service.app.streams.count("alice")).toBe(0);
      expect(service.store.events.listenerCount("event")).toBe(listeners);
      expect(service.store.events.listenerCount("reconnected")).toBe(0);
    });
  });
}

describe.skipIf(postgresUnavailable() !== undefined)("event streams across PostgreSQL replicas", () => {
  let one: Service;
  let two: Service;
  beforeAll(async () => {
    const databaseUrl = await freshDatabase();
    one = await createService({ config: config(), databaseUrl, engine: "simulate", logger: false, startRunner: false });
    two = await createService({ config: config(), databaseUrl, engine: "simulate", logger: false, startRunner: false });
  }, 60_000);
  afterAll(async () => {
    await one?.close(1000);
    await two?.close(1000);
  });

  it("deliver another replica's events through LISTEN/NOTIFY", async () => {
    const base = await one.app.listen({ port: 0, host: "127.0.0.1" });
    const created = await two.app.inject({
      method: "POST",
      url: "/requests",
      headers: { authorization: `Bearer ${TOKENS.alice}` },
      payload: { team: "payments", environment: "prod", offering: "queue", name: "across", params: {} },
    });
    const id = created.json().id as string;
    const s = await open(base, id);
    await until(() => s.text().includes('"status":"previewing"'));
    // Replica two runs the preview; replica one's stream hears of it without polling.
    await two.runner.drain();
    await until(() => s.text().includes('"status":"awaiting_approval"'), 5000);
    s.close();
    await s.done;
  });
});
