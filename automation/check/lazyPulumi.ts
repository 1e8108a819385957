/**
 * Defers the parts of `@pulumi/pulumi` that its index loads eagerly but a check never uses:
 *
 * - `typescript-shim.js`, which loads the whole TypeScript compiler (9 MB, ~0.45 s here) for
 *   function serialization (`pulumi.runtime.serializeFunction`, e.g. an AWS Lambda
 *   `CallbackFunction`) and the component analyzer of `pulumi package add`;
 * - `automation/index.js`, the Automation API (execa, js-yaml and ~80 files), which a
 *   program under mocks has no use for;
 * - `@grpc/grpc-js` (65 files) and the gRPC service definitions that build their clients
 *   with it as they load (`proto/*_grpc_pb.js`): under mocks nothing connects to an engine,
 *   so a check never needs them (@pulumi/policy's analyzer server loads one too);
 * - `normalize-package-data` (function serialization's package walk; it builds a table of
 *   SPDX licence corrections as it loads) and `@opentelemetry/api` (tracing of gRPC calls).
 *
 * Each is replaced in `require.cache`, before `@pulumi/pulumi` is first loaded, by a proxy
 * that loads the real module on first use and then forwards to it: a program that does
 * serialize a function, or reads `pulumi.automation`, works as before and pays then.
 * Must run before anything requires `@pulumi/pulumi` (the child imports it first).
 */
import Module from "node:module";
import { dirname, join } from "node:path";

/** Where `lazyModule` put a proxy, and whether the real module was loaded since. */
const installed = new Map<string, { loaded: boolean }>();

/**
 * Puts a proxy for the CommonJS module `filename` into `require.cache`; the real module is
 * loaded at the first operation on the proxy. `esModule`: answer `__esModule` without
 * loading (`true`, or undefined for `false`), as TypeScript's `__importStar` and
 * `__importDefault` read it when the module is imported (with `true`, `__importStar` keeps
 * the proxy as the namespace object instead of copying every export at once).
 * `callable`: the module exports a function (the proxy can be called and constructed).
 */
export function lazyModule(filename: string, options: { esModule?: boolean; callable?: boolean } = {}): void {
  if (require.cache[filename] || installed.has(filename)) return;
  const state = { loaded: false };
  installed.set(filename, state);
  // The proxy's target receives the real module's properties once loaded, so that the
  // proxy's answers keep the invariants JavaScript checks (non-configurable properties).
  const target = (options.callable ? function lazy() {} : {}) as Record<PropertyKey, unknown>;
  let real: Record<PropertyKey, unknown> | undefined;
  const load = () => {
    if (real === undefined) {
      delete require.cache[filename];
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      real = require(filename) as Record<PropertyKey, unknown>;
      state.loaded = true;
      Object.defineProperties(target, Object.getOwnPropertyDescriptors(real));
      Object.setPrototypeOf(target, Object.getPrototypeOf(real) as object | null);
    }
    return target;
  };
  const handler: ProxyHandler<Record<PropertyKey, unknown>> = {
    // Reads go to the real module, so that exports it assigns later are seen.
    get: (_t, key) => {
      if (key === "__esModule" && options.esModule !== undefined && real === undefined) return options.esModule || undefined;
      load();
      return real![key];
    },
    has: (_t, key) => Reflect.has(load(), key),
    ownKeys: () => Reflect.ownKeys(load()),
    getOwnPropertyDescriptor: (_t, key) => Reflect.getOwnPropertyDescriptor(load(), key),
    getPrototypeOf: () => Reflect.getPrototypeOf(load()),
    // Writes go to both, keeping the target's answers equal to the real module's.
    set: (_t, key, value) => Reflect.set(load(), key, value) && Reflect.set(real!, key, value),
    defineProperty: (_t, key, descriptor) => Reflect.defineProperty(load(), key, descriptor) && Reflect.defineProperty(real!, key, descriptor),
    deleteProperty: (_t, key) => Reflect.deleteProperty(load(), key) && Reflect.deleteProperty(real!, key),
    apply: (_t, self, args: unknown[]) => (load(), Reflect.apply(real as unknown as (...a: unknown[]) => unknown, self, args)),
    construct: (_t, args: unknown[], newTarget) => (load(), Reflect.construct(real as unknown as new (...a: unknown[]) => object, args, newTarget)),
  };
  const module = new Module(filename);
  module.filename = filename;
  module.loaded = true;
  module.exports = new Proxy(target, handler);
  require.cache[filename] = module;
}

/** Whether the real module behind a `lazyModule` proxy has been loaded (for tests). */
export function lazyModuleLoaded(filename: string): boolean | undefined {
  return installed.get(filename)?.loaded;
}

/** gRPC service definitions that `@pulumi/pulumi` and `@pulumi/policy` load eagerly. */
const GRPC_SERVICES = ["analyzer", "callback", "engine", "provider", "resource"];

/** The files of `@pulumi/pulumi` (as this project resolves it) that `deferPulumiModules` defers. */
export function deferredPulumiFiles() {
  const root = dirname(require.resolve("@pulumi/pulumi/package.json"));
  return {
    typescriptShim: join(root, "typescript-shim.js"),
    automation: join(root, "automation", "index.js"),
    grpc: require.resolve("@grpc/grpc-js", { paths: [root] }),
    grpcServices: GRPC_SERVICES.map((s) => join(root, "proto", `${s}_grpc_pb.js`)),
    normalizePackageData: require.resolve("normalize-package-data", { paths: [root] }),
    opentelemetry: require.resolve("@opentelemetry/api", { paths: [root] }),
  };
}

/** Defers the parts of `@pulumi/pulumi` a check does not use (see the file's comment). */
export function deferPulumiModules(): void {
  const files = deferredPulumiFiles();
  lazyModule(files.typescriptShim);
  lazyModule(files.automation, { esModule: true });
  lazyModule(files.grpc, { esModule: true });
  // Generated without `__esModule`; answering it keeps `__importStar` from copying (and so
  // loading) every export at import. Their exports are only read when a client is made.
  for (const file of files.grpcServices) lazyModule(file, { esModule: true });
  // A function, imported with `__importDefault`.
  lazyModule(files.normalizePackageData, { esModule: false, callable: true });
  lazyModule(files.opentelemetry, { esModule: true });
}
