/**
 * Identity at the HTTP door: a GitHub-shaped CI token for the configured repository can
 * request a change and see its preview, and cannot approve it (403 agents_cannot_approve);
 * unverifiable tokens get 401 with `www-authenticate: Bearer error="invalid_token"`; a
 * verified stranger gets 403 unknown_person; a session cookie works for reads and needs
 * the CSRF header and this service's Origin for writes; a tampered cookie is refused.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { parse as parseYaml, stringify } from "yaml";
import { readFileSync } from "node:fs";
import { parseConfig } from "../../automation/config";
import { createService, Service } from "../../automation/service/main";
import { SessionCodec, SESSION_COOKIE } from "../../automation/service/routes/session";
import { pg, ROOT, TOKENS } from "./harness";

const GITHUB = "https://token.actions.githubusercontent.com";
const IDP = "https://login.example.com/";
const SESSION_KEY = "a-session-key-of-at-least-32-characters!";

describe("identity at the HTTP door", () => {
  let service: Service;
  let ciToken: (repository: string) => Promise<string>;
  let idpToken: (email: string, groups: string[]) => Promise<string>;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-ci-"));
    const gh = await generateKeyPair("RS256", { extractable: true });
    const idp = await generateKeyPair("ES256", { extractable: true });
    writeFileSync(join(dir, "github.jwks.json"), JSON.stringify({ keys: [{ ...(await exportJWK(gh.publicKey)), kid: "gh", alg: "RS256" }] }));
    writeFileSync(join(dir, "idp.jwks.json"), JSON.stringify({ keys: [{ ...(await exportJWK(idp.publicKey)), kid: "idp", alg: "ES256" }] }));
    const raw = parseYaml(readFileSync(join(ROOT, "paved.yaml"), "utf8")) as Record<string, unknown>;
    raw.auth = {
      oidc: { issuer: IDP, audience: "paved", jwks: "idp.jwks.json", groups: { "platform-oncall": { approverGroup: "platform" } } },
      ci: [
        {
          issuer: GITHUB,
          audience: "paved",
          jwks: "github.jwks.json",
          match: { repository: "acme/payments-infra" },
          as: { agent: "payments-ci", team: "payments" },
        },
      ],
    };
    (raw.people as Record<string, Record<string, string>>).alice.sso = "alice@example.com";
    const file = join(dir, "paved.yaml");
    const config = parseConfig(stringify(raw), file);
    service = await createService({ config, sqliteFile: ":memory:", engine: "simulate", logger: false, startRunner: false, sessions: { key: SESSION_KEY } });
    ciToken = (repository) =>
      new SignJWT({ repository, ref: "refs/pull/7/merge", workflow: "preview", sub: `repo:${repository}:pull_request`, event_name: "pull_request" })
        .setProtectedHeader({ alg: "RS256", kid: "gh" })
        .setIssuer(GITHUB)
        .setAudience("paved")
        .setIssuedAt()
        .setExpirationTime("5m")
        .sign(gh.privateKey);
    idpToken = (email, groups) =>
      new SignJWT({ email, groups })
        .setProtectedHeader({ alg: "ES256", kid: "idp" })
        .setIssuer(IDP)
        .setAudience("paved")
        .setExpirationTime("5m")
        .sign(idp.privateKey);
  });
  afterAll(() => service?.close(1000));

  const call = async (headers: Record<string, string>, method: "GET" | "POST", url: string, body?: object) => {
    const res = await service.app.inject({ method, url, headers, ...(body ? { payload: body } : {}) });
    return { status: res.statusCode, body: res.json(), headers: res.headers };
  };
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it("a CI token of the configured repository can request a change and see its preview, and cannot approve it", async () => {
    const ci = bearer(await ciToken("acme/payments-infra"));
    const me = await call(ci, "GET", "/me");
    expect(me.body).toEqual({ name: "payments-ci", kind: "agent", teams: ["payments"], groups: [] });
    const created = await call(ci, "POST", "/requests", pg("ci-db", "prod"));
    expect(created.status).toBe(202);
    expect(created.body.requestedBy).toBe("payments-ci");
    await service.runner.drain();
    const seen = await call(ci, "GET", `/requests/${created.body.id}`);
    expect(seen.body.status).toBe("awaiting_approval");
    const approve = await call(ci, "POST", `/requests/${created.body.id}/approve`, { digest: seen.body.preview.digest });
    expect(approve).toMatchObject({
      status: 403,
      body: {
        error: { code: "agents_cannot_approve", message: "payments-ci is an agent: agents cannot approve a request, a person must" },
      },
    });
    // A person of the required group still can: the agent's request goes through the one gate.
    const bob = await call(bearer(TOKENS.bob), "POST", `/requests/${created.body.id}/approve`, { digest: seen.body.preview.digest });
    expect(bob.status).toBe(200);
  });

  it("a CI token of another repository is forbidden, with the reason", async () => {
    const other = await call(bearer(await ciToken("acme/other")), "GET", "/me");
    expect(other).toMatchObject({
      status: 403,
      body: { error: { code: "unknown_person", message: "the CI token (repository acme/other, ref refs/pull/7/merge) matches no auth.ci entry" } },
    });
  });

  it("an unverifiable token gets 401 naming the error in www-authenticate; a verified stranger 403", async () => {
    const forged = `${(await idpToken("alice@example.com", [])).slice(0, -4)}AAAA`;
    const bad = await call(bearer(forged), "GET", "/me");
    expect(bad.status).toBe(401);
    expect(bad.body).toEqual({ error: { code: "unauthorized", message: "the token's signature does not verify" } });
    expect(bad.headers["www-authenticate"]).toBe(`Bearer realm="paved", error="invalid_token", error_description="the token's signature does not verify"`);
    const stranger = await call(bearer(await idpToken("zoe@example.com", ["sales"])), "GET", "/me");
    expect(stranger.status).toBe(403);
    expect(stranger.body.error.code).toBe("unknown_person");
    const alice = await call(bearer(await idpToken("alice@example.com", ["platform-oncall"])), "GET", "/me");
    expect(alice.body).toEqual({ name: "alice", kind: "person", teams: ["payments"], groups: ["platform"] });
  });

  it("a session cookie reads; writes need the CSRF header and this origin; a tampered cookie is refused", async () => {
    const sealed = await new SessionCodec(SESSION_KEY).seal({ claims: { email: "alice@example.com", groups: [] } }, 60, "session");
    const cookie = { cookie: `${SESSION_COOKIE}=${sealed}`, host: "127.0.0.1:8080" };
    expect((await call(cookie, "GET", "/me")).body).toEqual({ name: "alice", kind: "person", teams: ["payments"], groups: [] });
    const noHeader = await call(cookie, "POST", "/requests", pg("cookie-db"));
    expect(noHeader).toMatchObject({
      status: 403,
      body: { error: { code: "csrf", message: "a call that changes something needs the x-paved-csrf: 1 header when signed in with a session cookie" } },
    });
    const elsewhere = await call({ ...cookie, "x-paved-csrf": "1", origin: "https://evil.example.com" }, "POST", "/requests", pg("cookie-db"));
    expect(elsewhere.body.error).toEqual({ code: "csrf", message: "calls from https://evil.example.com are not accepted with a session cookie" });
    const ok = await call({ ...cookie, "x-paved-csrf": "1", origin: "http://127.0.0.1:8080" }, "POST", "/requests", pg("cookie-db"));
    expect(ok.status).toBe(202);
    expect(ok.body.requestedBy).toBe("alice");
    const tampered = await call({ cookie: `${SESSION_COOKIE}=${sealed.slice(0, -3)}abc` }, "GET", "/me");
    expect(tampered.status).toBe(401);
    expect(tampered.body.error.message).toBe("the session expired or is not valid: sign in again");
    // A cookie sealed with another key (another deployment) does not open either.
    const foreign = await new SessionCodec("another-key-of-at-least-32-characters!!").seal({ claims: { email: "alice@example.com" } }, 60, "session");
    expect((await call({ cookie: `${SESSION_COOKIE}=${foreign}` }, "GET", "/me")).status).toBe(401);
  });

  it("says what the page should offer, and signs out by clearing the cookie", async () => {
    expect((await call({}, "GET", "/auth/config")).body).toEqual({ sso: true, tokens: true });
    const out = await service.app.inject({ method: "POST", url: "/auth/logout", headers: { "x-paved-csrf": "1", host: "127.0.0.1:8080" } });
    expect(out.statusCode).toBe(204);
    expect(out.headers["set-cookie"]).toBe(`${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict`);
    const elsewhere = await service.app.inject({ method: "POST", url: "/auth/logout", headers: { "x-paved-csrf": "1", host: "paved.example.com" } });
    expect(elsewhere.headers["set-cookie"]).toBe(`${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict; Secure`);
  });
});
