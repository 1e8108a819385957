/**
 * Bearer JWTs to principals, against a local JWKS whose keys jose makes here: valid,
 * expired, not yet valid, wrong audience, wrong issuer, unknown key id, `alg: none`,
 * HS256 keyed with the public key, group mapping, unknown people, CI identities, key
 * rotation through a discovered `jwks_uri`, and the config errors of `auth`.
 */
import { createServer, Server } from "node:http";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportJWK, generateKeyPair, JWK, SignJWT } from "jose";
import { ConfigError, hashToken, parseConfig, PavedConfig } from "../../automation/config";
import { DomainError } from "../../automation/errors";
import { Gate } from "../../automation/gate";
import { CLOCK_TOLERANCE_S, Identity } from "../../automation/identity/verifier";

const ISSUER = "https://login.example.com/";
const GITHUB = "https://token.actions.githubusercontent.com";

type Key = { kid: string; privateKey: Awaited<ReturnType<typeof generateKeyPair>>["privateKey"]; publicJwk: JWK };
async function makeKey(kid: string, alg = "RS256"): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

const now = () => Math.floor(Date.now() / 1000);

function sign(key: Key, claims: Record<string, unknown>, opts: { iss?: string; aud?: string | string[]; exp?: number; nbf?: number; alg?: string } = {}) {
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: opts.alg ?? "RS256", kid: key.kid, typ: "JWT" })
    .setIssuer(opts.iss ?? ISSUER)
    .setAudience(opts.aud ?? "paved")
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? now() + 300);
  if (opts.nbf !== undefined) jwt = jwt.setNotBefore(opts.nbf);
  return jwt.sign(key.privateKey);
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");

/** paved.yaml with SSO and a CI identity, keys from JWKS files beside it. */
function configWith(dir: string, extra = ""): PavedConfig {
  const text = `
people:
  alice: { token: "${hashToken("alice-static-token")}", sso: alice@example.com }
  bob: { sso: bob@example.com }
  carol: { token: "${hashToken("carol-static-token")}" }
teams:
  payments: { members: [alice] }
  search: { members: [carol] }
approverGroups:
  platform: [bob]
auth:
  oidc:
    issuer: ${ISSUER}
    audience: paved
    jwks: idp.jwks.json
    claims: { person: email, groups: groups }
    groups:
      eng-payments: { team: payments }
      eng-search: { team: search }
      platform-oncall: { approverGroup: platform }
  ci:
    - issuer: ${GITHUB}
      audience: paved
      jwks: github.jwks.json
      match: { repository: acme/payments-infra, ref: refs/heads/* }
      as: { agent: payments-ci, team: payments }
${extra}`;
  const file = join(dir, "paved.yaml");
  writeFileSync(file, text);
  return parseConfig(text, file);
}

async function reason(p: Promise<unknown>): Promise<{ kind: string; code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof DomainError) return { kind: err.kind, code: err.code, message: err.message };
    throw err;
  }
  throw new Error("expected a DomainError");
}

describe("Identity over a local JWKS", () => {
  let dir: string;
  let idp: Key;
  let github: Key;
  let config: PavedConfig;
  let identity: Identity;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "paved-identity-"));
    idp = await makeKey("idp-1");
    github = await makeKey("gh-1");
    writeFileSync(join(dir, "idp.jwks.json"), JSON.stringify({ keys: [idp.publicJwk] }));
    writeFileSync(join(dir, "github.jwks.json"), JSON.stringify({ keys: [github.publicJwk] }));
    config = configWith(dir);
    identity = new Identity(config);
  });

  it("a valid token names the person of its email claim, with paved.yaml's teams and the mapped groups", async () => {
    const token = await sign(idp, { email: "alice@example.com", groups: ["platform-oncall", "unrelated"] });
    expect(await identity.authenticate(token)).toEqual({ name: "alice", teams: ["payments"], groups: ["platform"] });
  });

  it("maps identity-provider groups to teams and approver groups for people paved.yaml does not list", async () => {
    const token = await sign(idp, { email: "Dave@Example.com", groups: ["eng-search", "eng-payments", "platform-oncall"] });
    expect(await identity.authenticate(token)).toEqual({ name: "dave@example.com", teams: ["payments", "search"], groups: ["platform"] });
    // A groups claim given as one space-separated string counts too.
    const spaced = await sign(idp, { email: "erin@example.com", groups: "eng-search other" });
    expect(await identity.authenticate(spaced)).toEqual({ name: "erin@example.com", teams: ["search"], groups: [] });
  });

  it("a verified token of a person nobody configured is forbidden, with the reason", async () => {
    const token = await sign(idp, { email: "mallory@example.com", groups: ["marketing"] });
    expect(await reason(identity.authenticate(token))).toEqual({
      kind: "forbidden",
      code: "unknown_person",
      message:
        "mallory@example.com signed in, but Paved does not know them: they are not in paved.yaml people and none of their groups (marketing) map " +
        "to a team or approver group (auth.oidc.groups)",
    });
  });

  const cases: [string, () => Promise<string>, string][] = [
    ["expired", () => sign(idp, { email: "alice@example.com" }, { exp: now() - CLOCK_TOLERANCE_S - 60 }), "the token expired (exp "],
    ["not yet valid", () => sign(idp, { email: "alice@example.com" }, { nbf: now() + CLOCK_TOLERANCE_S + 60 }), "the token is not valid yet (nbf "],
    ["for another audience", () => sign(idp, { email: "alice@example.com" }, { aud: "grafana" }), "the token's audience is not paved"],
    [
      "from another issuer",
      () => sign(idp, { email: "alice@example.com" }, { iss: "https://evil.example.com/" }),
      "the token's issuer https://evil.example.com/ is not trusted",
    ],
  ];
  for (const [what, make, message] of cases) {
    it(`refuses a token ${what}: invalid_token`, async () => {
      const r = await reason(identity.authenticate(await make()));
      expect(r.kind).toBe("unauthenticated");
      expect(r.code).toBe("invalid_token");
      expect(r.message.startsWith(message)).toBe(true);
    });
  }

  it("tolerates a small clock skew on exp and nbf", async () => {
    const skewed = await sign(idp, { email: "alice@example.com" }, { exp: now() - 5, nbf: now() + 5 });
    expect((await identity.authenticate(skewed)).name).toBe("alice");
  });

  it("refuses a token whose key id the issuer does not publish, and one signed by another key under a known id", async () => {
    const stranger = await makeKey("idp-2");
    expect(await reason(identity.authenticate(await sign(stranger, { email: "alice@example.com" })))).toEqual({
      kind: "unauthenticated",
      code: "invalid_token",
      message: "no key of the issuer matches the token's key id (kid)",
    });
    const forger = await makeKey("idp-1");
    expect((await reason(identity.authenticate(await sign(forger, { email: "alice@example.com" })))).message).toBe("the token's signature does not verify");
  });

  it("refuses alg none", async () => {
    const unsigned = `${b64({ alg: "none", typ: "JWT" })}.${b64({ iss: ISSUER, aud: "paved", exp: now() + 300, email: "alice@example.com" })}.`;
    expect(await reason(identity.authenticate(unsigned))).toEqual({
      kind: "unauthenticated",
      code: "invalid_token",
      message: "the token's algorithm none is not allowed: only RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519",
    });
  });

  it("refuses HS256 keyed with the issuer's public key (algorithm confusion)", async () => {
    // The attacker knows the public key and uses its bytes as the HMAC secret.
    for (const secret of [JSON.stringify(idp.publicJwk), String(idp.publicJwk.n)]) {
      const forged = await new SignJWT({ email: "alice@example.com" })
        .setProtectedHeader({ alg: "HS256", kid: idp.kid })
        .setIssuer(ISSUER)
        .setAudience("paved")
        .setExpirationTime(now() + 300)
        .sign(new TextEncoder().encode(secret));
      const r = await reason(identity.authenticate(forged));
      expect(r.code).toBe("invalid_token");
      expect(r.message).toMatch(/^the token's algorithm HS256 is not allowed/);
    }
  });

  it("refuses a token with no expiry, a malformed one, and one without the person claim", async () => {
    const noExp = await new SignJWT({ email: "alice@example.com" })
      .setProtectedHeader({ alg: "RS256", kid: idp.kid })
      .setIssuer(ISSUER)
      .setAudience("paved")
      .sign(idp.privateKey);
    expect((await reason(identity.authenticate(noExp))).message).toBe("the token has no expiry (exp)");
    expect((await reason(identity.authenticate("abc.def.ghi"))).message).toBe("the token is malformed");
    expect((await reason(identity.authenticate(await sign(idp, { sub: "x" })))).message).toBe('the token has no "email" claim naming the person');
  });

  it("keeps static tokens working, hashed, unless auth.tokens is false", async () => {
    expect(await identity.authenticate("alice-static-token")).toEqual({ name: "alice", teams: ["payments"], groups: [] });
    expect((await reason(identity.authenticate("wrong-token"))).message).toBe("the bearer token is not valid");
    const off = new Identity(configWith(dir, "  tokens: false\n"));
    expect(await reason(off.authenticate("alice-static-token"))).toEqual({
      kind: "unauthenticated",
      code: "invalid_token",
      message: "static tokens are turned off (auth.tokens: false): sign in with the identity provider",
    });
  });

  describe("CI identities", () => {
    const githubClaims = (repository: string, ref = "refs/heads/main") => ({
      sub: `repo:${repository}:ref:${ref}`,
      repository,
      repository_owner: repository.split("/")[0],
      ref,
      ref_type: "branch",
      workflow: "preview",
      workflow_ref: `${repository}/.github/workflows/preview.yml@${ref}`,
      event_name: "pull_request",
    });

    it("a GitHub Actions token of the configured repository is the agent of its team", async () => {
      const token = await sign(github, githubClaims("acme/payments-infra"), { iss: GITHUB });
      expect(await identity.authenticate(token)).toEqual({ name: "payments-ci", teams: ["payments"], groups: [], agent: { autonomy: "none" } });
    });

    it("a token of another repository, or of a tag, matches nothing: forbidden", async () => {
      for (const [repo, ref] of [
        ["acme/other", "refs/heads/main"],
        ["acme/payments-infra", "refs/tags/v1"],
      ]) {
        const token = await sign(github, githubClaims(repo, ref), { iss: GITHUB });
        expect(await reason(identity.authenticate(token))).toEqual({
          kind: "forbidden",
          code: "unknown_person",
          message: `the CI token (repository ${repo}, ref ${ref}) matches no auth.ci entry`,
        });
      }
    });

    it("a CI token signed with the identity provider's key does not verify against GitHub's keys", async () => {
      const token = await sign(idp, githubClaims("acme/payments-infra"), { iss: GITHUB });
      expect((await reason(identity.authenticate(token))).message).toBe("no key of the issuer matches the token's key id (kid)");
    });

    it("the gate refuses approvals and rejections from a CI principal: agents_cannot_approve", async () => {
      const agent = await identity.authenticate(await sign(github, githubClaims("acme/payments-infra"), { iss: GITHUB }));
      const gate = new Gate(config);
      const requirement = { level: "medium" as const, count: 1, auto: false, description: "1 approval" };
      const subject = { noun: "request", team: "payments", requestedBy: "alice", requirement, digest: "d", awaitingSince: new Date().toISOString() };
      const approve = () => gate.checkApprover(agent, subject, "d", []);
      expect(approve).toThrow(new DomainError("forbidden", "agents_cannot_approve", "payments-ci is an agent: agents cannot approve a request, a person must"));
      expect(() => gate.checkRejecter(agent, subject)).toThrow("payments-ci is an agent: agents cannot reject a request, a person must");
    });
  });

  it("an approver group from the identity provider counts once the person signed in", async () => {
    const dave = await identity.authenticate(await sign(idp, { email: "dave@example.com", groups: ["platform-oncall"] }));
    expect(config.groupsOf("dave@example.com")).toEqual([]);
    config.learn(dave);
    expect(config.groupsOf("dave@example.com")).toEqual(["platform"]);
    expect(config.groupsOf("bob")).toEqual(["platform"]);
  });
});

describe("keys discovered from the issuer", () => {
  let server: Server;
  let issuer: string;
  let keys: Key[] = [];
  const hits = { discovery: 0, jwks: 0 };

  beforeAll(async () => {
    server = createServer((req, res) => {
      res.setHeader("content-type", "application/json");
      if (req.url === "/.well-known/openid-configuration") {
        hits.discovery++;
        res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}jwks` }));
      } else if (req.url === "/jwks") {
        hits.jwks++;
        res.end(JSON.stringify({ keys: keys.map((k) => k.publicJwk) }));
      } else {
        res.statusCode = 404;
        res.end("{}");
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("caches the JWKS, and refetches it when a token names a new key id (rotation)", async () => {
    keys = [await makeKey("k1", "ES256")];
    const config = parseConfig(
      `people:\n  alice: { sso: alice@example.com }\nteams:\n  payments: { members: [alice] }\nauth:\n  oidc: { issuer: "${issuer}", audience: paved }\n  tokens: false\n`,
      "paved.yaml",
    );
    const identity = new Identity(config, { jwksCooldownMs: 0 });
    const token = (k: Key) => sign(k, { email: "alice@example.com" }, { iss: issuer, alg: "ES256" });
    expect((await identity.authenticate(await token(keys[0]))).name).toBe("alice");
    expect((await identity.authenticate(await token(keys[0]))).name).toBe("alice");
    expect(hits).toEqual({ discovery: 1, jwks: 1 });
    // The provider rotates: a new key is published, tokens name it.
    keys = [await makeKey("k2", "ES256"), keys[0]];
    expect((await identity.authenticate(await token(keys[0]))).name).toBe("alice");
    expect(hits).toEqual({ discovery: 1, jwks: 2 });
    // The old key retired: its tokens stop verifying once the set is refetched.
    const retired = keys[1];
    keys = [keys[0]];
    expect((await reason(identity.authenticate(await token(await makeKey("k3", "ES256"))))).message).toBe(
      "no key of the issuer matches the token's key id (kid)",
    );
    expect((await reason(identity.authenticate(await token(retired)))).message).toBe("no key of the issuer matches the token's key id (kid)");
  });

  it("says when the issuer's keys cannot be fetched", async () => {
    const config = parseConfig(
      `people:\n  alice: { sso: alice@example.com }\nteams:\n  payments: { members: [alice] }\nauth:\n  oidc: { issuer: "${issuer}missing/", audience: paved }\n`,
      "paved.yaml",
    );
    const k = await makeKey("k1");
    const r = await reason(new Identity(config).authenticate(await sign(k, { email: "alice@example.com" }, { iss: `${issuer}missing/` })));
    expect(r).toEqual({
      kind: "unavailable",
      code: "idp_unavailable",
      message: `the keys of ${issuer}missing/ cannot be fetched right now: try again shortly`,
    });
  });
});

describe("auth in paved.yaml", () => {
  function errorOf(text: string): string {
    try {
      parseConfig(text, "paved.yaml");
    } catch (err) {
      if (err instanceof ConfigError) return err.message;
      throw err;
    }
    throw new Error("expected a ConfigError");
  }
  const base = "people:\n  alice: { sso: alice@example.com }\nteams:\n  payments: { members: [alice] }\napproverGroups:\n  platform: [alice]\n";

  it("refuses an issuer that is not an https URL, a missing audience, unknown teams and groups, with file:line:col", () => {
    const text =
      base +
      [
        "auth:",
        "  oidc:",
        "    issuer: login.example.com",
        "    groups:",
        "      eng: { team: billing }",
        "      ops: { approverGroup: sre }",
        "  ci:",
        "    - issuer: http://token.actions.githubusercontent.com",
        "      audience: paved",
        "      match: {}",
        "      as: { agent: ci, team: payments }",
      ].join("\n");
    expect(errorOf(text)).toBe(
      [
        "paved.yaml is not a valid Paved configuration:",
        '  paved.yaml:9:13 auth.oidc.issuer: "login.example.com" is not a URL: use the identity provider\'s issuer, like https://login.example.com/',
        "  paved.yaml:9:5 auth.oidc.audience: is required",
        '  paved.yaml:14:15 auth.ci[0].issuer: "http://token.actions.githubusercontent.com" must be an https URL (http only on loopback): tokens and keys are fetched from it',
        "  paved.yaml:16:14 auth.ci[0].match: needs at least one claim (repository, ref, workflow, ...): otherwise every token of the issuer matches",
      ].join("\n"),
    );
    const refs = errorOf(
      base +
        "auth:\n  oidc:\n    issuer: https://login.example.com/\n    audience: paved\n    groups:\n      eng: { team: billing }\n      ops: { approverGroup: sre }\n" +
        "  ci:\n    - { issuer: https://token.actions.githubusercontent.com, audience: paved, match: { repository: a/b }, as: { agent: alice, team: search } }\n",
    );
    expect(refs).toBe(
      [
        "paved.yaml is not a valid Paved configuration:",
        '  paved.yaml:12:20 auth.oidc.groups.eng.team: "billing" is not in teams',
        '  paved.yaml:13:29 auth.oidc.groups.ops.approverGroup: "sre" is not in approverGroups',
        '  paved.yaml:15:133 auth.ci[0].as.team: "search" is not in teams',
        '  paved.yaml:15:120 auth.ci[0].as.agent: "alice" is a person in people: an agent needs a name of its own',
      ].join("\n"),
    );
  });

  it("refuses a JWKS file that is missing or holds a private key", async () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-jwks-"));
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    writeFileSync(join(dir, "private.json"), JSON.stringify({ keys: [await exportJWK(privateKey)] }));
    const text = (jwks: string) => base + `auth:\n  oidc: { issuer: https://login.example.com/, audience: paved, jwks: ${jwks} }\n`;
    const file = join(dir, "paved.yaml");
    const message = (jwks: string) => {
      try {
        parseConfig(text(jwks), file);
      } catch (err) {
        return (err as Error).message;
      }
      return "";
    };
    expect(message("nope.json")).toBe(
      `${file} is not a valid Paved configuration:\n  ${file}:8:70 auth.oidc.jwks: ${join(dir, "nope.json")} cannot be read: ENOENT`,
    );
    expect(message("private.json")).toBe(
      `${file} is not a valid Paved configuration:\n  ${file}:8:70 auth.oidc.jwks: ${join(dir, "private.json")} holds a private or symmetric key: a verifier needs only the public keys`,
    );
  });

  it("refuses a person who could never sign in, and two people with one sso", () => {
    expect(
      errorOf("people:\n  alice: {}\n  bob: { sso: a@x.com }\n  carol: { sso: A@x.com }\nteams:\n  payments: { members: [alice] }\nauth:\n  tokens: true\n"),
    ).toBe(
      [
        "paved.yaml is not a valid Paved configuration:",
        "  paved.yaml:2:10 people.alice: needs a token (or sso, with auth.oidc configured): otherwise they cannot sign in",
        "  paved.yaml:4:17 people.carol.sso: is bob's sso too: each person needs their own",
      ].join("\n"),
    );
  });
});
