/**
 * Webhook signatures, as GitHub and Stripe sign theirs: `x-paved-signature: sha256=<hex>`,
 * the HMAC-SHA256 with the sink's secret of `<x-paved-timestamp>.<raw body>`. The timestamp
 * is signed too, so a captured delivery cannot be replayed later than the receiver's
 * tolerance.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

/** `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`. */
export function sign(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`, "utf8").digest("hex")}`;
}

/**
 * Whether `signature` is `sign(secret, timestamp, body)` and `timestamp` (unix seconds) is
 * within `toleranceSeconds` of `now`: what a receiver checks (README shows it standalone).
 */
export function verify(input: { secret: string; timestamp: string; body: string; signature: string; now?: Date; toleranceSeconds?: number }): boolean {
  const ts = Number(input.timestamp);
  if (!/^\d+$/.test(input.timestamp)) return false;
  const age = Math.abs((input.now ?? new Date()).getTime() / 1000 - ts);
  if (age > (input.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(sign(input.secret, ts, input.body));
  const given = Buffer.from(input.signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
