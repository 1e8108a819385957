/**
 * The approver's console in a real browser (Debian's Chromium, driven by playwright-core):
 * nothing but the sign-in form before sign-in; the form validates names in the browser;
 * the requester sees who they are, the approvals still needed and no Approve button; an
 * approver outside the required group gets none either; a platform approver approves,
 * and the requester's open page follows over the event stream. Values from the API are
 * shown as text, never as HTML. Screenshots of each view are saved (PAVED_SCREENSHOTS, or
 * a temporary directory printed by the test) and checked to be real renderings.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { createService, Service } from "../../automation/service/main";
import { freePort } from "../net";
import { testConfig } from "./harness";

const CHROMIUM = "/usr/bin/chromium";
const skip = existsSync(CHROMIUM) ? undefined : `no ${CHROMIUM} (Debian's chromium; .ci/run installs it)`;
if (skip) console.log(`web page tests skipped: ${skip}`);

type Doc = { document: { getElementById(i: string): { textContent: string | null } | null } };

describe.skipIf(skip !== undefined)("the approver's console", () => {
  let service: Service;
  let browser: Browser;
  let base: string;
  let shots: string;

  beforeAll(async () => {
    const agents = { "deploy-bot": { token: "deploy-bot-token", team: "payments", autonomy: "low" } };
    service = await createService({ config: testConfig({ agents }), sqliteFile: ":memory:", engine: "simulate", logger: false, workers: 2 });
    const port = await freePort();
    await service.app.listen({ port, host: "127.0.0.1" });
    base = `http://127.0.0.1:${port}`;
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
    if (process.env.PAVED_SCREENSHOTS) mkdirSync(process.env.PAVED_SCREENSHOTS, { recursive: true });
    shots = process.env.PAVED_SCREENSHOTS ?? mkdtempSync(join(tmpdir(), "paved-web-"));
    console.log(`web page screenshots: ${shots}`);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await service?.close(2000);
  });

  /** Waits until the element's text starts with `prefix` (non-empty when `prefix` is ""). */
  async function textStarts(page: Page, id: string, prefix: string): Promise<void> {
    await page.waitForFunction(
      ([elementId, start]) => {
        const t = (globalThis as unknown as Doc).document.getElementById(elementId)?.textContent ?? "";
        return start === "" ? t !== "" : t.startsWith(start);
      },
      [id, prefix] as const,
      { timeout: 20_000 },
    );
  }

  async function open(): Promise<Page> {
    const page = await (await browser.newContext({ viewport: { width: 1200, height: 900 } })).newPage();
    await page.goto(base + "/");
    return page;
  }

  async function signIn(token: string): Promise<Page> {
    const page = await open();
    await page.fill("#token", token);
    await page.click("#login button");
    await page.waitForSelector("#app:not([hidden])");
    return page;
  }

  /** A full-page screenshot, checked to be a PNG of the page's size with more than a blank page's bytes. */
  async function screenshot(page: Page, name: string): Promise<string> {
    const file = join(shots, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    const png = readFileSync(file);
    expect(png.subarray(1, 4).toString("latin1")).toBe("PNG");
    expect(png.readUInt32BE(16)).toBe(1200);
    expect(png.length).toBeGreaterThan(15_000);
    return file;
  }

  async function request(page: Page, fields: { environment: string; offering: string; name: string; action?: string; tier?: string }): Promise<void> {
    if (fields.action) await page.selectOption("#action", fields.action);
    await page.selectOption("#environment", fields.environment);
    await page.selectOption("#offering", fields.offering);
    await page.fill("#name", fields.name);
    if (fields.tier) await page.selectOption("[data-param=tier]", fields.tier);
    await page.click("#request button[type=submit]");
  }

  /** Opens the request with `action` from the list (which refreshes every few seconds). */
  async function openRow(page: Page, action: string): Promise<void> {
    await page.click(`#requests tbody tr:has(td:text-is("${action}"))`, { timeout: 20_000 });
    await textStarts(page, "detail-title", `${action} `);
  }

  /** The risk levels the preview is grouped by, in order. */
  const riskGroups = (page: Page) => page.$$eval("#detail-preview section", (s) => s.map((x) => (x as unknown as { dataset: { risk: string } }).dataset.risk));

  const texts = (page: Page, selector: string) => page.$$eval(selector, (nodes) => nodes.map((n) => n.textContent));

  it("serves the page with a strict content security policy", async () => {
    const res = await fetch(base + "/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("content-security-policy")).toBe("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'");
  });

  it("before sign-in shows only the sign-in form: no engine notice, no empty box", async () => {
    const page = await open();
    expect(await page.isHidden("#engine")).toBe(true);
    expect(await page.$eval("#engine", (e) => (e as unknown as { getBoundingClientRect(): { height: number } }).getBoundingClientRect().height)).toBe(0);
    expect(await page.isHidden("#app")).toBe(true);
    expect(await page.isHidden("#session")).toBe(true);
    expect(await page.isVisible("#token")).toBe(true);
    await screenshot(page, "0-sign-in");
  });

  it("validates team and name in the browser, as the service does", async () => {
    const alice = await signIn("alice-dev-token");
    const mismatch = (id: string, value: string) =>
      alice.$eval(
        `#${id}`,
        (input, v) => {
          const i = input as unknown as { value: string; validity: { patternMismatch: boolean } };
          i.value = v;
          return i.validity.patternMismatch;
        },
        value,
      );
    expect(await mismatch("name", "Orders_DB")).toBe(true);
    expect(await mismatch("name", "a")).toBe(true);
    expect(await mismatch("name", `a${"b".repeat(40)}`)).toBe(true);
    expect(await mismatch("name", "web-db")).toBe(false);
    expect(await mismatch("team", "-payments")).toBe(true);
    expect(await mismatch("team", "payments-")).toBe(true);
    expect(await mismatch("team", "payments")).toBe(false);
    // An invalid name stops the form in the browser: no request is sent.
    await alice.fill("#name", "Orders_DB");
    await alice.click("#request button[type=submit]");
    expect(await alice.$eval("#name", (i) => (i as unknown as { matches(s: string): boolean }).matches(":invalid"))).toBe(true);
    expect(await alice.$$("#requests tbody tr")).toHaveLength(0);
  });

  it("requester and approver views: who is signed in, approvals given and needed, actions only for who may take them, live updates", async () => {
    // alice (team payments) creates a prod database: medium risk, one approval from anyone eligible.
    const alice = await signIn("alice-dev-token");
    expect(await alice.textContent("#signed-in")).toBe("Signed in as alice (team payments)");
    expect(await alice.textContent("#engine")).toBe("Engine: simulate. Nothing real is provisioned.");
    expect(await alice.isHidden("#login")).toBe(true);
    expect(await alice.inputValue("#team")).toBe("payments");
    expect(await alice.$$eval("#offering option", (os) => os.map((o) => (o as unknown as { value: string }).value))).toEqual([
      "postgres",
      "redis",
      "queue",
      "bucket",
      "namespace",
      "web-service",
    ]);
    await request(alice, { environment: "prod", offering: "postgres", name: "web-db", tier: "medium" });
    await textStarts(alice, "detail-summary", "Status awaiting_approval");
    expect(await alice.textContent("#detail-title")).toBe("create postgres web-db (payments/prod)");
    expect(await alice.textContent("#detail-summary")).toBe(
      "Status awaiting_approval · requested by alice · medium risk · needs 1 approval · simulated: nothing real is provisioned",
    );
    expect(await alice.textContent("#approval-progress")).toBe("Approvals: 0 of 1");
    expect(await alice.isHidden("#decide")).toBe(true);
    expect(await alice.isVisible("#cancel")).toBe(true);
    expect(await alice.textContent("#approval-note")).toBe("You requested this change: someone else approves it. You can still cancel it.");
    // The preview grouped by risk, with the changed keys of each step.
    expect(await riskGroups(alice)).toEqual(["medium"]);
    const rows = await texts(alice, "#detail-preview section[data-risk=medium] tbody tr");
    expect(rows).toContain("createweb-db-dbaws:rds/instance:Instance—creates aws:rds/instance:Instance web-db-db; in prod: one level higher");
    await screenshot(alice, "1-requester-create");

    // bob (platform) approves it from his own page; it is provisioned.
    const bob = await signIn("bob-dev-token");
    expect(await bob.textContent("#signed-in")).toBe("Signed in as bob (approver in platform)");
    expect(await texts(bob, "#requests tbody tr >> nth=0 >> td")).toEqual(["web-db", "create", "prod", "awaiting_approval", "medium", "0 of 1", "alice"]);
    await bob.click("#requests tbody tr >> text=web-db");
    await bob.waitForSelector("#decide:not([hidden])");
    expect(await bob.textContent("#approval-note")).toBe("");
    await bob.fill("#comment", "ok for launch");
    await bob.click("#approve");
    await textStarts(bob, "detail-summary", "Status succeeded");
    expect(Object.keys(JSON.parse((await bob.textContent("#detail-outputs"))!)).sort()).toEqual(["endpoint", "port", "secretArn", "securityGroupId"]);
    expect(await bob.isHidden("#decide")).toBe(true);
    expect((await texts(bob, "#approval-list li"))[0]).toMatch(/^bob approved at .+: “ok for launch”$/);
    // alice's open page followed the stream: no reload, the detail is not polled.
    await textStarts(alice, "detail-summary", "Status succeeded");
    expect(await alice.textContent("#approval-progress")).toBe("Approvals: 1 of 1: bob");
    expect(await alice.isHidden("#own")).toBe(true);
    expect(await texts(alice, "#detail-events li")).toEqual(
      expect.arrayContaining([
        "status previewing",
        "status awaiting_approval: needs 1 approval",
        "status awaiting_approval (approval from bob)",
        "status approved (approved by bob)",
        "status succeeded",
      ]),
    );

    // alice moves it to the large tier: the preview shows the changed keys of each update.
    await request(alice, { action: "update", environment: "prod", offering: "postgres", name: "web-db", tier: "large" });
    await textStarts(alice, "detail-summary", "Status awaiting_approval");
    await textStarts(alice, "detail-title", "update postgres web-db");
    const updates = await texts(alice, "#detail-preview section[data-risk=high] tbody tr");
    expect(updates).toContain(
      "updateweb-db-dbaws:rds/instance:InstanceallocatedStorage, instanceClass, maxAllocatedStorage" +
        "updates aws:rds/instance:Instance web-db-db (allocatedStorage, instanceClass, maxAllocatedStorage); in prod: one level higher",
    );
    await screenshot(alice, "1b-requester-update");
    await openRow(bob, "update");
    await bob.waitForSelector("#decide:not([hidden])");
    await bob.click("#approve");
    await textStarts(alice, "detail-summary", "Status succeeded");

    // alice destroys it: critical (a prod database's data is lost), two approvals from platform.
    await request(alice, { action: "destroy", environment: "prod", offering: "postgres", name: "web-db" });
    await textStarts(alice, "detail-summary", "Status awaiting_approval");
    expect(await alice.textContent("#approval-progress")).toBe("Approvals: 0 of 2 from platform");
    const levels = await riskGroups(alice);
    expect(levels[0]).toBe("critical");
    expect(await texts(alice, "#detail-preview section >> nth=0 >> h4")).toEqual([expect.stringMatching(/^critical risk · \d+ changes?$/)]);

    // erin is in team payments but not in platform: she sees it, and no action.
    const erin = await signIn("erin-dev-token");
    await openRow(erin, "destroy");
    await textStarts(erin, "detail-summary", "Status awaiting_approval");
    expect(await erin.isHidden("#decide")).toBe(true);
    expect(await erin.isHidden("#own")).toBe(true);
    expect(await erin.textContent("#approval-note")).toBe("Only members of platform can approve this critical-risk change.");

    // bob approves once: alice's page shows "1 of 2 from platform: bob" live; bob's has no second Approve.
    await openRow(bob, "destroy");
    await bob.waitForSelector("#decide:not([hidden])");
    await bob.click("#approve");
    await textStarts(bob, "approval-progress", "Approvals: 1 of 2 from platform: bob");
    expect(await bob.isHidden("#decide")).toBe(true);
    expect(await bob.textContent("#approval-note")).toBe("You approved this preview; it waits for the others.");
    await textStarts(alice, "approval-progress", "Approvals: 1 of 2 from platform: bob");
    expect(await alice.isHidden("#decide")).toBe(true);
    expect(await alice.textContent("#live")).toBe("● live");
    await screenshot(alice, "2-requester-destroy-waiting");
    await screenshot(bob, "3-approver-approved-once");

    // carol sees the one still needed and gives it.
    const carol = await signIn("carol-dev-token");
    await openRow(carol, "destroy");
    await carol.waitForSelector("#decide:not([hidden])");
    expect(await carol.textContent("#approval-progress")).toBe("Approvals: 1 of 2 from platform: bob");
    await screenshot(carol, "4-approver-to-decide");
    await carol.click("#approve");
    await textStarts(alice, "detail-summary", "Status succeeded");
    expect(await alice.textContent("#approval-progress")).toBe("Approvals: 2 of 2 from platform: bob, carol");
    await screenshot(alice, "5-requester-destroyed");
  }, 240_000);

  it("shows a rejection reason as text, not HTML", async () => {
    const alice = await signIn("alice-dev-token");
    await request(alice, { environment: "prod", offering: "queue", name: "web-queue" });
    await textStarts(alice, "detail-summary", "Status awaiting_approval");
    const carol = await signIn("carol-dev-token");
    await carol.click("#requests tbody tr >> text=web-queue");
    await carol.waitForSelector("#decide:not([hidden])");
    await carol.fill("#comment", "<img src=x onerror=\"document.title='pwned'\">");
    await carol.click("#reject");
    await textStarts(carol, "detail-summary", "Status rejected");
    expect(await carol.textContent("#detail-error")).toBe("rejected by carol: <img src=x onerror=\"document.title='pwned'\">");
    expect(await carol.$$("#detail-error img")).toHaveLength(0);
    expect(await carol.title()).toBe("Paved self-service");
    await textStarts(alice, "detail-summary", "Status rejected");
    expect(await alice.$$("#detail-error img")).toHaveLength(0);
  }, 60_000);

  it("shows an agent as an agent, never offers it a decision, and opens a request from its link", async () => {
    const bot = await signIn("deploy-bot-token");
    expect(await bot.textContent("#signed-in")).toBe("Signed in as deploy-bot (agent) (team payments)");
    await request(bot, { environment: "prod", offering: "queue", name: "bot-queue" });
    await textStarts(bot, "detail-summary", "Status awaiting_approval · requested by deploy-bot (agent)");
    expect(await bot.textContent("#approval-note")).toBe("Agents cannot approve or reject: a person must.");
    expect(await bot.isHidden("#decide")).toBe(true);
    const id = (await service.store.listRequests({ limit: 10 })).find((r) => r.name === "bot-queue")!.id;
    const page = await (await browser.newContext({ viewport: { width: 1200, height: 900 } })).newPage();
    await page.goto(`${base}/#${id}`);
    await page.fill("#token", "bob-dev-token");
    await page.click("#login button");
    await textStarts(page, "detail-summary", "Status awaiting_approval · requested by deploy-bot (agent)");
    expect(await page.isHidden("#decide")).toBe(false);
    const alice = await signIn("alice-dev-token");
    await alice.waitForSelector("#autonomy:not([hidden])");
    expect((await texts(alice, "#autonomy-list li"))[0]).toBe("payments: low");
  }, 60_000);

  it("a bad token keeps the page closed", async () => {
    const page = await open();
    await page.fill("#token", "not-a-token");
    await page.click("#login button");
    await textStarts(page, "who", "");
    expect(await page.textContent("#who")).toBe("the bearer token is not valid");
    expect(await page.isHidden("#app")).toBe(true);
    expect(await page.isHidden("#engine")).toBe(true);
  });
});
