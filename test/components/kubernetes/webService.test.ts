import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { resolveCommonArgs } from "../../../components/common";
import { WebService, parseImageReference, webServiceSettings } from "../../../components/kubernetes";
import { isSecretValue, revealSecrets } from "../../../stacks/pulumiMocks";
import { build, buildFailure, plainStrings } from "../harness";

const image = "ghcr.io/acme/api:1.4.2";
const digest = "sha256:" + "a".repeat(64);

describe("parseImageReference", () => {
  it("accepts tags other than latest and digests", () => {
    expect(parseImageReference("ghcr.io/acme/api:1.4.2")).toEqual({ repository: "ghcr.io/acme/api", tag: "1.4.2" });
    expect(parseImageReference(`nginx@${digest}`)).toEqual({ repository: "nginx", tag: undefined, digest });
    expect(parseImageReference(`localhost:5000/api:2@${digest}`)).toEqual({ repository: "localhost:5000/api", tag: "2", digest });
  });

  it.each([
    ["nginx", 'image "nginx" is not pinned: use a digest (repo@sha256:<64 hex>) or a tag other than latest (repo:1.2.3)'],
    ["nginx:latest", 'image "nginx:latest" is not pinned: use a digest (repo@sha256:<64 hex>) or a tag other than latest (repo:1.2.3)'],
    ["localhost:5000/api", 'image "localhost:5000/api" is not pinned: use a digest (repo@sha256:<64 hex>) or a tag other than latest (repo:1.2.3)'],
    ["nginx@sha256:abc", 'image "nginx@sha256:abc" has an invalid digest: use a digest (repo@sha256:<64 hex>) or a tag other than latest (repo:1.2.3)'],
  ])("rejects %s", (ref, message) => {
    expect(() => parseImageReference(ref)).toThrow(message);
  });
});

describe("webServiceSettings", () => {
  it("takes replicas and container resources from the environment and tier", () => {
    const dev = webServiceSettings("api", resolveCommonArgs({ team: "payments", environment: "dev" }), { namespace: "ns", image, port: 8080 });
    expect(dev).toEqual({
      image: { repository: "ghcr.io/acme/api", tag: "1.4.2" },
      port: 8080,
      replicas: 1,
      healthPath: "/healthz",
      resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "500m", memory: "512Mi" } },
      selector: { "app.kubernetes.io/name": "api", "app.kubernetes.io/instance": "api" },
    });
    const prod = webServiceSettings("api", resolveCommonArgs({ team: "payments", environment: "prod", tier: "medium" }), {
      namespace: "ns",
      image,
      port: 8080,
    });
    expect([prod.replicas, prod.resources]).toEqual([2, { requests: { cpu: "250m", memory: "512Mi" }, limits: { cpu: "1", memory: "1Gi" } }]);
  });
});

function service(environment: "dev" | "prod", extra: Record<string, unknown> = {}) {
  return () => {
    const w = new WebService("api", { team: "payments", environment, namespace: "payments-dev", image, port: 8080, ...extra });
    return { serviceName: w.serviceName, deploymentName: w.deploymentName };
  };
}

describe("WebService", () => {
  it("runs hardened, non-root containers with requests, limits and probes", async () => {
    const b = await build(service("dev"));
    const deployment = b.props("api-deployment");
    expect(deployment.metadata).toMatchObject({ name: "api", namespace: "payments-dev" });
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.selector).toEqual({ matchLabels: { "app.kubernetes.io/name": "api", "app.kubernetes.io/instance": "api" } });
    const pod = deployment.spec.template.spec;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext).toEqual({ runAsNonRoot: true, fsGroup: 10001, seccompProfile: { type: "RuntimeDefault" } });
    const [container] = pod.containers;
    expect(container).toMatchObject({
      name: "app",
      image,
      ports: [{ name: "http", containerPort: 8080 }],
      resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "500m", memory: "512Mi" } },
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 10001,
        runAsGroup: 10001,
        privileged: false,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" },
      },
      readinessProbe: { httpGet: { path: "/healthz", port: "http" } },
      livenessProbe: { httpGet: { path: "/healthz", port: "http" } },
    });
    expect(b.props("api-service").spec).toEqual({
      type: "ClusterIP",
      selector: { "app.kubernetes.io/name": "api", "app.kubernetes.io/instance": "api" },
      ports: [{ name: "http", port: 80, targetPort: "http" }],
    });
    expect(b.props("api-pdb").spec).toEqual({
      maxUnavailable: 1,
      selector: { matchLabels: { "app.kubernetes.io/name": "api", "app.kubernetes.io/instance": "api" } },
    });
    expect(b.outputs).toEqual({ serviceName: "api", deploymentName: "api" });
    const component = b.get("api");
    expect(component.type).toBe("paved:kubernetes:WebService");
    for (const child of ["api-deployment", "api-service", "api-pdb"]) {
      expect(b.get(child).parent).toBe(component.urn);
    }
  });

  it("runs two replicas in prod by default", async () => {
    const b = await build(service("prod"), "prod");
    expect(b.props("api-deployment").spec.replicas).toBe(2);
  });

  it("keeps secret environment values secret", async () => {
    const b = await build(service("dev", { env: { LOG_LEVEL: "info", DB_PASSWORD: pulumi.secret("hunter2-very-secret") } }));
    const deployment = b.props("api-deployment");
    expect(plainStrings(deployment)).not.toContain("hunter2-very-secret");
    // Pulumi marks the whole top-level `spec` secret when a value inside it is secret.
    expect(isSecretValue(deployment.spec)).toBe(true);
    const revealed = revealSecrets(deployment.spec) as any;
    expect(revealed.template.spec.containers[0].env).toEqual([
      { name: "LOG_LEVEL", value: "info" },
      { name: "DB_PASSWORD", value: "hunter2-very-secret" },
    ]);
  });

  it.each([
    [{ image: "nginx" }, 'image "nginx" is not pinned: use a digest (repo@sha256:<64 hex>) or a tag other than latest (repo:1.2.3)'],
    [{ port: 0 }, "port 0 is not an integer between 1 and 65535"],
    [{ replicas: 0 }, "replicas 0 is not an integer between 1 and 50"],
    [{ env: { "BAD-NAME": "x" } }, 'env key "BAD-NAME" is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)'],
    [{ healthPath: "healthz" }, 'healthPath "healthz" must start with "/"'],
    [{ namespace: "" }, "namespace is required"],
    [
      { namespace: "tns-" },
      `namespace "tns-" is not a DNS label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)`,
    ],
    [{ image: "nginx:latest" }, 'image "nginx:latest" is not pinned: use a digest (repo@sha256:<64 hex>) or a tag other than latest (repo:1.2.3)'],
  ])("rejects %o before creating anything", async (override, message) => {
    const failure = await buildFailure(service("dev", override));
    expect(failure).toEqual({ message, registered: [] });
  });

  it("refuses a single replica in prod", async () => {
    const failure = await buildFailure(service("prod", { replicas: 1 }));
    expect(failure).toEqual({ message: "replicas 1 is not an integer between 2 and 50", registered: [] });
  });
});
