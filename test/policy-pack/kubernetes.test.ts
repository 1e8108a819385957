import { describe, expect, it } from "vitest";
import { EvaluateResource, evaluate } from "../../policy-pack/api";

const labels = { "paved.dev/team": "payments", "paved.dev/environment": "dev" };

function deployment(container: Record<string, unknown> = {}, pod: Record<string, unknown> = {}): EvaluateResource {
  return {
    type: "kubernetes:apps/v1:Deployment",
    name: "api",
    props: {
      metadata: { name: "api", namespace: "payments-dev", labels },
      spec: {
        template: {
          spec: {
            securityContext: { runAsNonRoot: true },
            containers: [
              {
                name: "app",
                image: "ghcr.io/acme/api:1.4.2",
                securityContext: { allowPrivilegeEscalation: false, privileged: false },
                resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "500m", memory: "512Mi" } },
                ...container,
              },
            ],
            ...pod,
          },
        },
      },
    },
  };
}

async function messages(resources: EvaluateResource[], options = {}) {
  return (await evaluate(resources, options)).map((v) => `${v.policyName} [${v.enforcementLevel}] ${v.resourceName ?? "-"}: ${v.message}`);
}

describe("pod policies", () => {
  it("pass a hardened deployment", async () => {
    expect(await messages([deployment()])).toEqual([]);
  });

  it.each([
    [{ securityContext: { privileged: true } }, {}, 'k8s-no-privileged-containers [mandatory] api: container "app" is privileged'],
    [{ securityContext: { allowPrivilegeEscalation: true } }, {}, 'k8s-no-privileged-containers [mandatory] api: container "app" allows privilege escalation'],
    [{}, { securityContext: {} }, 'k8s-run-as-non-root [mandatory] api: container "app" does not set runAsNonRoot: true'],
    [{ securityContext: { runAsUser: 0 } }, {}, 'k8s-run-as-non-root [mandatory] api: container "app" sets runAsUser 0 (root)'],
    [
      { resources: { requests: { cpu: "1" } } },
      {},
      'k8s-resources-set [mandatory] api: container "app" does not set resources requests.memory, limits.cpu, limits.memory',
    ],
    [{ image: "nginx" }, {}, 'k8s-image-pinned [mandatory] api: container "app" image "nginx" has no tag (it means latest)'],
    [{ image: "nginx:latest" }, {}, 'k8s-image-pinned [mandatory] api: container "app" image "nginx:latest" uses the latest tag'],
    [{}, { hostNetwork: true, hostPID: true }, "k8s-no-host-namespaces [mandatory] api: pod sets hostNetwork: true, hostPID: true"],
  ])("flag container %o, pod %o", async (container, pod, message) => {
    expect(await messages([deployment(container, pod)])).toEqual([message]);
  });

  it("inspect init containers and bare pods, CronJobs too", async () => {
    const pod: EvaluateResource = {
      type: "kubernetes:core/v1:Pod",
      name: "debug",
      props: {
        spec: {
          securityContext: { runAsNonRoot: true },
          initContainers: [
            {
              name: "init",
              image: "busybox@sha256:" + "0".repeat(64),
              resources: { requests: { cpu: "1", memory: "1Gi" }, limits: { cpu: "1", memory: "1Gi" } },
              securityContext: { privileged: true },
            },
          ],
          containers: [],
        },
      },
    };
    expect(await messages([pod])).toEqual(['k8s-no-privileged-containers [mandatory] debug: initContainer "init" is privileged']);
    const cron: EvaluateResource = {
      type: "kubernetes:batch/v1:CronJob",
      name: "nightly",
      props: { spec: { jobTemplate: { spec: { template: { spec: { hostIPC: true, securityContext: { runAsNonRoot: true }, containers: [] } } } } } },
    };
    expect(await messages([cron])).toEqual(["k8s-no-host-namespaces [mandatory] nightly: pod sets hostIPC: true"]);
  });
});

describe("namespace policies", () => {
  const ns = (l: Record<string, string>): EvaluateResource => ({
    type: "kubernetes:core/v1:Namespace",
    name: "payments-dev",
    urn: "urn:pulumi:dev::paved::kubernetes:core/v1:Namespace::payments-dev",
    props: { metadata: { name: "payments-dev", labels: { ...labels, ...l } } },
  });
  const quota: EvaluateResource = {
    type: "kubernetes:core/v1:ResourceQuota",
    name: "quota",
    props: { metadata: { name: "paved-quota", namespace: "payments-dev" }, spec: { hard: { pods: "10" } } },
  };

  it("pass a restricted namespace with a quota", async () => {
    expect(await messages([ns({ "pod-security.kubernetes.io/enforce": "restricted" }), quota])).toEqual([]);
  });
  it("flag a namespace without Pod Security enforcement or quota", async () => {
    expect(await messages([ns({ "pod-security.kubernetes.io/enforce": "privileged" })])).toEqual([
      'k8s-namespace-pod-security [mandatory] payments-dev: label pod-security.kubernetes.io/enforce is "privileged": it must be one of restricted',
      "k8s-namespace-resource-quota [mandatory] payments-dev: namespace payments-dev has no ResourceQuota",
    ]);
    expect(await messages([ns({}), quota], { config: { "k8s-namespace-pod-security": { allowedLevels: ["restricted", "baseline"] } } })).toEqual([
      "k8s-namespace-pod-security [mandatory] payments-dev: label pod-security.kubernetes.io/enforce is unset: it must be one of restricted, baseline",
    ]);
  });
  it("require protect on namespaces labelled prod", async () => {
    const prod = ns({ "pod-security.kubernetes.io/enforce": "restricted", "paved.dev/environment": "prod" });
    expect(await messages([prod, quota])).toEqual([
      "stateful-resources-protected [mandatory] payments-dev: kubernetes:core/v1:Namespace holds data and is not protected in prod: set the protect resource option",
    ]);
    expect(await messages([{ ...prod, protect: true }, quota])).toEqual([]);
  });
});
