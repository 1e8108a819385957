/**
 * In-process policy evaluation: runs resource and stack policies exactly as the Pulumi
 * engine's analyzer host (`@pulumi/policy`'s server.js) calls them, without starting a
 * policy pack, a gRPC server or the Pulumi CLI.
 */
import {
  EnforcementLevel,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import type { PolicyConfigJSONSchema } from "@pulumi/policy/schema";
import { internals } from "./engineInternals";
import { policies as pavedPolicies } from "./policies";
import { policyResourceTypes } from "./policies/shared";

/** A policy of the pack (or any CrossGuard policy). */
export type Policy = ResourceValidationPolicy | StackValidationPolicy;

/** One resource to evaluate: what a program registered, or what a preview plans. */
export interface EvaluateResource {
  /** Pulumi type token, e.g. `aws:rds/instance:Instance`. */
  type: string;
  /** Logical name. */
  name: string;
  /** Inputs; secrets may be in Pulumi's wire form (they are unwrapped, as the engine does). */
  props: Record<string, unknown>;
  /** URN. Default: `urn:pulumi:<stack>::<project>::<type>::<name>`. */
  urn?: string;
  /** URN of the parent. Default: none. */
  parent?: string;
  /** Pulumi `protect` option. Default `false`. */
  protect?: boolean;
  /** URNs this resource depends on. Default: none. */
  dependencies?: string[];
}

/** A policy violation. */
export interface Violation {
  policyName: string;
  enforcementLevel: "advisory" | "mandatory";
  /** What is wrong, naming the property, the value and what is allowed. */
  message: string;
  /** What the policy checks. */
  description: string;
  resourceName?: string;
  resourceType?: string;
  urn?: string;
}

/** A policy's config: a level, or `{ enforcementLevel?, ...properties }` (as in Pulumi's policy config files). */
export type PolicyConfigValue = EnforcementLevel | ({ enforcementLevel?: EnforcementLevel } & Record<string, unknown>);

/**
 * Pack config in the format of `pulumi preview --policy-pack-config`: `all` sets every
 * policy's level; a policy's name sets its level or `{ enforcementLevel, ...config }`.
 */
export type PolicyPackConfig = { all?: EnforcementLevel } & Record<string, PolicyConfigValue | undefined>;

/** Options of `evaluate`. */
export interface EvaluateOptions {
  /** Pack config (levels and policy properties). Default: none (every policy at the pack's level). */
  config?: PolicyPackConfig;
  /** The pack's own level, used where neither config nor the policy sets one. Default `mandatory`. */
  enforcementLevel?: EnforcementLevel;
  /** Policies to run. Default: the Paved pack. */
  policies?: Policy[];
  /** Stack and project used to make URNs for resources that have none. Defaults `dev`, `paved`. */
  stack?: string;
  project?: string;
}

/** Bad pack config: an unknown policy, a bad level or a property of the wrong type. */
export class PolicyConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PolicyConfigError";
  }
}

class NotApplicableError extends Error {}

const { deserializeProperties, getPulumiType, isResourcePolicy, isStackPolicy, unknownCheckingProxy, UnknownValueError } = internals;

const LEVELS: EnforcementLevel[] = ["advisory", "mandatory", "remediate", "disabled"];

function checkLevel(where: string, level: unknown): EnforcementLevel {
  if (!LEVELS.includes(level as EnforcementLevel)) {
    throw new PolicyConfigError(`${where}: enforcementLevel ${JSON.stringify(level)} is not one of ${LEVELS.join(", ")}`);
  }
  return level as EnforcementLevel;
}

function typeOf(value: unknown): string {
  if (Array.isArray(value)) return "array";
  if (value === null) return "null";
  return typeof value === "number" && Number.isInteger(value) ? "integer" : typeof value;
}

function checkProperty(where: string, value: unknown, schema: PolicyConfigJSONSchema): void {
  const types = schema.type === undefined ? [] : Array.isArray(schema.type) ? schema.type : [schema.type];
  const actual = typeOf(value);
  if (types.length > 0 && !types.some((t) => t === actual || (t === "number" && actual === "integer"))) {
    throw new PolicyConfigError(`${where} is ${JSON.stringify(value)}: expected ${types.join(" or ")}`);
  }
  if (schema.enum && !schema.enum.some((e) => e === value)) {
    throw new PolicyConfigError(`${where} ${JSON.stringify(value)} is not one of ${schema.enum.join(", ")}`);
  }
}

/** One policy's resolved level and properties (schema defaults applied). */
export interface ResolvedPolicyConfig {
  enforcementLevel: EnforcementLevel;
  properties: Record<string, unknown>;
}

/**
 * Resolves pack config for `policies` the way the engine does: levels from the policy's
 * entry, else `all`, else the policy's own level, else the pack's; properties validated
 * against the policy's `configSchema` and completed with its defaults.
 */
export function resolvePolicyConfig(
  policies: Policy[],
  config: PolicyPackConfig = {},
  packLevel: EnforcementLevel = "mandatory",
): Map<string, ResolvedPolicyConfig> {
  const names = new Set(policies.map((p) => p.name));
  for (const key of Object.keys(config)) {
    if (key !== "all" && !names.has(key)) {
      throw new PolicyConfigError(`unknown policy "${key}" in config; the policies are: ${[...names].join(", ")}`);
    }
  }
  const all = config.all === undefined ? undefined : checkLevel("all", config.all);
  const resolved = new Map<string, ResolvedPolicyConfig>();
  for (const p of policies) {
    const entry = config[p.name];
    let level: EnforcementLevel | undefined;
    let given: Record<string, unknown> = {};
    if (typeof entry === "string") {
      level = checkLevel(p.name, entry);
    } else if (entry !== undefined) {
      const { enforcementLevel, ...rest } = entry;
      level = enforcementLevel === undefined ? undefined : checkLevel(p.name, enforcementLevel);
      given = rest;
    }
    const schema = p.configSchema?.properties ?? {};
    const properties: Record<string, unknown> = {};
    for (const [key, propSchema] of Object.entries(schema)) {
      if (propSchema.default !== undefined) properties[key] = structuredClone(propSchema.default);
    }
    for (const [key, value] of Object.entries(given)) {
      const propSchema = schema[key];
      if (!propSchema) {
        const known = Object.keys(schema);
        throw new PolicyConfigError(
          `${p.name}: unknown config property "${key}"${known.length ? `; it takes ${known.join(", ")}` : "; it takes none"}`,
        );
      }
      checkProperty(`${p.name}.${key}`, value, propSchema);
      properties[key] = value;
    }
    for (const key of p.configSchema?.required ?? []) {
      if (properties[key] === undefined) throw new PolicyConfigError(`${p.name}: config property "${key}" is required`);
    }
    resolved.set(p.name, { enforcementLevel: level ?? all ?? p.enforcementLevel ?? packLevel, properties });
  }
  return resolved;
}

interface Prepared {
  resource: EvaluateResource;
  urn: string;
  props: Record<string, any>;
}

function reportFor(
  p: Policy,
  level: EnforcementLevel,
  out: Violation[],
  resource?: Prepared,
  byUrn?: Map<string, Prepared>,
): ReportViolation {
  const enforcementLevel = level === "remediate" ? "mandatory" : (level as "advisory" | "mandatory");
  return (message: string, urn?: string) => {
    const target = urn !== undefined ? byUrn?.get(urn) : resource;
    out.push({
      policyName: p.name,
      enforcementLevel,
      message: message || p.description,
      description: p.description,
      resourceName: target?.resource.name,
      resourceType: target?.resource.type,
      urn: urn ?? resource?.urn,
    });
  };
}

function isTypeOf(type: string, resourceClass: unknown): boolean {
  const token = getPulumiType(resourceClass);
  if (token) return type === token;
  const isInstance = (resourceClass as { isInstance?: (o: unknown) => boolean }).isInstance;
  return typeof isInstance === "function" && isInstance({ __pulumiType: type }) === true;
}

function unknownDuringPreview(p: Policy, e: Error, out: Violation[], resource?: Prepared): void {
  out.push({
    policyName: p.name,
    enforcementLevel: "advisory",
    message: `can't run policy '${p.name}' during preview: ${e.message}`,
    description: p.description,
    resourceName: resource?.resource.name,
    resourceType: resource?.resource.type,
    urn: resource?.urn,
  });
}

function throwNotApplicable(reason?: string): never {
  throw new NotApplicableError(reason);
}

/**
 * Evaluates `resources` against the policies and returns every violation, resource
 * policies first (resource by resource, in policy order), then stack policies.
 */
export async function evaluate(resources: EvaluateResource[], options: EvaluateOptions = {}): Promise<Violation[]> {
  const policies = options.policies ?? pavedPolicies;
  const config = resolvePolicyConfig(policies, options.config, options.enforcementLevel ?? "mandatory");
  const stack = options.stack ?? "dev";
  const project = options.project ?? "paved";
  const prepared: Prepared[] = resources.map((resource) => ({
    resource,
    urn: resource.urn ?? `urn:pulumi:${stack}::${project}::${resource.type}::${resource.name}`,
    // As the engine hands props to analyzers: secrets unwrapped, unknowns as proxies.
    props: unknownCheckingProxy(deserializeProperties({ toJavaScript: () => resource.props } as never, false)),
  }));
  const byUrn = new Map(prepared.map((p) => [p.urn, p]));
  const out: Violation[] = [];

  const resourcePolicies = policies.filter(isResourcePolicy) as ResourceValidationPolicy[];
  const active = resourcePolicies
    .map((p) => ({ p, cfg: config.get(p.name)! }))
    .filter(({ p, cfg }) => cfg.enforcementLevel !== "disabled" && p.validateResource !== undefined)
    .map(({ p, cfg }) => {
      const validations = Array.isArray(p.validateResource) ? p.validateResource : [p.validateResource!];
      // The engine's fast path: a single typed validation only runs on its own type.
      const onlyType = validations.length === 1 ? getPulumiType(validations[0]) : undefined;
      const types = policyResourceTypes.get(p);
      return { p, cfg, validations, onlyType, types, getConfig: () => cfg.properties as any };
    });

  for (const r of prepared) {
    const opts = {
      protect: r.resource.protect === true,
      ignoreChanges: [],
      aliases: [],
      customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
      additionalSecretOutputs: [],
      ...(r.resource.parent ? { parent: r.resource.parent } : {}),
    };
    for (const { p, cfg, validations, onlyType, types, getConfig } of active) {
      if (onlyType !== undefined && onlyType !== r.resource.type) continue;
      if (types !== undefined && !types.has(r.resource.type)) continue;
      const report = reportFor(p, cfg.enforcementLevel, out, r);
      for (const validation of validations) {
        const args: ResourceValidationArgs = {
          type: r.resource.type,
          props: r.props,
          urn: r.urn,
          name: r.resource.name,
          opts,
          stackTags: new Map() as never,
          isType: (cls: unknown) => isTypeOf(r.resource.type, cls),
          asType: ((cls: unknown) => (isTypeOf(r.resource.type, cls) ? r.props : undefined)) as never,
          getConfig,
          notApplicable: throwNotApplicable,
        } as ResourceValidationArgs;
        try {
          const result = validation(args, report);
          // Await only what is asynchronous: a microtask per synchronous check adds up.
          if (result && typeof (result as Promise<void>).then === "function") await result;
        } catch (e) {
          if (e instanceof UnknownValueError) unknownDuringPreview(p, e, out, r);
          else if (!(e instanceof NotApplicableError)) throw new Error(`policy '${p.name}' failed on ${r.urn}: ${(e as Error).message}`);
        }
      }
    }
  }

  const stackPolicies = (policies.filter(isStackPolicy) as StackValidationPolicy[]).filter(
    (p) => config.get(p.name)!.enforcementLevel !== "disabled",
  );
  if (stackPolicies.length > 0) {
    const policyResources = prepared.map((r) => ({
      type: r.resource.type,
      props: r.props,
      urn: r.urn,
      name: r.resource.name,
      opts: { protect: r.resource.protect === true, ignoreChanges: [], aliases: [], customTimeouts: {}, additionalSecretOutputs: [] },
      dependencies: [] as unknown[],
      propertyDependencies: {},
      parent: undefined as unknown,
      isType: (cls: unknown) => isTypeOf(r.resource.type, cls),
      asType: (cls: unknown) => (isTypeOf(r.resource.type, cls) ? r.props : undefined),
    }));
    const resourceByUrn = new Map(policyResources.map((r) => [r.urn, r]));
    prepared.forEach((r, i) => {
      const pr = policyResources[i];
      if (r.resource.parent) pr.parent = resourceByUrn.get(r.resource.parent);
      pr.dependencies = (r.resource.dependencies ?? []).map((d) => resourceByUrn.get(d)).filter((d) => d !== undefined);
    });
    for (const p of stackPolicies) {
      const cfg = config.get(p.name)!;
      const token = getPulumiType(p.validateStack);
      if (token && !prepared.some((r) => r.resource.type === token)) continue;
      const args = {
        resources: policyResources,
        getConfig: () => cfg.properties,
        stackTags: new Map(),
        notApplicable: throwNotApplicable,
      } as unknown as StackValidationArgs;
      try {
        await p.validateStack(args, reportFor(p, cfg.enforcementLevel, out, undefined, byUrn));
      } catch (e) {
        if (e instanceof UnknownValueError) unknownDuringPreview(p, e, out);
        else if (!(e instanceof NotApplicableError)) throw new Error(`policy '${p.name}' failed on the stack: ${(e as Error).message}`);
      }
    }
  }
  return out;
}
