/**
 * Zod issues in the words of this project: the value given and what is allowed, with
 * paths written as `resources[2].params.tier`. Shared by everything that validates with a
 * zod schema (offerings, specs, the service, the config, runbooks): the lowest layer that
 * needs it is `components/` (offerings validate their instances here).
 */
import { z } from "zod";

export type IssuePath = (string | number)[];

/** `resources[2].params.tier` from `["resources", 2, "params", "tier"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${String(p)}`)).join("");
}

/** Longest input quoted back in a message; longer ones are cut (a message never echoes a whole payload). */
const QUOTE_MAX = 60;

/** `text` quoted, at most a short prefix of it: `"aaaa…" (5000 characters)`. */
export function quote(text: string, max = QUOTE_MAX): string {
  return text.length <= max ? JSON.stringify(text) : `${JSON.stringify(`${text.slice(0, max)}…`)} (${text.length} characters)`;
}

function show(value: unknown): string {
  if (typeof value === "string") return quote(value);
  if (value === undefined) return "nothing";
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  const json = JSON.stringify(value);
  return json.length <= QUOTE_MAX ? json : `${json.slice(0, QUOTE_MAX)}… (${json.length} characters)`;
}

/** A zod issue in the words of this project: the value given and what is allowed. */
export function describeZodIssue(issue: z.core.$ZodIssue): { path: IssuePath; message: string }[] {
  const path = issue.path as IssuePath;
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case "invalid_value":
      if (input === undefined) return [{ path, message: "is required" }];
      return [{ path, message: `${show(input)} is not one of ${issue.values.map((v) => String(v)).join(", ")}` }];
    case "unrecognized_keys":
      return issue.keys.map((k) => ({ path: [...path, k], message: `unknown key "${k}"` }));
    case "invalid_type":
      return [{ path, message: input === undefined ? "is required" : `expected ${issue.expected}, got ${show(input)}` }];
    case "too_small":
      return [
        {
          path,
          message: `${show(input)} is less than the minimum ${String(issue.minimum)}${issue.origin === "array" ? " items" : issue.origin === "string" ? " characters" : ""}`,
        },
      ];
    case "too_big":
      return [{ path, message: `${show(input)} is more than the maximum ${String(issue.maximum)}` }];
    case "invalid_format":
      return [{ path, message: `${show(input)} ${issue.message}` }];
    default:
      return [{ path, message: issue.message }];
  }
}
