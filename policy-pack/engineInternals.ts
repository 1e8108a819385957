/**
 * The parts of `@pulumi/policy` that its analyzer host uses to hand resources to policies
 * but whose type declarations it strips (`@internal`). Loaded once, typed here, so that
 * `evaluate` wraps props exactly as the engine does.
 *
 * Internals can change in any release: package.json pins `@pulumi/policy` to the minor
 * these were read from (`~1.21.0`), and loading refuses another minor.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
export interface PolicyInternals {
  deserializeProperties(struct: { toJavaScript(): Record<string, unknown> }, proxySecrets: boolean): Record<string, any>;
  getPulumiType(obj: unknown): string | undefined;
  isResourcePolicy(p: unknown): boolean;
  isStackPolicy(p: unknown): boolean;
  unknownCheckingProxy<T extends object>(value: T): T;
  UnknownValueError: new (...args: any[]) => Error;
}

/** The `@pulumi/policy` minor whose internals this file reads. */
export const POLICY_INTERNALS_MINOR = "1.21";

/** Throws unless `version` (as `@pulumi/policy`'s package.json spells it, `v1.21.0`) is of that minor. */
export function checkPolicyVersion(version: string): void {
  const [major, minor] = version.replace(/^v/, "").split(".");
  if (`${major}.${minor}` !== POLICY_INTERNALS_MINOR) {
    throw new Error(
      `@pulumi/policy ${version} is installed, but Paved's evaluate() reads internals of @pulumi/policy ${POLICY_INTERNALS_MINOR}.x: install the version package.json pins`,
    );
  }
}

checkPolicyVersion(require("@pulumi/policy/package.json").version);

const deserialize = require("@pulumi/policy/deserialize");
const policy = require("@pulumi/policy/policy");
const proxy = require("@pulumi/policy/proxy");

export const internals: PolicyInternals = {
  deserializeProperties: deserialize.deserializeProperties,
  getPulumiType: policy.getPulumiType,
  isResourcePolicy: policy.isResourcePolicy,
  isStackPolicy: policy.isStackPolicy,
  unknownCheckingProxy: proxy.unknownCheckingProxy,
  UnknownValueError: proxy.UnknownValueError,
};
