/**
 * How large answers reach the socket. Node writes a large JavaScript string to a socket far
 * more slowly than the same bytes as a Buffer: a page of 50 requests (140 kB) over loopback,
 * 10 connections, ~600 answers/s as a string against ~3,000 converted to a Buffer on each
 * answer (converting a flat string costs ~0.07 ms). Below a few kilobytes the conversion is
 * not worth its allocation. (fast-json-stringify was tried as the serializer: it builds the
 * text by appending small pieces, and turning that rope into bytes cost more than it saved.)
 */

/** Answers longer than this go to the socket as a Buffer. */
export const BUFFER_ABOVE = 16 * 1024;

/** `payload` as a Buffer when it is a string longer than `BUFFER_ABOVE`, else unchanged. */
export function largeAsBuffer<T>(payload: T): T | Buffer {
  return typeof payload === "string" && payload.length > BUFFER_ABOVE ? Buffer.from(payload) : payload;
}
