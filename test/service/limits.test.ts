/**
 * Throttling from paved.yaml `limits`: failed authentication per client address, and
 * submissions per person and per team, answered 429 with Retry-After and the error shape.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demoConfig, Harness, startHarness, testConfig, TOKENS, Who } from "./harness";

const limits = { authFailures: { max: 3, window: "1m" }, submissions: { perPerson: { max: 2, window: "1m" }, perTeam: { max: 3, window: "1m" } } };

describe("limits", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(testConfig({ limits }));
  }, 60_000);
  afterAll(async () => {
    await h.close();
  });

  const get = (token: string, remoteAddress = "10.0.0.1") =>
    h.service.app.inject({ method: "GET", url: "/requests", headers: { authorization: `Bearer ${token}` }, remoteAddress });

  it("throttle failed authentication per client address, then refuse even a valid token until the window ends", async () => {
    for (let i = 0; i < 3; i++) expect((await get(`wrong-${i}`)).statusCode).toBe(401);
    const limited = await get("wrong-3");
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    expect(Number(limited.headers["retry-after"])).toBeLessThanOrEqual(60);
    expect(limited.json().error.code).toBe("too_many_failed_authentications");
    expect(limited.json().error.message).toMatch(/^too many requests with an invalid token from 10\.0\.0\.1: try again in \d+ s$/);
    expect((await get(TOKENS.alice)).statusCode).toBe(429);
    // Another address is not affected, nor are valid tokens there.
    expect((await get("wrong", "10.0.0.2")).statusCode).toBe(401);
    expect((await get(TOKENS.alice, "10.0.0.2")).statusCode).toBe(200);
  });

  const submit = (who: Who, name: string) => h.call(who, "POST", "/requests", { team: "payments", environment: "dev", offering: "queue", name, params: {} });

  it("limit submissions per person and per team", async () => {
    expect((await submit("alice", "a1")).status).toBe(202);
    expect((await submit("alice", "a2")).status).toBe(202);
    const mine = await submit("alice", "a3");
    expect(mine.status).toBe(429);
    expect(mine.headers["retry-after"]).toBeDefined();
    expect(mine.body.error).toMatchObject({ code: "too_many_submissions" });
    expect(mine.body.error.message).toMatch(/^alice submitted more than 2 requests in 60 s: try again in \d+ s$/);
    // erin is in payments too: the team's third request passes, its fourth does not.
    expect((await submit("erin", "e1")).status).toBe(202);
    const team = await submit("erin", "e2");
    expect(team.status).toBe(429);
    expect(team.body.error.message).toMatch(/^team payments submitted more than 3 requests in 60 s: try again in \d+ s$/);
    // Reads are not limited.
    expect((await h.call("alice", "GET", "/requests")).status).toBe(200);
  });
});

describe("limits in paved.yaml", () => {
  it("have defaults", () => {
    expect(demoConfig().limits).toEqual({
      authFailures: { max: 20, windowMs: 60_000 },
      submissionsPerPerson: { max: 30, windowMs: 60_000 },
      submissionsPerTeam: { max: 120, windowMs: 60_000 },
      streamsPerPerson: 20,
    });
  });

  it("refuse a zero window", () => {
    expect(() => demoConfig({ limits: { authFailures: { max: 1, window: "0s" } } })).toThrow(
      'limits.authFailures.window: "0s" is zero: use a duration like 1m, 30s or 1h',
    );
  });
});
