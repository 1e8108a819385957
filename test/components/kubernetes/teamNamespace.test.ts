import { describe, expect, it } from "vitest";
import { resolveCommonArgs } from "../../../components/common";
import { TeamNamespace, namespaceSettings } from "../../../components/kubernetes";
import { build, buildFailure } from "../harness";

const labels = {
  "paved.dev/team": "payments",
  "paved.dev/environment": "dev",
  "paved.dev/offering": "namespace",
  "app.kubernetes.io/managed-by": "paved",
};

describe("namespaceSettings", () => {
  it("sizes the quota and the container defaults from the tier", () => {
    const small = namespaceSettings("payments-dev", resolveCommonArgs({ team: "payments", environment: "dev" }), {});
    expect(small.quota).toEqual({ "requests.cpu": "2", "requests.memory": "4Gi", "limits.cpu": "4", "limits.memory": "8Gi", pods: "20" });
    expect(small.containerDefaults).toEqual({ default: { cpu: "500m", memory: "512Mi" }, defaultRequest: { cpu: "100m", memory: "128Mi" } });
    expect([small.namespaceName, small.group, small.protect]).toEqual(["payments-dev", "payments", false]);
    const large = namespaceSettings("x", resolveCommonArgs({ team: "payments", environment: "prod", tier: "large" }), {
      namespaceName: "pay",
      group: "idp:payments",
    });
    expect(large.quota).toEqual({ "requests.cpu": "32", "requests.memory": "64Gi", "limits.cpu": "64", "limits.memory": "128Gi", pods: "150" });
    expect([large.namespaceName, large.group, large.protect]).toEqual(["pay", "idp:payments", true]);
  });
});

describe("TeamNamespace", () => {
  it("creates a restricted namespace with quota, limits, default-deny ingress and the team's RoleBinding", async () => {
    const b = await build(() => ({ namespace: new TeamNamespace("payments-dev", { team: "payments", environment: "dev" }).namespace }));
    expect(b.props("payments-dev-namespace").metadata).toEqual({
      name: "payments-dev",
      labels: {
        ...labels,
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
      },
    });
    expect(b.get("payments-dev-namespace").protect).toBe(false);
    const meta = (name: string) => ({ name, namespace: "payments-dev", labels });
    expect(b.props("payments-dev-quota")).toMatchObject({
      metadata: meta("paved-quota"),
      spec: { hard: { "requests.cpu": "2", "requests.memory": "4Gi", "limits.cpu": "4", "limits.memory": "8Gi", pods: "20" } },
    });
    expect(b.props("payments-dev-limits")).toMatchObject({
      metadata: meta("paved-limits"),
      spec: { limits: [{ type: "Container", default: { cpu: "500m", memory: "512Mi" }, defaultRequest: { cpu: "100m", memory: "128Mi" } }] },
    });
    expect(b.props("payments-dev-default-deny-ingress")).toMatchObject({
      metadata: meta("default-deny-ingress"),
      spec: { podSelector: {}, policyTypes: ["Ingress"] },
    });
    expect(b.props("payments-dev-default-deny-ingress").spec.ingress).toBeUndefined();
    expect(b.props("payments-dev-allow-same-namespace")).toMatchObject({
      metadata: meta("allow-same-namespace"),
      spec: { podSelector: {}, policyTypes: ["Ingress"], ingress: [{ from: [{ podSelector: {} }] }] },
    });
    expect(b.props("payments-dev-edit")).toMatchObject({
      metadata: meta("payments-edit"),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "edit" },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "payments" }],
    });
    const component = b.get("payments-dev");
    expect(component.type).toBe("paved:kubernetes:TeamNamespace");
    for (const r of b.resources.filter((x) => x.type.startsWith("kubernetes:"))) {
      expect(r.parent).toBe(component.urn);
    }
    expect(b.outputs).toEqual({ namespace: "payments-dev" });
  });

  it("protects the namespace in prod", async () => {
    const b = await build(() => new TeamNamespace("payments-prod", { team: "payments", environment: "prod", tier: "medium" }), "prod");
    expect(b.get("payments-prod-namespace").protect).toBe(true);
    expect(b.props("payments-prod-quota").spec.hard.pods).toBe("50");
  });

  it.each([
    [
      { namespaceName: "Payments_Dev" },
      `namespaceName "Payments_Dev" is not a DNS label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)`,
    ],
    [{ group: "" }, 'group "" must be a non-empty string'],
    [{ tier: "xl" }, 'tier "xl" is not one of small, medium, large'],
  ])("rejects %o before creating anything", async (override, message) => {
    const failure = await buildFailure(() => new TeamNamespace("payments-dev", { team: "payments", environment: "dev", ...override } as never));
    expect(failure).toEqual({ message, registered: [] });
  });
});
