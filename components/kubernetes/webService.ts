import type * as k8s from "@pulumi/kubernetes";
// Deep imports: `@pulumi/kubernetes`'s index loads every API group (~0.1 s).
import * as appsv1 from "@pulumi/kubernetes/apps/v1";
import * as corev1 from "@pulumi/kubernetes/core/v1";
import * as policyv1 from "@pulumi/kubernetes/policy/v1";
import * as pulumi from "@pulumi/pulumi";
import { CommonArgs, PavedArgumentError, ResolvedCommonArgs, assertIntegerInRange, pavedLabels, resolveCommonArgs } from "../common";
import { componentTypes, tiers, webServiceDefaults } from "../guardrails";
import { assertDnsLabel } from "./naming";
import { CONTAINER_PORT, ImageReference, parseImageReference, replicasRange } from "./rules";

export { ImageReference, parseImageReference };

/** Arguments of a `WebService`. */
export interface WebServiceArgs extends CommonArgs {
  /** Namespace to run in (e.g. a `TeamNamespace`'s `namespace` output). Required. */
  namespace: pulumi.Input<string>;
  /** Container image, pinned: `repo@sha256:<digest>` or `repo:<tag>` with a tag other than `latest`. Required. */
  image: string;
  /** Port the container listens on, 1–65535. Required. */
  port: number;
  /** Pod replicas, from the environment's minimum (dev 1, staging 1, prod 2) to 50. Default: that minimum. */
  replicas?: number;
  /** Environment variables of the container; secret values stay secret. Default: none. */
  env?: Record<string, pulumi.Input<string>>;
  /** HTTP path of the readiness and liveness probes. Default `"/healthz"`. */
  healthPath?: string;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The container security context every WebService runs with (Pod Security `restricted`). */
export function containerSecurityContext(): k8s.types.input.core.v1.SecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: webServiceDefaults.runAsUser,
    runAsGroup: webServiceDefaults.runAsUser,
    privileged: false,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** Every setting of the web service that Paved decides. */
export interface WebServiceSettings {
  image: ImageReference;
  port: number;
  replicas: number;
  healthPath: string;
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  selector: Record<string, string>;
}

/** Validates the web service's arguments and derives every setting. */
export function webServiceSettings(
  name: string,
  common: ResolvedCommonArgs,
  args: Pick<WebServiceArgs, "namespace" | "image" | "port" | "replicas" | "env" | "healthPath">,
): WebServiceSettings {
  assertDnsLabel("name", name);
  if (args.namespace === undefined || args.namespace === null || args.namespace === "") {
    throw new PavedArgumentError("namespace", "namespace is required");
  }
  const image = parseImageReference(args.image);
  // A namespace known now (not an Output) must be one Kubernetes accepts.
  if (typeof args.namespace === "string") assertDnsLabel("namespace", args.namespace);
  assertIntegerInRange("port", args.port, CONTAINER_PORT.min, CONTAINER_PORT.max);
  const range = replicasRange(common.environment);
  const replicas = args.replicas ?? range.min;
  assertIntegerInRange("replicas", replicas, range.min, range.max);
  for (const key of Object.keys(args.env ?? {})) {
    if (!ENV_NAME.test(key)) {
      throw new PavedArgumentError("env", `env key ${JSON.stringify(key)} is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)`);
    }
  }
  const healthPath = args.healthPath ?? webServiceDefaults.healthPath;
  if (typeof healthPath !== "string" || !healthPath.startsWith("/")) {
    throw new PavedArgumentError("healthPath", `healthPath ${JSON.stringify(healthPath)} must start with "/"`);
  }
  const c = tiers[common.tier].kubernetes.container;
  return {
    image,
    port: args.port,
    replicas,
    healthPath,
    resources: {
      requests: { cpu: c.requests.cpu, memory: c.requests.memory },
      limits: { cpu: c.limits.cpu, memory: c.limits.memory },
    },
    selector: { "app.kubernetes.io/name": name, "app.kubernetes.io/instance": name },
  };
}

/**
 * A stateless HTTP service: a Deployment of hardened, non-root containers with requests,
 * limits and probes; a ClusterIP Service; and a PodDisruptionBudget. The Deployment and
 * Service are named after the component, so clients find them by a name they know.
 */
export class WebService extends pulumi.ComponentResource {
  /** Name of the Kubernetes Service. */
  public readonly serviceName: pulumi.Output<string>;
  /** Name of the Kubernetes Deployment. */
  public readonly deploymentName: pulumi.Output<string>;

  constructor(name: string, args: WebServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    const common = resolveCommonArgs(args);
    const settings = webServiceSettings(name, common, args);
    super(componentTypes["web-service"], name, {}, opts);

    const labels = { ...pavedLabels(common, "web-service"), ...settings.selector };
    const metadata = { name, namespace: args.namespace, labels };
    const probe = { httpGet: { path: settings.healthPath, port: "http" }, periodSeconds: 10, timeoutSeconds: 2 };
    const deployment = new appsv1.Deployment(
      `${name}-deployment`,
      {
        metadata,
        spec: {
          replicas: settings.replicas,
          selector: { matchLabels: settings.selector },
          template: {
            metadata: { labels },
            spec: {
              automountServiceAccountToken: false,
              securityContext: {
                runAsNonRoot: true,
                fsGroup: webServiceDefaults.runAsUser,
                seccompProfile: { type: "RuntimeDefault" },
              },
              containers: [
                {
                  name: "app",
                  image: args.image,
                  ports: [{ name: "http", containerPort: settings.port }],
                  env: Object.entries(args.env ?? {}).map(([envName, value]) => ({ name: envName, value })),
                  resources: settings.resources,
                  securityContext: containerSecurityContext(),
                  readinessProbe: { ...probe, initialDelaySeconds: 2 },
                  livenessProbe: { ...probe, initialDelaySeconds: 10, failureThreshold: 3 },
                  // The root filesystem is read-only: give the app a scratch directory.
                  volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
                },
              ],
              volumes: [{ name: "tmp", emptyDir: {} }],
            },
          },
        },
      },
      { parent: this },
    );
    const service = new corev1.Service(
      `${name}-service`,
      {
        metadata,
        spec: {
          type: "ClusterIP",
          selector: settings.selector,
          ports: [{ name: "http", port: webServiceDefaults.servicePort, targetPort: "http" }],
        },
      },
      { parent: this },
    );
    new policyv1.PodDisruptionBudget(
      `${name}-pdb`,
      // At most one pod down at a time during drains: never blocks a drain of a single replica.
      { metadata, spec: { maxUnavailable: 1, selector: { matchLabels: settings.selector } } },
      { parent: this },
    );

    this.serviceName = service.metadata.name;
    this.deploymentName = deployment.metadata.name;
    this.registerOutputs({ serviceName: this.serviceName, deploymentName: this.deploymentName });
  }
}
