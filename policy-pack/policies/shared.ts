/**
 * What the policies share: how a resource's environment is found, how limits are read
 * from config, and how values are shown in messages.
 */
import type { PolicyConfigJSONSchema } from "@pulumi/policy/schema";
import { ENVIRONMENTS, Environment, LABEL_KEYS, TAG_KEYS } from "../../components/guardrails";

/**
 * The resource types a multi-type policy can report on. `evaluate` skips a policy for
 * other types (what the engine's fast path does for single-type policies); the engine,
 * which does not know this table, simply runs the policy, which then does nothing.
 */
export const policyResourceTypes = new WeakMap<object, ReadonlySet<string>>();

/** Records that `policy` only reports on `types`, and returns it. */
export function appliesTo<P extends object>(types: readonly string[], policy: P): P {
  policyResourceTypes.set(policy, new Set(types));
  return policy;
}

/** The config property every environment-dependent policy accepts. */
export const environmentConfigProperty: Record<"environment", PolicyConfigJSONSchema> = {
  environment: {
    type: "string",
    enum: [...ENVIRONMENTS],
    description:
      "Environment of resources that carry no paved:environment tag (AWS) or paved.dev/environment label (Kubernetes). Unset: such resources are held to prod's rules.",
  },
};

/** The environment of a resource, and where it came from. */
export interface ResolvedEnvironment {
  environment: Environment;
  source: "tag" | "label" | "config" | "default";
}

function isEnvironment(value: unknown): value is Environment {
  return typeof value === "string" && (ENVIRONMENTS as readonly string[]).includes(value);
}

/**
 * The environment of a resource: its `paved:environment` tag (AWS) or
 * `paved.dev/environment` label (Kubernetes), else the policy's `environment` config, else
 * prod (the strictest: an unlabelled resource must not slip past prod's rules).
 */
export function environmentOf(props: Record<string, any>, config: { environment?: string }): ResolvedEnvironment {
  const tag = props?.tags?.[TAG_KEYS.environment];
  if (isEnvironment(tag)) return { environment: tag, source: "tag" };
  const label = props?.metadata?.labels?.[LABEL_KEYS.environment];
  if (isEnvironment(label)) return { environment: label, source: "label" };
  if (isEnvironment(config.environment)) return { environment: config.environment, source: "config" };
  return { environment: "prod", source: "default" };
}

/** ` (environment prod)` or, when it was assumed, ` (no environment tag: held to prod's rules)`. */
export function environmentNote(env: ResolvedEnvironment): string {
  return env.source === "default" ? " (no paved:environment tag: held to prod's rules)" : ` in ${env.environment}`;
}

/** A value as it appears in a message: strings quoted, the rest as JSON. */
export function show(value: unknown): string {
  return value === undefined ? "unset" : JSON.stringify(value);
}

/** A per-environment record of numbers, as a JSON-schema config property with a default. */
export function perEnvironmentNumbers(description: string, defaults: Record<Environment, number>): PolicyConfigJSONSchema {
  return {
    type: "object",
    description,
    properties: Object.fromEntries(ENVIRONMENTS.map((e) => [e, { type: "number" as const }])),
    default: defaults,
  };
}

/** The containers' pod spec of a Kubernetes workload's props, or undefined for other kinds. */
export function podSpecOf(type: string, props: Record<string, any>): Record<string, any> | undefined {
  switch (type) {
    case "kubernetes:core/v1:Pod":
      return props.spec;
    case "kubernetes:apps/v1:Deployment":
    case "kubernetes:apps/v1:StatefulSet":
    case "kubernetes:apps/v1:DaemonSet":
    case "kubernetes:apps/v1:ReplicaSet":
    case "kubernetes:batch/v1:Job":
    case "kubernetes:core/v1:ReplicationController":
      return props.spec?.template?.spec;
    case "kubernetes:batch/v1:CronJob":
      return props.spec?.jobTemplate?.spec?.template?.spec;
    default:
      return undefined;
  }
}

/** Every workload type whose pod spec the Kubernetes policies inspect. */
export const workloadTypes = [
  "kubernetes:core/v1:Pod",
  "kubernetes:apps/v1:Deployment",
  "kubernetes:apps/v1:StatefulSet",
  "kubernetes:apps/v1:DaemonSet",
  "kubernetes:apps/v1:ReplicaSet",
  "kubernetes:batch/v1:Job",
  "kubernetes:batch/v1:CronJob",
  "kubernetes:core/v1:ReplicationController",
] as const;

/** Containers and init containers of a pod spec, each with a label for messages. */
export function containersOf(spec: Record<string, any> | undefined): { label: string; container: Record<string, any> }[] {
  if (!spec) return [];
  const out: { label: string; container: Record<string, any> }[] = [];
  for (const key of ["initContainers", "containers", "ephemeralContainers"] as const) {
    const list = spec[key];
    if (Array.isArray(list)) {
      for (const c of list) out.push({ label: `${key === "containers" ? "container" : key.replace(/s$/, "")} "${c?.name ?? "?"}"`, container: c ?? {} });
    }
  }
  return out;
}
