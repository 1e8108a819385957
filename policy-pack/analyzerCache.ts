/**
 * The analyzer path, made as cheap as `evaluate()`: `@pulumi/policy`'s analyzer host
 * (server.js, `makeAnalyzeRpcFun` and `makeAnalyzeStackRpcFun`) turns a resource's
 * properties from protobuf into JavaScript again for every policy and every validation
 * (`deserializeProperties(req.getProperties(), false)` inside its loops): with a pack of
 * many policies that was most of the time of an `Analyze` call.
 *
 * `cacheDeserializedProperties()` keeps the result per properties message (the `Struct`
 * the request holds; protobuf returns the same object on every `getProperties()`), so a
 * resource is deserialized once per call, and every policy sees the same object, as in
 * `evaluate()`. Only the secret-unwrapping form (`proxySecrets = false`) is cached; the
 * remediation path's secret-preserving form is built afresh as before. Installed by the
 * pack's entry point (`index.ts`) before the pack starts, in the pack's own process.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
import { checkPolicyVersion } from "./engineInternals";

type Deserialize = (struct: object, proxySecrets: boolean) => Record<string, unknown>;

/** The original function, once the cache is installed (to undo it in tests and benches). */
let original: Deserialize | undefined;

/** Deserialized properties per protobuf `Struct`: dropped with the request. */
export function cachingDeserializer(deserialize: Deserialize): Deserialize {
  const cache = new WeakMap<object, Record<string, unknown>>();
  return (struct, proxySecrets) => {
    if (proxySecrets || struct === null || typeof struct !== "object") return deserialize(struct, proxySecrets);
    let props = cache.get(struct);
    if (props === undefined) {
      props = deserialize(struct, proxySecrets);
      cache.set(struct, props);
    }
    return props;
  };
}

/** Installs the cache in `@pulumi/policy`'s deserializer (which server.js reads at each call). Idempotent. */
export function cacheDeserializedProperties(): void {
  if (original) return;
  checkPolicyVersion((require("@pulumi/policy/package.json") as { version: string }).version);
  const mod = require("@pulumi/policy/deserialize") as { deserializeProperties: Deserialize };
  original = mod.deserializeProperties;
  mod.deserializeProperties = cachingDeserializer(original);
}

/** Removes the cache (benches compare both). */
export function uncacheDeserializedProperties(): void {
  if (!original) return;
  (require("@pulumi/policy/deserialize") as { deserializeProperties: Deserialize }).deserializeProperties = original;
  original = undefined;
}
