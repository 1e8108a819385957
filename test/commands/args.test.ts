import { describe, expect, it } from "vitest";
import { keyValue, readArgs } from "../../automation/commands/args";

const spec = { stack: { type: "string" }, json: { type: "boolean" }, config: { type: "string", multiple: true } } as const;

describe("readArgs", () => {
  it("reads strings, flags, repeated options, = values and plain arguments", () => {
    expect(readArgs(["--stack", "prod", "--json", "--config", "a=1", "--config=b=2", "spec.yaml"], spec, 1)).toEqual({
      values: { stack: "prod", json: true, config: ["a=1", "b=2"] },
      positionals: ["spec.yaml"],
    });
    expect(readArgs(["--stack=--odd", "-"], spec, 1)).toEqual({ values: { stack: "--odd" }, positionals: ["-"] });
    expect(readArgs(["--", "--json"], spec, 1)).toEqual({ values: {}, positionals: ["--json"] });
  });

  it.each([
    [["--stack"], "--stack needs a value"],
    [["--stack", "--json"], "--stack needs a value"],
    [["--json=yes"], "--json takes no value"],
    [["--frobnicate"], "unknown option --frobnicate"],
    [["-x"], "unknown option -x"],
    [["a", "b"], 'unexpected argument "b"'],
  ])("%j: %s", (argv, message) => {
    expect(() => readArgs(argv, spec, 1)).toThrow(new Error(message));
  });

  it("splits key=value at the first =", () => {
    expect(keyValue("--config", "a=b=c")).toEqual(["a", "b=c"]);
    expect(() => keyValue("--config", "=x")).toThrow(new Error('--config takes key=value, got "=x"'));
  });
});
