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
import { AnalyzerPolicyConfig, PolicyConfigParseError, cliValidationLine, parsePolicyPackConfig, reconcilePolicyPackConfig } from "./engineConfig";
import { internals } from "./engineInternals";
import { PACK_ENFORCEMENT_LEVEL, PACK_NAME, packVersion } from "./manifest";
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
  /** The pack named in "can't run" advisories and config errors. Default: the Paved pack (`paved`, its version). */
  pack?: { name: string; version: string };
}

/**
 * Bad pack config. What the Pulumi CLI rejects (see `engineConfig.ts`) is worded as the CLI
 * words it; Paved is stricter in two ways the CLI is not (it ignores both): a policy the
 * pack does not have, and a property a policy does not take, are errors (typos).
 */
export class PolicyConfigError extends Error {
  /** Each problem; the CLI's validation errors as `<policy>: <field>: <description>`. */
  readonly issues: string[];
  constructor(message: string, issues: string[] = [message]) {
    super(message);
    this.name = "PolicyConfigError";
    this.issues = issues;
  }
}

class NotApplicableError extends Error {}

const { deserializeProperties, getPulumiType, isResourcePolicy, isStackPolicy, unknownCheckingProxy, UnknownValueError } = internals;

let pavedPack: { name: string; version: string } | undefined;

/** The Paved pack's name and version, as the engine shows them. */
export function pavedPackInfo(): { name: string; version: string } {
  pavedPack ??= { name: PACK_NAME, version: packVersion() };
  return pavedPack;
}

/** One policy's resolved level and properties (schema defaults applied). */
export interface ResolvedPolicyConfig {
  enforcementLevel: EnforcementLevel;
  properties: Record<string, unknown>;
}

/**
 * Resolves pack config for `policies` as the Pulumi CLI does before it configures the pack
 * (`reconcilePolicyPackConfig`): each policy at its own level or the pack's, with its schema
 * defaults; `all`, then the policy's entry, on top; then each policy's properties validated
 * against its `configSchema`. Throws `PolicyConfigError` where the CLI would stop.
 */
export function resolvePolicyConfig(
  policies: Policy[],
  config: PolicyPackConfig = {},
  packLevel: EnforcementLevel = "mandatory",
  pack: { name: string; version: string } = pavedPackInfo(),
): Map<string, ResolvedPolicyConfig> {
  let parsed: Record<string, AnalyzerPolicyConfig>;
  try {
    parsed = parsePolicyPackConfig(config);
  } catch (err) {
    if (err instanceof PolicyConfigParseError) throw new PolicyConfigError(err.message);
    throw err;
  }
  const infos = policies.map((p) => ({ name: p.name, enforcementLevel: p.enforcementLevel ?? packLevel, configSchema: p.configSchema as never }));
  const { config: reconciled, errors } = reconcilePolicyPackConfig(infos, undefined, parsed);
  if (errors.length > 0) throw new PolicyConfigError(errors.map((e) => cliValidationLine(pack.name, pack.version, e)).join("\n"), errors);
  // Paved's stricter checks (the CLI passes both on silently).
  const names = new Set(policies.map((p) => p.name));
  for (const key of Object.keys(config)) {
    if (key !== "all" && !names.has(key)) {
      throw new PolicyConfigError(`unknown policy "${key}" in config; the policies are: ${[...names].join(", ")}`);
    }
  }
  const resolved = new Map<string, ResolvedPolicyConfig>();
  for (const p of policies) {
    const known = Object.keys(p.configSchema?.properties ?? {});
    for (const key of Object.keys(parsed[p.name]?.properties ?? {})) {
      if (!known.includes(key)) {
        throw new PolicyConfigError(`${p.name}: unknown config property "${key}"${known.length ? `; it takes ${known.join(", ")}` : "; it takes none"}`);
      }
    }
    const r = reconciled.get(p.name)!;
    resolved.set(p.name, { enforcementLevel: r.enforcementLevel ?? packLevel, properties: r.properties ?? {} });
  }
  return resolved;
}

/**
 * The text the engine shows for a violation (its `AnalyzeDiagnostic.message`): the
 * policy's description, then the message on the next line; a "can't run ... during
 * preview" advisory alone, as the analyzer host reports it.
 */
export function engineText(v: Violation): string {
  if (v.message.startsWith(`can't run policy '${v.policyName}' from policy pack `)) return v.message;
  return v.message === v.description ? v.description : `${v.description}\n${v.message}`;
}

interface Prepared {
  resource: EvaluateResource;
  urn: string;
  props: Record<string, any>;
}

function reportFor(p: Policy, level: EnforcementLevel, out: Violation[], resource?: Prepared, byUrn?: Map<string, Prepared>): ReportViolation {
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

function unknownDuringPreview(p: Policy, e: Error, out: Violation[], pack: { name: string; version: string }, resource?: Prepared): void {
  // As `@pulumi/policy`'s analyzer host words it (server.js, makeAnalyzeRpcFun).
  out.push({
    policyName: p.name,
    enforcementLevel: "advisory",
    message: `can't run policy '${p.name}' from policy pack '${pack.name}@v${pack.version}' during preview: ${e.message}`,
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
  const pack = options.pack ?? pavedPackInfo();
  const config = resolvePolicyConfig(policies, options.config, options.enforcementLevel ?? PACK_ENFORCEMENT_LEVEL, pack);
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
          if (e instanceof UnknownValueError) unknownDuringPreview(p, e, out, pack, r);
          else if (!(e instanceof NotApplicableError)) throw new Error(`policy '${p.name}' failed on ${r.urn}: ${(e as Error).message}`);
        }
      }
    }
  }

  const stackPolicies = (policies.filter(isStackPolicy) as StackValidationPolicy[]).filter((p) => config.get(p.name)!.enforcementLevel !== "disabled");
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
        if (e instanceof UnknownValueError) unknownDuringPreview(p, e, out, pack);
        else if (!(e instanceof NotApplicableError)) throw new Error(`policy '${p.name}' failed on the stack: ${(e as Error).message}`);
      }
    }
  }
  return out;
}
