/** Every bad-input and authorization case of the API, with its status and error code. */
import { describe, expect, it } from "vitest";
import { pg, useHarness } from "./harness";

const h = useHarness();

describe("authentication", () => {
  it("401 without a token, with a bad one, or a malformed header; health needs none", async () => {
    const none = await h.call(null, "GET", "/catalog");
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ error: { code: "unauthorized", message: "an Authorization: Bearer <token> header is required" } });
    expect(none.headers["www-authenticate"]).toBe('Bearer realm="paved"');
    const bad = await h.service.app.inject({ method: "GET", url: "/catalog", headers: { authorization: "Bearer alice-dev-tokem" } });
    expect(bad.statusCode).toBe(401);
    expect(bad.json()).toEqual({ error: { code: "unauthorized", message: "the bearer token is not valid" } });
    const basic = await h.service.app.inject({ method: "GET", url: "/catalog", headers: { authorization: "Basic YWxpY2U6eA==" } });
    expect(basic.statusCode).toBe(401);
    const health = await h.call(null, "GET", "/healthz");
    expect(health).toMatchObject({ status: 200, body: { status: "ok", engine: "simulate", store: "sqlite" } });
    expect(health.headers["x-paved-engine"]).toBe("simulate");
  });
});

describe("GET /me", () => {
  it("says who the token belongs to, their teams and approver groups; 401 without a token", async () => {
    expect(await h.call("alice", "GET", "/me")).toMatchObject({ status: 200, body: { name: "alice", teams: ["payments"], groups: [] } });
    expect((await h.call("bob", "GET", "/me")).body).toEqual({ name: "bob", kind: "person", teams: [], groups: ["platform"] });
    expect((await h.call(null, "GET", "/me")).status).toBe(401);
  });
});

describe("GET /catalog", () => {
  it("lists every offering with its parameters' JSON Schema", async () => {
    const res = await h.call("alice", "GET", "/catalog");
    expect(res.status).toBe(200);
    expect(res.body.engine).toBe("simulate");
    expect(res.body.offerings.map((o: any) => o.name)).toEqual(["postgres", "redis", "queue", "bucket", "namespace", "web-service"]);
    const postgres = res.body.offerings[0];
    expect(postgres.stateful).toBe(true);
    expect(postgres.parameters.properties.tier.enum).toEqual(["small", "medium", "large"]);
    expect(postgres.parameters.additionalProperties).toBe(false);
  });
});

describe("POST /requests: bad input", () => {
  const cases: [string, unknown, number, string, { path: string; message: string }[] | undefined][] = [
    ["an unknown key", { ...pg("a-db"), size: 3 }, 400, "invalid_request", [{ path: "size", message: 'unknown key "size"' }]],
    ["a bad name", pg("Orders_DB"), 400, "invalid_request", [{ path: "name", message: '"Orders_DB" must match ^[a-z][a-z0-9-]{1,39}$' }]],
    [
      "a name too long",
      pg(`a${"b".repeat(40)}`),
      400,
      "invalid_request",
      [{ path: "name", message: `"a${"b".repeat(40)}" must match ^[a-z][a-z0-9-]{1,39}$` }],
    ],
    ["an unknown environment", pg("a-db", "qa"), 400, "invalid_request", [{ path: "environment", message: '"qa" is not one of dev, staging, prod' }]],
    [
      "an unknown action",
      { ...pg("a-db"), action: "resize" },
      400,
      "invalid_request",
      [{ path: "action", message: '"resize" is not one of create, update, destroy' }],
    ],
    ["a missing team", { environment: "dev", offering: "postgres", name: "a-db" }, 400, "invalid_request", [{ path: "team", message: "is required" }]],
    ["an unknown offering", { ...pg("a-db"), offering: "mongodb" }, 400, "invalid_request", [{ path: "offering", message: '"mongodb" is not an offering' }]],
    [
      "a bad tier",
      pg("a-db", "dev", { tier: "xlarge" }),
      400,
      "invalid_params",
      [{ path: "params.tier", message: '"xlarge" is not one of small, medium, large' }],
    ],
    [
      "an unknown param",
      pg("a-db", "dev", { tier: "small", publiclyAccessible: true }),
      400,
      "invalid_params",
      [{ path: "params.publiclyAccessible", message: 'unknown key "publiclyAccessible"' }],
    ],
    // What the components refuse is refused at the door, not after a 202 (issue 12, point 5).
    [
      "a redis authTokenVersion above the maximum",
      { ...pg("sessions"), offering: "redis", params: { authTokenVersion: 5_000_000 } },
      400,
      "invalid_params",
      [{ path: "params.authTokenVersion", message: "5000000 is more than the maximum 1000000" }],
    ],
    [
      "a web-service image tagged latest",
      { ...pg("api"), offering: "web-service", params: { namespace: "payments-dev", image: "nginx:latest", port: 8080 } },
      400,
      "invalid_params",
      [{ path: "params.image", message: '"nginx:latest" is not pinned: use a digest (repo@sha256:<64 hex>) or a tag other than latest (repo:1.2.3)' }],
    ],
    [
      "a namespace name that is not a DNS label",
      { ...pg("tns-"), offering: "namespace", params: {} },
      400,
      "invalid_params",
      [
        {
          path: "name",
          message: `"tns-" is not a DNS label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)`,
        },
      ],
    ],
    [
      "a postgres name that yields an RDS identifier with --",
      pg("orders--db"),
      400,
      "invalid_params",
      [
        {
          path: "name",
          message:
            '"orders--db" would make the RDS DB instance identifier "orders--db-db-<random>", which RDS refuses: it contains "--"; use single hyphens and do not end the name with "-"',
        },
      ],
    ],
    [
      "a redis name that yields an ElastiCache identifier with --",
      { ...pg("sessions-"), offering: "redis", params: {} },
      400,
      "invalid_params",
      [
        {
          path: "name",
          message:
            '"sessions-" would make the ElastiCache replication group ID "sessions--redis-<random>", which ElastiCache refuses: it contains "--"; use single hyphens and do not end the name with "-"',
        },
      ],
    ],
    [
      "a redis name too long for ElastiCache",
      { ...pg("sessions-cache-of-the-checkout"), offering: "redis", params: {} },
      400,
      "invalid_params",
      [
        {
          path: "name",
          message:
            '"sessions-cache-of-the-checkout" would make the ElastiCache replication group ID "sessions-cache-of-the-checkout-redis-<random>", which ElastiCache refuses: ' +
            "it would be 44 characters, more than 40; a redis name has at most 26 characters",
        },
      ],
    ],
  ];
  for (const [what, body, status, code, issues] of cases) {
    it(`${status} ${code} for ${what}`, async () => {
      const res = await h.call("alice", "POST", "/requests", body);
      expect(res.status).toBe(status);
      expect(res.body.error.code).toBe(code);
      expect(res.body.error.issues).toEqual(issues);
    });
  }

  it("400 invalid_json for a body that is not JSON", async () => {
    const res = await h.service.app.inject({
      method: "POST",
      url: "/requests",
      headers: { authorization: "Bearer alice-dev-token", "content-type": "application/json" },
      payload: "{team:",
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe("invalid_json");
  });

  it("413 body_too_large over the body limit", async () => {
    const res = await h.call("alice", "POST", "/requests", { ...pg("a-db"), params: { tier: "small", padding: "x".repeat(70_000) } });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe("body_too_large");
  });

  it("415 for another content type", async () => {
    const res = await h.service.app.inject({
      method: "POST",
      url: "/requests",
      headers: { authorization: "Bearer alice-dev-token", "content-type": "text/plain" },
      payload: "hello",
    });
    expect(res.statusCode).toBe(415);
    expect(res.json().error.code).toBe("unsupported_media_type");
  });

  it("422 missing_context when the team has no network for that environment", async () => {
    const res = await h.call("dave", "POST", "/requests", {
      team: "search",
      environment: "prod",
      offering: "postgres",
      name: "idx-db",
      params: { tier: "small" },
    });
    expect(res.status).toBe(422);
    expect(res.body.error).toEqual({
      code: "missing_context",
      message: "team search has no prod settings this offering needs (paved.yaml teams.search.environments.prod)",
      issues: [{ path: "resources[0].offering", message: '"postgres" needs network (vpcId, subnetIds) in the spec' }],
    });
  });
});

describe("POST /requests: authorization and conflicts", () => {
  it("403 when the caller is not in the team", async () => {
    const res = await h.call("bob", "POST", "/requests", pg("bobs-db"));
    expect(res.status).toBe(403);
    expect(res.body.error).toEqual({ code: "not_a_team_member", message: "bob is not a member of team payments" });
    const unknownTeam = await h.call("alice", "POST", "/requests", { ...pg("a-db"), team: "growth" });
    expect(unknownTeam.status).toBe(403);
  });

  it("409 for a create of an existing instance, an update of none, and a second request in flight", async () => {
    const first = await h.call("alice", "POST", "/requests", pg("conflict-db", "prod"));
    expect(first.status).toBe(202);
    const inFlight = await h.call("alice", "POST", "/requests", pg("conflict-db", "prod"));
    expect(inFlight.status).toBe(409);
    expect(inFlight.body.error).toEqual({ code: "request_in_flight", message: `request ${first.body.id} on payments.prod.conflict-db is still previewing` });

    const none = await h.call("alice", "POST", "/requests", { ...pg("ghost-db"), action: "update" });
    expect(none.status).toBe(409);
    expect(none.body.error).toEqual({ code: "instance_not_found", message: "there is no instance ghost-db in payments/dev to update" });
    const noneDestroy = await h.call("alice", "POST", "/requests", { ...pg("ghost-db"), action: "destroy" });
    expect(noneDestroy.body.error.code).toBe("instance_not_found");

    const created = await h.call("alice", "POST", "/requests", pg("taken-db"));
    await h.drain();
    expect((await h.call("alice", "GET", `/requests/${created.body.id}`)).body.status).toBe("succeeded");
    const dup = await h.call("alice", "POST", "/requests", pg("taken-db"));
    expect(dup.status).toBe(409);
    expect(dup.body.error).toEqual({ code: "instance_exists", message: "postgres taken-db already exists in payments/dev" });
    const other = await h.call("alice", "POST", "/requests", { ...pg("taken-db"), offering: "redis", action: "update" });
    expect(other.status).toBe(409);
    expect(other.body.error).toEqual({ code: "offering_mismatch", message: "taken-db is a postgres, not a redis" });
  });
});

describe("concurrent requests on one instance", () => {
  it("exactly one of five simultaneous creates is accepted; the others get 409", async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => h.call("alice", "POST", "/requests", pg("race-db", "prod"))));
    expect(results.map((r) => r.status).sort()).toEqual([202, 409, 409, 409, 409]);
    const accepted = results.find((r) => r.status === 202)!.body.id;
    for (const r of results.filter((x) => x.status === 409)) {
      expect(r.body.error).toEqual({ code: "request_in_flight", message: `request ${accepted} on payments.prod.race-db is still previewing` });
    }
    await h.call("alice", "POST", `/requests/${accepted}/cancel`);
  });
});

describe("request routes", () => {
  it("404 for an unknown request, 400 for a malformed id, 400 for a bad approval body", async () => {
    const unknown = await h.call("alice", "GET", "/requests/req_00000000-0000-4000-8000-000000000000");
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toEqual({ code: "request_not_found", message: "there is no request req_00000000-0000-4000-8000-000000000000" });
    const malformed = await h.call("alice", "GET", "/requests/42");
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.issues).toEqual([{ path: "params.id", message: '"42" is not a request id' }]);
    const accepted = await h.call("alice", "POST", "/requests", pg("body-db", "prod"));
    await h.drain();
    const noDigest = await h.call("bob", "POST", `/requests/${accepted.body.id}/approve`, { comment: "ok" });
    expect(noDigest.status).toBe(400);
    expect(noDigest.body.error.issues).toEqual([{ path: "digest", message: "is required" }]);
    const noReason = await h.call("bob", "POST", `/requests/${accepted.body.id}/reject`, {});
    expect(noReason.body.error.issues).toEqual([{ path: "reason", message: "is required" }]);
    const badStatus = await h.call("alice", "GET", "/requests?status=done");
    expect(badStatus.status).toBe(400);
    expect(badStatus.body.error.issues[0].path).toBe("query.status");
  });

  it("lists what the caller may see, filtered by status and team", async () => {
    const mine = await h.call("alice", "GET", "/requests?team=payments&status=succeeded");
    expect(mine.status).toBe(200);
    expect(mine.body.requests.length).toBeGreaterThan(0);
    expect(mine.body.requests.every((r: any) => r.team === "payments" && r.status === "succeeded")).toBe(true);
    const dave = await h.call("dave", "GET", "/requests?team=payments");
    expect(dave.body.requests).toEqual([]);
    const bob = await h.call("bob", "GET", "/requests?team=payments");
    expect(bob.body.requests.length).toBe((await h.call("alice", "GET", "/requests?team=payments")).body.requests.length);
  });

  it("pages through requests, newest first, with a stable cursor", async () => {
    const all = (await h.call("bob", "GET", "/requests?limit=200")).body.requests.map((r: any) => r.id);
    expect(all.length).toBeGreaterThan(2);
    const seen: string[] = [];
    let url = "/requests?limit=2";
    for (;;) {
      const page = await h.call("bob", "GET", url);
      expect(page.status).toBe(200);
      expect(page.body.requests.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.requests.map((r: any) => r.id));
      if (!page.body.next) break;
      url = `/requests?limit=2&cursor=${page.body.next}`;
    }
    expect(seen).toEqual(all);
    const bad = await h.call("bob", "GET", "/requests?cursor=bm90LWEtY3Vyc29y");
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues).toEqual([{ path: "query.cursor", message: "is not a cursor from a previous page" }]);
    const tooMany = await h.call("bob", "GET", "/requests?limit=500");
    expect(tooMany.body.error.issues).toEqual([{ path: "query.limit", message: "500 is more than the maximum 200" }]);
  });

  it("a 5xx hides its internals", async () => {
    const original = h.service.store.listInstances.bind(h.service.store);
    h.service.store.listInstances = async () => {
      throw new Error("SQLITE_CORRUPT: database disk image is malformed at /srv/paved/.paved/paved.db");
    };
    try {
      const res = await h.call("alice", "GET", "/instances");
      expect(res.status).toBe(500);
      expect(res.body).toEqual({ error: { code: "internal", message: "internal error" } });
    } finally {
      h.service.store.listInstances = original;
    }
  });

  it("unknown routes answer 404 with a code", async () => {
    const res = await h.call("alice", "GET", "/nope");
    expect(res.status).toBe(404);
    expect(res.body.error).toEqual({ code: "not_found", message: "no route GET /nope" });
  });

  it("serves the OpenAPI document at /docs", async () => {
    const res = await h.service.app.inject({ method: "GET", url: "/docs/json" });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/healthz",
        "/catalog",
        "/requests",
        "/requests/{id}",
        "/requests/{id}/approve",
        "/requests/{id}/reject",
        "/requests/{id}/cancel",
        "/requests/{id}/events",
        "/instances",
        "/audit",
      ]),
    );
    expect(Object.keys(doc.paths["/requests"].post.responses).sort()).toEqual(["202", "400", "401", "403", "404", "409", "422", "429", "500", "503"]);
  });
});

describe("secrets", () => {
  it("no secret value appears in a response, an event or the audit", async () => {
    const res = await h.call("alice", "POST", "/requests", {
      team: "payments",
      environment: "dev",
      offering: "redis",
      name: "sessions",
      params: { tier: "small" },
    });
    await h.drain();
    const done = (await h.call("alice", "GET", `/requests/${res.body.id}`)).body;
    expect(done.status).toBe("succeeded");
    const state = JSON.parse((await h.service.store.getStackState("payments.dev.sessions"))!);
    const password = state.resources.find((r: any) => r.type === "random:index/randomPassword:RandomPassword");
    expect(password).toBeDefined();
    // The auth token's inputs and outputs never leave the worker in plain text.
    const everything = JSON.stringify([
      done,
      await h.service.store.eventsAfter(done.id, 0),
      (await h.call("alice", "GET", `/audit?requestId=${done.id}`)).body,
      (await h.call("alice", "GET", "/instances")).body,
      state,
    ]);
    expect(everything).not.toMatch(/"authToken":"[^[]/);
    expect(everything).not.toMatch(/"secretString":"[^[]/);
    expect(JSON.stringify(state)).toContain('"[secret]"');
  });
});
