/** The notification parts on their own: config checks with positions, retry delays, signatures, Slack messages, routes. */
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../automation/config";
import { Gate, GateSubject } from "../../automation/gate";
import { Outbox } from "../../automation/notifications/outbox";
import { buildRequest, slackMessage, SinkSetupError } from "../../automation/notifications/sinks";
import { sign, verify } from "../../automation/notifications/signing";
import { DEFAULT_RETRY, parseRetryAfter, retryDelay } from "../../automation/notifications/worker";
import type { RequestRow } from "../../automation/store/store";

const BASE = [
  "people:",
  "  alice: { token: alice-dev-token }",
  "  bob: { token: bob-dev-token }",
  "demo: true",
  "teams:",
  "  payments: { members: [alice] }",
  "approverGroups:",
  "  platform: [bob]",
];

function issuesOf(lines: string[]): string[] {
  try {
    parseConfig([...BASE, ...lines].join("\n"), "paved.yaml");
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`);
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("notification and escalation config", () => {
  it("loads sinks, routes and the ladder", () => {
    const c = parseConfig(
      [
        ...BASE,
        "notifications:",
        "  sinks:",
        "    hook: { type: webhook, url: https://hooks.example/paved, secret: env:HOOK_SECRET }",
        "  routes:",
        "    - { events: [approval_needed], to: [hook] }",
        "approvals:",
        "  escalation:",
        "    critical: [ { after: 30m, notify: [hook] }, { after: 2h, addApprovers: platform } ]",
      ].join("\n"),
      "paved.yaml",
    );
    expect(c.notifications.sinks.hook).toEqual({ type: "webhook", url: "https://hooks.example/paved", secret: "env:HOOK_SECRET" });
    expect(c.escalation).toEqual({
      critical: [
        { afterMs: 1_800_000, notify: ["hook"] },
        { afterMs: 7_200_000, notify: [], addApprovers: "platform" },
      ],
    });
    expect(c.expiryMs).toBe(86_400_000);
  });

  it("names unknown sinks, teams and groups, bad durations and URLs with their file positions", () => {
    expect(
      issuesOf([
        "notifications:",
        "  sinks:",
        "    hook: { type: webhook, url: ftp://x, secret: env:HOOK_SECRET }",
        "    chat: { type: slack, url: env:SLACK_URL }",
        "  routes:",
        "    - { events: [approval_needed], teams: [search], to: [hook, pager] }",
        "approvals:",
        "  escalation:",
        "    high: [ { after: 2 hours, notify: [chat] } ]",
        "    critical: [ { after: 2h }, { after: 30m, notify: [mail], addApprovers: platform-leads } ]",
      ]),
    ).toEqual([
      '11:33 notifications.sinks.hook.url: "ftp://x" is not an http(s) URL or env:NAME',
      '14:64 notifications.routes[0].to[1]: "pager" is not in notifications.sinks',
      '14:44 notifications.routes[0].teams[0]: "search" is not in teams',
      '17:22 approvals.escalation.high[0].after: "2 hours" is not a duration like 30m, 2h or 1d',
      '18:41 approvals.escalation.critical[1].after: "30m" must be later than the rung before it',
      '18:55 approvals.escalation.critical[1].notify[0]: "mail" is not in notifications.sinks',
      '18:76 approvals.escalation.critical[1].addApprovers: "platform-leads" is not in approverGroups',
    ]);
  });

  it("refuses an unknown event, sink type or key", () => {
    expect(
      issuesOf([
        "notifications:",
        "  sinks:",
        "    mail: { type: email, url: https://x.example }",
        "  routes:",
        "    - { events: [approved, deployed], to: [mail] }",
      ]),
    ).toEqual([
      expect.stringMatching(/^11:\d+ notifications\.sinks\.mail\.type: .*webhook.*slack/),
      expect.stringMatching(/^13:\d+ notifications\.routes\[0\]\.events\[1\]: "deployed" is not one of approval_needed, /),
    ]);
  });

  it("wants a webhook secret from the environment outside a demo config", () => {
    const text = [
      ...BASE.filter((l) => l !== "demo: true").map((l) =>
        l.replace(/alice-dev-token/, `sha256:${"a".repeat(64)}`).replace(/bob-dev-token/, `sha256:${"b".repeat(64)}`),
      ),
      "notifications:",
      "  sinks:",
      "    hook: { type: webhook, url: https://hooks.example, secret: s3cret-in-the-file }",
    ].join("\n");
    let issues: string[] = [];
    try {
      parseConfig(text, "paved.yaml");
    } catch (err) {
      issues = (err as ConfigError).issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`);
    }
    expect(issues).toEqual(["10:64 notifications.sinks.hook.secret: must be env:NAME (a secret written in the file is allowed only with demo: true)"]);
    // The message names the key, never the value.
    expect(issues.join()).not.toContain("s3cret-in-the-file");
  });
});

describe("retries", () => {
  const policy = { ...DEFAULT_RETRY, baseDelayMs: 1000, maxDelayMs: 60_000 };
  it("back off exponentially, with jitter between half and all of the delay, up to the cap", () => {
    expect([1, 2, 3, 4].map((n) => retryDelay(n, undefined, policy, () => 1))).toEqual([1000, 2000, 4000, 8000]);
    expect([1, 2, 3, 4].map((n) => retryDelay(n, undefined, policy, () => 0))).toEqual([500, 1000, 2000, 4000]);
    expect(retryDelay(20, undefined, policy, () => 1)).toBe(60_000);
  });
  it("honour Retry-After in seconds or as a date, capped", () => {
    const now = new Date("2026-11-25T10:00:00Z");
    expect(parseRetryAfter("120", now)).toBe(120_000);
    expect(parseRetryAfter("Wed, 25 Nov 2026 10:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(retryDelay(1, 120_000, policy, () => 1)).toBe(60_000);
    expect(retryDelay(1, 30_000, policy, () => 0)).toBe(30_000);
  });
});

describe("signatures", () => {
  const body = '{"id":"evt_1","event":"approved"}';
  it("are sha256=HMAC-SHA256 of <timestamp>.<body>", () => {
    expect(sign("k", 1700000000, body)).toBe(`sha256=${createHmac("sha256", "k").update(`1700000000.${body}`).digest("hex")}`);
  });
  it("verify only with the secret, the exact body and a fresh timestamp", () => {
    const now = new Date(1700000000 * 1000);
    const signature = sign("k", 1700000000, body);
    expect(verify({ secret: "k", timestamp: "1700000000", body, signature, now })).toBe(true);
    expect(verify({ secret: "x", timestamp: "1700000000", body, signature, now })).toBe(false);
    expect(verify({ secret: "k", timestamp: "1700000000", body: `${body} `, signature, now })).toBe(false);
    expect(verify({ secret: "k", timestamp: "1700000001", body, signature, now })).toBe(false);
    expect(verify({ secret: "k", timestamp: "1700000000", body, signature, now: new Date(now.getTime() + 301_000) })).toBe(false);
  });
});

const row: RequestRow = {
  id: "req_1",
  action: "destroy",
  team: "payments",
  environment: "prod",
  offering: "postgres",
  name: "<billing>",
  stack: "payments.prod.billing",
  params: "{}",
  requested_by: "alice",
  status: "awaiting_approval",
  engine: "simulate",
  risk: JSON.stringify({
    level: "critical",
    reasons: ["deletes a <database> & its data"],
    requiredApprovals: { level: "critical", auto: false, count: 2, group: "platform", description: "2 approvals from platform" },
  }),
  preview: null,
  violations: null,
  outputs: null,
  error: null,
  awaiting_since: "2026-11-25T10:00:00.000Z",
  approval_floor: 0,
  created_at: "2026-11-25T10:00:00.000Z",
  updated_at: "2026-11-25T10:00:00.000Z",
};

describe("routes and sinks", () => {
  const settings = {
    sinks: { hook: { type: "webhook" as const, url: "env:HOOK_URL", secret: "env:HOOK_SECRET" }, chat: { type: "slack" as const, url: "env:SLACK" } },
    routes: [
      { events: ["approval_needed" as const], to: ["hook"] },
      { events: ["failed" as const], teams: ["search"], to: ["chat"] },
    ],
  };
  const outbox = new Outbox(settings, "https://paved.example/");

  it("send an event to every matching route's sinks, plus a rung's, once each", () => {
    expect(outbox.sinksFor("approval_needed", "payments")).toEqual(["hook"]);
    expect(outbox.sinksFor("failed", "payments")).toEqual([]);
    expect(outbox.sinksFor("failed", "search")).toEqual(["chat"]);
    expect(outbox.sinksFor("escalated", "payments", ["hook", "chat"])).toEqual(["hook", "chat"]);
    expect(outbox.forRequest("expired", row, row.updated_at)).toBeUndefined();
    const entry = outbox.forRequest("approval_needed", row, row.updated_at)!;
    expect(entry.sinks).toEqual(["hook"]);
    expect(JSON.parse(entry.event.payload).link).toBe("https://paved.example/?request=req_1");
  });

  it("read env: settings when sending, and name a missing variable, never a value", () => {
    const entry = outbox.forRequest("escalated", row, row.updated_at, { escalation: { rung: 2, addedGroup: "leads" }, notify: ["hook"] })!;
    expect(() => buildRequest("hook", settings.sinks.hook, entry.event.payload, { HOOK_URL: "https://h.example" }, new Date())).toThrow(
      new SinkSetupError("sink hook: the environment variable HOOK_SECRET (its secret) is not set"),
    );
    const req = buildRequest("hook", settings.sinks.hook, entry.event.payload, { HOOK_URL: "https://h.example", HOOK_SECRET: "k" }, new Date(1700000000_000));
    expect(req.url).toBe("https://h.example");
    expect(req.body).toBe(entry.event.payload);
    expect(req.headers["x-paved-signature"]).toBe(sign("k", 1700000000, entry.event.payload));
  });

  it("make a Slack message with the risk, reasons, who must approve and the link, escaped", () => {
    const entry = outbox.forRequest("escalated", row, row.updated_at, { escalation: { rung: 2, addedGroup: "leads" }, notify: ["chat"] })!;
    const m = slackMessage(JSON.parse(entry.event.payload));
    expect(m.text).toBe(
      "Escalated (rung 2): destroy postgres <billing> (payments/prod) · critical risk · needs 2 approvals from platform (or leads, added by the escalation) · https://paved.example/?request=req_1",
    );
    expect(m.blocks).toEqual([
      { type: "section", text: { type: "mrkdwn", text: "*Escalated (rung 2)*: destroy postgres &lt;billing&gt; (payments/prod)" } },
      {
        type: "section",
        fields: [
          { type: "mrkdwn", text: "*Risk*\ncritical" },
          { type: "mrkdwn", text: "*Who must approve*\n2 approvals from platform (or leads, added by the escalation)" },
          { type: "mrkdwn", text: "*Requested by*\nalice" },
          { type: "mrkdwn", text: "*Status*\nawaiting_approval" },
        ],
      },
      { type: "section", text: { type: "mrkdwn", text: "*Reasons*\n• deletes a &lt;database&gt; &amp; its data" } },
      {
        type: "actions",
        elements: [{ type: "button", text: { type: "plain_text", text: "Open the request" }, url: "https://paved.example/?request=req_1" }],
      },
    ]);
  });
});

describe("the gate with an escalation's added group", () => {
  const config = parseConfig(
    [
      "demo: true",
      "people:",
      "  alice: { token: alice-dev-token }",
      "  bob: { token: bob-dev-token }",
      "  carol: { token: carol-dev-token }",
      "  lee: { token: lee-dev-token }",
      "teams:",
      "  payments: { members: [alice, lee] }",
      "approverGroups:",
      "  platform: [bob, carol]",
      "  leads: [lee, alice]",
    ].join("\n"),
    "paved.yaml",
  );
  const now = new Date("2026-11-25T12:00:00Z");
  const gate = new Gate(config, () => now);
  const subject = (addedGroups?: string[]): GateSubject => ({
    noun: "request",
    team: "payments",
    requestedBy: "alice",
    requirement: { level: "critical", auto: false, count: 2, group: "platform", description: "2 approvals from platform" },
    digest: "d1",
    awaitingSince: "2026-11-25T10:00:00Z",
    ...(addedGroups ? { addedGroups } : {}),
  });
  const given = [
    { id: 1, by: "bob", at: "2026-11-25T11:00:00Z", digest: "d1" },
    { id: 2, by: "lee", at: "2026-11-25T11:30:00Z", digest: "d1" },
    { id: 3, by: "alice", at: "2026-11-25T11:40:00Z", digest: "d1" },
  ];

  it("lets the added group's members approve and counts them; the requester still never", () => {
    const lee = config.person("lee")!;
    expect(() => gate.checkApprover(lee, subject(), "d1", [])).toThrow("a critical-risk request needs approval from platform, and lee is not in it");
    expect(() => gate.checkApprover(lee, subject(["leads"]), "d1", [])).not.toThrow();
    expect(() => gate.checkApprover(config.person("alice")!, subject(["leads"]), "d1", [])).toThrow("the requester cannot approve their own request");
    expect(gate.progress(subject(), given)).toMatchObject({ counted: ["bob"], missing: 1 });
    expect(gate.progress(subject(["leads"]), given)).toEqual({ counted: ["bob", "lee"], missing: 0, summary: "2 of 2 from platform: bob, lee" });
    expect(() => gate.checkRejecter(lee, { ...subject(["leads"]) })).not.toThrow();
  });
});
