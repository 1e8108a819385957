/** Answers shared by the plugins: the error codes of plain HTTP refusals and the 429 shape. */
import type { FastifyReply } from "fastify";

/** Stable codes for the statuses Fastify or Node answer on their own. */
export const HTTP_CODES: Record<number, string> = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  406: "not_acceptable",
  413: "body_too_large",
  414: "uri_too_long",
  415: "unsupported_media_type",
  429: "too_many_requests",
};

/** 429 with Retry-After (at least one second) and the error shape. */
export function tooMany(reply: FastifyReply, retryAfterS: number, code: string, message: string): FastifyReply {
  return reply
    .status(429)
    .header("retry-after", String(Math.max(1, retryAfterS)))
    .send({ error: { code, message } });
}

/**
 * 200 with JSON already encoded by the route's schema (kept texts, viewTexts.ts): sent as it
 * is, not serialized again.
 */
export function sendJsonText(reply: FastifyReply, text: Buffer): FastifyReply {
  return reply.type("application/json; charset=utf-8").send(text);
}
