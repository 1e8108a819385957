/**
 * Turns off two debugging aids of `@pulumi/pulumi` that a check pays for on every resource
 * and never uses, as Pulumi's own engine would see nothing of them under mocks:
 *
 * - `debuggablePromise` (runtime/debuggable.js): every promise the runtime makes (four per
 *   output property of every resource, ~12,800 output properties for a 200-entry spec) gets
 *   three properties defined on it and a stack trace, and is kept in a set until it settles,
 *   so that a program that exits with promises pending can be told which. A check waits for
 *   every registration itself (`runUnderMocks`) and answers whatever the program left.
 * - `Resource.stackTrace` (resource.js): every resource's constructor raises
 *   `Error.stackTraceLimit` to infinity, takes the whole stack and parses it, to tell the
 *   engine where the resource was declared. The mock monitor drops it. A failed program is
 *   still located, from its error's own stack (child.ts, `locateFailure`).
 *
 * Measured on a 200-entry spec (1,234 resources, 2 cores): the program under mocks took
 * 2.15 s with both, 1.50 s without the first, 1.23 s without either; the heap at the end
 * was half as large. The resources, their inputs and the policy results are the same
 * (test/check/pulumiDebugAids.test.ts).
 *
 * Must run in the check's child process only, never in the service or a real deployment.
 */

/** The debugging aids turned off, by name; each is skipped when this version of Pulumi lacks it. */
export type PulumiDebugAid = "debuggablePromise" | "Resource.stackTrace";

/**
 * Turns the aids off in this process and returns those it found. A test asserts that both
 * are found in the installed `@pulumi/pulumi`, so an upgrade that moves them is noticed.
 */
export function turnOffPulumiDebugAids(): PulumiDebugAid[] {
  const done: PulumiDebugAid[] = [];
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const debuggable = require("@pulumi/pulumi/runtime/debuggable") as { debuggablePromise?: unknown };
  if (typeof debuggable.debuggablePromise === "function") {
    // Callers read it from the module's exports at each call (`debuggable_1.debuggablePromise`).
    debuggable.debuggablePromise = <T>(p: Promise<T>): Promise<T> => p;
    done.push("debuggablePromise");
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Resource } = require("@pulumi/pulumi/resource") as { Resource?: { stackTrace?: unknown } };
  if (Resource && typeof Resource.stackTrace === "function") {
    // No frames: the constructor then sends no source position either.
    Resource.stackTrace = (): unknown[] => [];
    done.push("Resource.stackTrace");
  }
  return done;
}
