/** The analyzer path's properties cache: one deserialization per request's properties, as evaluate() shares them. */
import { createRequire } from "node:module";
import { afterEach, describe, expect, it } from "vitest";
import { cacheDeserializedProperties, cachingDeserializer, uncacheDeserializedProperties } from "../../policy-pack/analyzerCache";

const proto = createRequire(require.resolve("@pulumi/pulumi/proto/analyzer_pb"));
const structPb = proto("google-protobuf/google/protobuf/struct_pb");

describe("cachingDeserializer", () => {
  it("deserializes a properties message once for the secret-unwrapping form, afresh for the secret-preserving one", () => {
    const calls: [object, boolean][] = [];
    const cached = cachingDeserializer((struct, proxySecrets) => {
      calls.push([struct, proxySecrets]);
      return { n: calls.length };
    });
    const a = {};
    const b = {};
    expect(cached(a, false)).toEqual({ n: 1 });
    expect(cached(a, false)).toBe(cached(a, false));
    expect(cached(b, false)).toEqual({ n: 2 });
    expect(cached(a, true)).toEqual({ n: 3 });
    expect(cached(a, true)).toEqual({ n: 4 });
    expect(calls.map(([s, p]) => [s === a ? "a" : "b", p])).toEqual([
      ["a", false],
      ["b", false],
      ["a", true],
      ["a", true],
    ]);
  });
});

describe("cacheDeserializedProperties", () => {
  afterEach(() => uncacheDeserializedProperties());

  it("makes @pulumi/policy's deserializer (which its analyzer host calls per policy) return one object per request, with secrets unwrapped", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the module server.js reads, as it reads it
    const deserialize = require("@pulumi/policy/deserialize") as { deserializeProperties(s: object, p: boolean): Record<string, unknown> };
    const original = deserialize.deserializeProperties;
    const struct = structPb.Struct.fromJavaScript({
      storageEncrypted: true,
      password: { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value: "hunter2" },
    });
    expect(deserialize.deserializeProperties(struct, false)).not.toBe(deserialize.deserializeProperties(struct, false));
    cacheDeserializedProperties();
    cacheDeserializedProperties();
    const first = deserialize.deserializeProperties(struct, false);
    expect(deserialize.deserializeProperties(struct, false)).toBe(first);
    expect(first).toEqual({ storageEncrypted: true, password: "hunter2" });
    uncacheDeserializedProperties();
    expect(deserialize.deserializeProperties).toBe(original);
  });
});
