/** One error model: domain errors carry a kind; only the doors turn kinds into statuses and exit codes. */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { exitCodeOf } from "../../automation/commands/exitCodes";
import { ERROR_KINDS } from "../../automation/errors";
import { HTTP_STATUS } from "../../automation/service/errors";
import { ROOT } from "../service/harness";

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith(".ts") ? [p] : [];
  });
}

describe("the error model", () => {
  it("maps every kind to one HTTP status and one exit code", () => {
    expect(ERROR_KINDS.map((k) => `${k} ${HTTP_STATUS[k]} ${exitCodeOf(k)}`)).toEqual([
      "invalid 400 2",
      "unauthenticated 401 1",
      "forbidden 403 1",
      "not_found 404 1",
      "conflict 409 1",
      "unprocessable 422 2",
      "too_many 429 1",
      "unavailable 503 1",
    ]);
  });

  it("no domain error outside the doors names an HTTP status", () => {
    const core = ["automation", "runbooks", "stacks", "components"]
      .flatMap((d) => sources(join(ROOT, d)))
      .filter((f) => !f.includes(`${join("automation", "service")}`));
    const offenders = core.filter((f) => /new DomainError\(\s*\d/.test(readFileSync(f, "utf8")));
    expect(offenders).toEqual([]);
  });
});
