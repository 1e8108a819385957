// Deep imports: `@pulumi/kubernetes`'s index loads every API group (~0.1 s).
import * as corev1 from "@pulumi/kubernetes/core/v1";
import * as networkingv1 from "@pulumi/kubernetes/networking/v1";
import * as rbacv1 from "@pulumi/kubernetes/rbac/v1";
import * as pulumi from "@pulumi/pulumi";
import { CommonArgs, ResolvedCommonArgs, assertNonEmptyString, pavedLabels, resolveCommonArgs } from "../common";
import { componentTypes, environments, podSecurityLevel, teamNamespaceRole, tiers } from "../guardrails";
import { assertDnsLabel } from "./naming";

/** Arguments of a `TeamNamespace`. */
export interface TeamNamespaceArgs extends CommonArgs {
  /** Name of the namespace: a DNS label. Default: the component's name. */
  namespaceName?: string;
  /** The identity-provider group bound to the `edit` ClusterRole in the namespace. Default: the team's name. */
  group?: string;
}

/** Every setting of the namespace that Paved decides. */
export interface NamespaceSettings {
  namespaceName: string;
  group: string;
  labels: Record<string, string>;
  quota: Record<string, string>;
  containerDefaults: { default: Record<string, string>; defaultRequest: Record<string, string> };
  protect: boolean;
}

/** Validates the namespace's arguments and derives every setting. */
export function namespaceSettings(name: string, common: ResolvedCommonArgs, args: Pick<TeamNamespaceArgs, "namespaceName" | "group">): NamespaceSettings {
  const namespaceName = args.namespaceName ?? name;
  assertDnsLabel("namespaceName", namespaceName);
  const group = args.group ?? common.team;
  assertNonEmptyString("group", group);
  const k = tiers[common.tier].kubernetes;
  return {
    namespaceName,
    group,
    labels: {
      ...pavedLabels(common, "namespace"),
      // Pod Security Admission: refuse, audit and warn on anything below `restricted`.
      "pod-security.kubernetes.io/enforce": podSecurityLevel,
      "pod-security.kubernetes.io/enforce-version": "latest",
      "pod-security.kubernetes.io/audit": podSecurityLevel,
      "pod-security.kubernetes.io/warn": podSecurityLevel,
    },
    quota: {
      "requests.cpu": k.quota.requests.cpu,
      "requests.memory": k.quota.requests.memory,
      "limits.cpu": k.quota.limits.cpu,
      "limits.memory": k.quota.limits.memory,
      pods: String(k.quota.pods),
    },
    containerDefaults: {
      default: { cpu: k.container.limits.cpu, memory: k.container.limits.memory },
      defaultRequest: { cpu: k.container.requests.cpu, memory: k.container.requests.memory },
    },
    protect: environments[common.environment].protect,
  };
}

/**
 * A team's Kubernetes namespace: Pod Security `restricted`, a ResourceQuota and LimitRange
 * from the tier, ingress denied by default but allowed within the namespace, and the
 * team's group bound to `edit`. Objects inside the namespace have fixed names (one of
 * each per namespace), so that other tools can find them.
 */
export class TeamNamespace extends pulumi.ComponentResource {
  /** Name of the namespace. */
  public readonly namespace: pulumi.Output<string>;

  constructor(name: string, args: TeamNamespaceArgs, opts?: pulumi.ComponentResourceOptions) {
    const common = resolveCommonArgs(args);
    const settings = namespaceSettings(name, common, args);
    super(componentTypes.namespace, name, {}, opts);

    const labels = pavedLabels(common, "namespace");
    const ns = new corev1.Namespace(
      `${name}-namespace`,
      { metadata: { name: settings.namespaceName, labels: settings.labels } },
      { parent: this, protect: settings.protect },
    );
    const namespace = ns.metadata.name;
    const meta = (objectName: string) => ({ name: objectName, namespace, labels });
    new corev1.ResourceQuota(`${name}-quota`, { metadata: meta("paved-quota"), spec: { hard: settings.quota } }, { parent: this });
    new corev1.LimitRange(
      `${name}-limits`,
      {
        metadata: meta("paved-limits"),
        spec: { limits: [{ type: "Container", ...settings.containerDefaults }] },
      },
      { parent: this },
    );
    new networkingv1.NetworkPolicy(
      `${name}-default-deny-ingress`,
      { metadata: meta("default-deny-ingress"), spec: { podSelector: {}, policyTypes: ["Ingress"] } },
      { parent: this },
    );
    new networkingv1.NetworkPolicy(
      `${name}-allow-same-namespace`,
      {
        metadata: meta("allow-same-namespace"),
        spec: { podSelector: {}, policyTypes: ["Ingress"], ingress: [{ from: [{ podSelector: {} }] }] },
      },
      { parent: this },
    );
    new rbacv1.RoleBinding(
      `${name}-edit`,
      {
        metadata: meta(`${common.team}-${teamNamespaceRole}`),
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: teamNamespaceRole },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: settings.group }],
      },
      { parent: this },
    );

    this.namespace = namespace;
    this.registerOutputs({ namespace: this.namespace });
  }
}
