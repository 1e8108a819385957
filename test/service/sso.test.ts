/**
 * Single sign-on in a real browser (Debian's Chromium, driven by playwright-core) against a
 * local identity provider (`oidc-provider`, started here, with its development login
 * pages): the page offers the sign-in link, the browser goes through the authorization
 * code flow with PKCE, comes back signed in with an HttpOnly, SameSite=Strict session
 * cookie, requests a resource through the page (a cookie-authenticated POST), and signs
 * out: the cookie is cleared and a reload shows the sign-in link again.
 */
import { existsSync } from "node:fs";
import { createServer, Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { exportJWK, generateKeyPair } from "jose";
import { parse as parseYaml, stringify } from "yaml";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../automation/config";
import { createService, Service } from "../../automation/service/main";
import { freePort } from "../net";
import { ROOT } from "./harness";

const CHROMIUM = "/usr/bin/chromium";
const skip = existsSync(CHROMIUM) ? undefined : `no ${CHROMIUM} (Debian's chromium; .ci/run installs it)`;
if (skip) console.log(`single sign-on browser test skipped: ${skip}`);

/** The people of the identity provider: their email and groups. */
const ACCOUNTS: Record<string, { email: string; groups: string[] }> = {
  alice: { email: "alice@example.com", groups: ["eng-payments"] },
};

describe.skipIf(skip !== undefined)("signing in with the identity provider", () => {
  let service: Service;
  let idp: Server;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    const [port, idpPort] = [await freePort(), await freePort()];
    base = `http://127.0.0.1:${port}`;
    const issuer = `http://127.0.0.1:${idpPort}`;
    const { privateKey } = await generateKeyPair("RS256", { extractable: true });
    const { default: Provider } = await import("oidc-provider");
    const provider = new Provider(issuer, {
      clients: [
        {
          client_id: "paved-web",
          token_endpoint_auth_method: "none",
          redirect_uris: [`${base}/auth/callback`],
          grant_types: ["authorization_code"],
          response_types: ["code"],
        },
      ],
      jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: "idp-1", alg: "RS256", use: "sig" }] as never },
      claims: { openid: ["sub"], email: ["email", "email_verified"], groups: ["groups"] },
      findAccount: (_ctx, id) => ({
        accountId: id,
        claims: () => ({ sub: id, email: ACCOUNTS[id]?.email ?? `${id}@example.com`, email_verified: true, groups: ACCOUNTS[id]?.groups ?? [] }),
      }),
      cookies: { keys: ["a-test-cookie-key-for-the-local-idp"] },
      features: { devInteractions: { enabled: true } },
      ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600 },
    });
    idp = createServer(provider.callback());
    await new Promise<void>((resolve) => idp.listen(idpPort, "127.0.0.1", resolve));

    const raw = parseYaml(readFileSync(join(ROOT, "paved.yaml"), "utf8")) as Record<string, any>;
    raw.people.alice.sso = "alice@example.com";
    raw.auth = {
      oidc: {
        issuer,
        audience: "paved",
        groups: { "eng-payments": { team: "payments" } },
        web: { clientId: "paved-web", scopes: ["openid", "email", "groups"] },
      },
    };
    const config = parseConfig(stringify(raw), "paved.yaml");
    service = await createService({
      config,
      sqliteFile: ":memory:",
      engine: "simulate",
      logger: false,
      sessions: { key: "a-session-key-of-at-least-32-characters!" },
    });
    await service.app.listen({ port, host: "127.0.0.1" });
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await service?.close(2000);
    await new Promise<void>((resolve) => (idp ? idp.close(() => resolve()) : resolve()));
  });

  it("signs in through the identity provider, requests a resource, and signs out", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${base}/`);
    await page.waitForSelector("#sso:not([hidden])");
    await page.click("#sso-sign-in");
    // The identity provider's development login page, then its consent page.
    await page.waitForURL((url) => url.origin !== base, { timeout: 20_000 });
    await page.fill("input[name=login]", "alice");
    await page.fill("input[name=password]", "any password");
    await page.click("button[type=submit]");
    for (let i = 0; i < 3 && !page.url().startsWith(`${base}/`); i++) {
      const next = await page.waitForSelector("button[type=submit]", { timeout: 5_000 }).catch(() => undefined);
      if (!next || page.url().startsWith(`${base}/`)) break;
      await next.click();
      await page.waitForLoadState();
    }
    await page.waitForURL(`${base}/`, { timeout: 20_000 });
    await page.waitForSelector("#app:not([hidden])", { timeout: 20_000 });
    expect(await page.textContent("#signed-in")).toBe("Signed in as alice (team payments)");
    expect(await page.isVisible("#sso")).toBe(false);

    const cookies = await context.cookies(base);
    const session = cookies.find((c) => c.name === "paved_session");
    expect(session).toMatchObject({ httpOnly: true, sameSite: "Strict", secure: false, path: "/" });
    expect(session!.value.split(".")).toHaveLength(5); // a JWE: encrypted, not just signed
    expect(cookies.some((c) => c.name === "paved_login")).toBe(false);

    // Request a resource through the page: a POST authenticated by the cookie alone.
    await page.selectOption("#environment", "dev");
    await page.selectOption("#offering", "postgres");
    await page.fill("#name", "sso-db");
    await page.click("#request button[type=submit]");
    await page.waitForSelector(`#requests tbody tr:has(td:text-is("sso-db"))`, { timeout: 30_000 });
    const rows = await service.workflow.store.listRequests({});
    expect(rows.filter((r) => r.name === "sso-db").map((r) => r.requested_by)).toEqual(["alice"]);

    // The page's JavaScript cannot read the session cookie.
    expect(await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie)).not.toContain("paved_session");

    await page.click("#sign-out");
    await page.waitForSelector("#sso:not([hidden])");
    await expect.poll(async () => (await context.cookies(base)).some((c) => c.name === "paved_session"), { timeout: 10_000 }).toBe(false);
    // Reloading does not sign the page back in; the API says why.
    await page.reload();
    await page.waitForSelector("#sso:not([hidden])");
    expect(await page.isHidden("#app")).toBe(true);
    const me = await page.evaluate(() => fetch("/me").then((r) => r.status));
    expect(me).toBe(401);
    await context.close();
  }, 120_000);
});
