/**
 * The parts of `@pulumi/policy` that its analyzer host uses to hand resources to policies
 * but whose type declarations it strips (`@internal`). Loaded once, typed here, so that
 * `evaluate` wraps props exactly as the engine does.
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
