/** A service whose notifications go to test receivers, with its worker driven by hand. */
import { Writable } from "node:stream";
import pino from "pino";
import { createService, Service } from "../../automation/service/main";
import { Clock, testConfig, TOKENS, Who } from "../service/harness";
import type { Receiver } from "./receiver";

export const HOOK_SECRET = "whsec-test-0123456789abcdef";
export function notificationConfig(hookUrl: string) {
  return testConfig({
    approverGroups: { platform: ["bob", "carol"], "platform-leads": ["dave"] },
    approvals: {
      expiry: "24h",
      rules: { low: { count: 1 }, medium: { count: 1 }, high: { count: 1, group: "platform" }, critical: { count: 2, group: "platform" } },
      escalation: {
        critical: [
          { after: "30m", notify: ["platform-hook"] },
          { after: "2h", addApprovers: "platform-leads", notify: ["platform-hook"] },
        ],
      },
    },
    notifications: {
      sinks: {
        "platform-hook": { type: "webhook", url: hookUrl, secret: "env:PAVED_TEST_HOOK_SECRET" },
        "payments-chat": { type: "slack", url: "env:PAVED_TEST_SLACK_URL" },
      },
      routes: [
        { events: ["approval_needed", "answer_needed", "expired", "applied", "failed"], to: ["platform-hook"] },
        { events: ["approval_needed"], teams: ["payments"], to: ["payments-chat"] },
      ],
    },
  });
}

/** A service with its notification worker driven by hand (`notifications.tick()`). */
export async function notifiedService(hook: Receiver, slack: Receiver, clock: Clock, where: { databaseUrl?: string; sqliteFile?: string }, lines: string[]) {
  const log = pino(
    { level: "trace" },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    }),
  );
  return createService({
    config: notificationConfig(hook.url),
    ...where,
    engine: "simulate",
    log,
    startRunner: false,
    now: clock.now,
    publicUrl: "https://paved.example",
    notifications: {
      env: { PAVED_TEST_HOOK_SECRET: HOOK_SECRET, PAVED_TEST_SLACK_URL: slack.url },
      retry: { baseDelayMs: 1000, maxAttempts: 4 },
      random: () => 1,
    },
  });
}

export async function call(service: Service, who: Who, method: "GET" | "POST", url: string, body?: unknown) {
  const res = await service.app.inject({ method, url, headers: { authorization: `Bearer ${TOKENS[who]}` }, ...(body ? { payload: body as object } : {}) });
  return { status: res.statusCode, body: JSON.parse(res.body) };
}
