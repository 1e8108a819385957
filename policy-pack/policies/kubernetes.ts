/** Policies on Kubernetes resources: pod security and namespace guardrails. */
import { ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { podSecurityLevel } from "../../components/guardrails";
import { appliesTo, containersOf, podSpecOf, show, workloadTypes } from "./shared";

/** Runs `check` on the pod spec of workloads only. */
function validatePodSpec(check: (spec: Record<string, any>, report: ReportViolation, args: ResourceValidationArgs) => void) {
  return (args: ResourceValidationArgs, report: ReportViolation) => {
    const spec = podSpecOf(args.type, args.props);
    if (spec) check(spec, report, args);
  };
}

export const k8sNoPrivilegedContainers: ResourceValidationPolicy = appliesTo(workloadTypes, {
  name: "k8s-no-privileged-containers",
  description: "Containers must not run privileged or allow privilege escalation.",
  configSchema: { properties: {} },
  validateResource: validatePodSpec((spec, report) => {
    for (const { label, container } of containersOf(spec)) {
      if (container.securityContext?.privileged === true) report(`${label} is privileged`);
      if (container.securityContext?.allowPrivilegeEscalation === true) report(`${label} allows privilege escalation`);
    }
  }),
});

export const k8sRunAsNonRoot: ResourceValidationPolicy = appliesTo(workloadTypes, {
  name: "k8s-run-as-non-root",
  description: "Containers must run as a non-root user (runAsNonRoot on the pod or the container, and no runAsUser 0).",
  configSchema: { properties: {} },
  validateResource: validatePodSpec((spec, report) => {
    const podNonRoot = spec.securityContext?.runAsNonRoot === true;
    for (const { label, container } of containersOf(spec)) {
      const sc = container.securityContext ?? {};
      const nonRoot = sc.runAsNonRoot ?? podNonRoot;
      const user = sc.runAsUser ?? spec.securityContext?.runAsUser;
      if (nonRoot !== true) report(`${label} does not set runAsNonRoot: true`);
      else if (user === 0) report(`${label} sets runAsUser 0 (root)`);
    }
  }),
});

export const k8sResourcesSet: ResourceValidationPolicy = appliesTo(workloadTypes, {
  name: "k8s-resources-set",
  description: "Containers must set CPU and memory requests and limits.",
  configSchema: { properties: {} },
  validateResource: validatePodSpec((spec, report) => {
    for (const { label, container } of containersOf(spec)) {
      const missing: string[] = [];
      for (const kind of ["requests", "limits"] as const) {
        for (const resource of ["cpu", "memory"] as const) {
          if (container.resources?.[kind]?.[resource] === undefined) missing.push(`${kind}.${resource}`);
        }
      }
      if (missing.length > 0) report(`${label} does not set resources ${missing.join(", ")}`);
    }
  }),
});

/** Why `image` is not pinned, or undefined when it is. */
export function unpinnedImageProblem(image: unknown): string | undefined {
  if (typeof image !== "string" || image === "") return "has no image";
  if (/@sha256:[a-f0-9]{64}$/.test(image)) return undefined;
  const colon = image.lastIndexOf(":");
  if (colon <= image.lastIndexOf("/")) return `image ${show(image)} has no tag (it means latest)`;
  if (image.slice(colon + 1) === "latest") return `image ${show(image)} uses the latest tag`;
  return undefined;
}

export const k8sImagePinned: ResourceValidationPolicy = appliesTo(workloadTypes, {
  name: "k8s-image-pinned",
  description: "Container images must be pinned to a digest or a tag other than latest.",
  configSchema: { properties: {} },
  validateResource: validatePodSpec((spec, report) => {
    for (const { label, container } of containersOf(spec)) {
      const problem = unpinnedImageProblem(container.image);
      if (problem) report(`${label} ${problem}`);
    }
  }),
});

export const k8sNoHostNamespaces: ResourceValidationPolicy = appliesTo(workloadTypes, {
  name: "k8s-no-host-namespaces",
  description: "Pods must not share the host's network, PID or IPC namespace.",
  configSchema: { properties: {} },
  validateResource: validatePodSpec((spec, report) => {
    const shared = (["hostNetwork", "hostPID", "hostIPC"] as const).filter((k) => spec[k] === true);
    if (shared.length > 0) report(`pod sets ${shared.map((k) => `${k}: true`).join(", ")}`);
  }),
});

const NAMESPACE = "kubernetes:core/v1:Namespace";

export const k8sNamespacePodSecurity: ResourceValidationPolicy = appliesTo([NAMESPACE], {
  name: "k8s-namespace-pod-security",
  description: "Namespaces must enforce a Pod Security level through the pod-security.kubernetes.io/enforce label.",
  configSchema: {
    properties: {
      allowedLevels: { type: "array", items: { type: "string" }, description: "Pod Security levels a namespace may enforce.", default: [podSecurityLevel] },
    },
  },
  validateResource: (args, report) => {
    if (args.type !== NAMESPACE) return;
    const allowed = args.getConfig<{ allowedLevels: string[] }>().allowedLevels;
    const level = args.props.metadata?.labels?.["pod-security.kubernetes.io/enforce"];
    if (!allowed.includes(level)) {
      report(`label pod-security.kubernetes.io/enforce is ${show(level)}: it must be one of ${allowed.join(", ")}`);
    }
  },
});

export const k8sNamespaceResourceQuota: StackValidationPolicy = {
  name: "k8s-namespace-resource-quota",
  description: "Every namespace in the stack must have a ResourceQuota.",
  configSchema: { properties: {} },
  validateStack: (args, report) => {
    const namespaces = args.resources.filter((r) => r.type === NAMESPACE);
    if (namespaces.length === 0) return;
    const coveredNames = new Set<string>();
    const coveredUrns = new Set<string>();
    for (const q of args.resources) {
      if (q.type !== "kubernetes:core/v1:ResourceQuota") continue;
      const target = q.props.metadata?.namespace;
      if (typeof target === "string") coveredNames.add(target);
      for (const d of q.dependencies) coveredUrns.add(d.urn);
    }
    for (const ns of namespaces) {
      const nsName = ns.props.metadata?.name;
      if (!coveredNames.has(nsName) && !coveredUrns.has(ns.urn)) report(`namespace ${nsName ?? ns.name} has no ResourceQuota`, ns.urn);
    }
  },
};

export const kubernetesPolicies = [
  k8sNoPrivilegedContainers,
  k8sRunAsNonRoot,
  k8sResourcesSet,
  k8sImagePinned,
  k8sNoHostNamespaces,
  k8sNamespacePodSecurity,
  k8sNamespaceResourceQuota,
];
