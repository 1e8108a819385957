/**
 * The self-service page in a real browser (Debian's Chromium, driven by playwright-core):
 * sign in, request a prod database, see its preview and risk, fail to approve one's own
 * request, have a platform approver approve it, see it provisioned. Values from the API
 * are shown as text, never as HTML.
 */
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { createService, Service } from "../../automation/service/main";
import { freePort } from "../net";
import { testConfig } from "./harness";

const CHROMIUM = "/usr/bin/chromium";
const skip = existsSync(CHROMIUM) ? undefined : `no ${CHROMIUM} (Debian's chromium; .ci/run installs it)`;
if (skip) console.log(`web page tests skipped: ${skip}`);

describe.skipIf(skip !== undefined)("the self-service page", () => {
  let service: Service;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    service = await createService({ config: testConfig(), sqliteFile: ":memory:", engine: "simulate", logger: false, workers: 2 });
    const port = await freePort();
    await service.app.listen({ port, host: "127.0.0.1" });
    base = `http://127.0.0.1:${port}`;
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await service?.close(2000);
  });

  /** Waits until the element's text starts with `prefix` (non-empty when `prefix` is ""). */
  async function textStarts(page: Page, id: string, prefix: string): Promise<void> {
    await page.waitForFunction(
      ([elementId, start]) => {
        const t = (globalThis as unknown as { document: { getElementById(i: string): { textContent: string | null } | null } }).document.getElementById(elementId)?.textContent ?? "";
        return start === "" ? t !== "" : t.startsWith(start);
      },
      [id, prefix] as const,
      { timeout: 20_000 },
    );
  }

  async function signIn(token: string): Promise<Page> {
    const page = await (await browser.newContext()).newPage();
    await page.goto(base + "/");
    await page.fill("#token", token);
    await page.click("#login button");
    await page.waitForSelector("#app:not([hidden])");
    return page;
  }

  it("serves the page with a strict content security policy", async () => {
    const res = await fetch(base + "/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("content-security-policy")).toBe("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'");
  });

  it("a developer requests a prod database; the requester cannot approve; a platform approver does", async () => {
    const alice = await signIn("alice-dev-token");
    expect(await alice.textContent("#engine")).toBe("Engine: simulate. Nothing real is provisioned.");
    expect(await alice.$$eval("#offering option", (os) => os.map((o) => (o as unknown as { value: string }).value))).toEqual(["postgres", "redis", "queue", "bucket", "namespace", "web-service"]);
    await alice.fill("#team", "payments");
    await alice.selectOption("#environment", "prod");
    await alice.selectOption("#offering", "postgres");
    await alice.fill("#name", "web-db");
    await alice.selectOption("[data-param=tier]", "medium");
    await alice.click("#request button[type=submit]");
    await textStarts(alice, "detail-summary", "Status awaiting_approval");
    expect(await alice.textContent("#detail-title")).toBe("create postgres web-db (payments/prod)");
    expect(await alice.textContent("#detail-summary")).toBe("Status awaiting_approval · medium risk · 1 approval · simulated: nothing real is provisioned");
    expect(await alice.$$eval("#detail-steps tbody tr", (rows) => rows.map((r) => r.textContent))).toContain("createaws:rds/instance:Instanceweb-db-dbmedium");
    await alice.click("#approve");
    await textStarts(alice, "detail-error", "");
    expect(await alice.textContent("#detail-error")).toBe("the requester cannot approve their own request");

    const bob = await signIn("bob-dev-token");
    await bob.click("#requests tbody tr >> text=web-db");
    await bob.waitForSelector("#decide:not([hidden])");
    await bob.fill("#comment", "ok for launch");
    await bob.click("#approve");
    await textStarts(bob, "detail-summary", "Status succeeded");
    const outputs = JSON.parse((await bob.textContent("#detail-outputs"))!);
    expect(Object.keys(outputs).sort()).toEqual(["endpoint", "port", "secretArn", "securityGroupId"]);
  }, 60_000);

  it("shows a rejection reason as text, not HTML", async () => {
    const alice = await signIn("alice-dev-token");
    await alice.fill("#team", "payments");
    await alice.selectOption("#environment", "prod");
    await alice.selectOption("#offering", "queue");
    await alice.fill("#name", "web-queue");
    await alice.click("#request button[type=submit]");
    await textStarts(alice, "detail-summary", "Status awaiting_approval");
    const carol = await signIn("carol-dev-token");
    await carol.click("#requests tbody tr >> text=web-queue");
    await carol.waitForSelector("#decide:not([hidden])");
    await carol.fill("#comment", '<img src=x onerror="document.title=\'pwned\'">');
    await carol.click("#reject");
    await textStarts(carol, "detail-summary", "Status rejected");
    expect(await carol.textContent("#detail-error")).toBe('rejected by carol: <img src=x onerror="document.title=\'pwned\'">');
    expect(await carol.$$("#detail-error img")).toHaveLength(0);
    expect(await carol.title()).toBe("Paved self-service");
  }, 60_000);

  it("a bad token keeps the page closed", async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(base + "/");
    await page.fill("#token", "not-a-token");
    await page.click("#login button");
    await textStarts(page, "who", "");
    expect(await page.textContent("#who")).toBe("the bearer token is not valid");
    expect(await page.isHidden("#app")).toBe(true);
  });
});
