/**
 * Runs a Pulumi program function under Pulumi's mocks and returns every resource it
 * registered, with the facts a policy needs: type, name, URN, parent URN, `protect`,
 * dependencies and the inputs as the engine would see them. Nothing is provisioned and no
 * Pulumi CLI or cloud credentials are needed.
 *
 * The mocks answer with deterministic outputs (the same program gives the same ids, ARNs
 * and endpoints every time), so tests and the simulate engine can assert exact values.
 */
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";

/** Pulumi's signature key marking a secret value in wire form. */
export const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
/** The signature value of a secret. */
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** One resource as the program registered it. */
export interface RegisteredResource {
  /** Pulumi type token, e.g. `aws:rds/instance:Instance`. */
  type: string;
  /** The logical name given to the constructor. */
  name: string;
  /** The URN the (mock) engine assigned. */
  urn: string;
  /** URN of the parent resource; absent only for the root stack. */
  parent?: string;
  /** Whether the resource was registered with `protect: true`. */
  protect: boolean;
  /** URNs the resource depends on (explicit `dependsOn` and input dependencies). */
  dependencies: string[];
  /** `true` for a provider's resource, `false` for a component. */
  custom: boolean;
  /** The inputs, as the engine receives them; secrets keep their wire form (see `isSecretValue`). */
  props: Record<string, unknown>;
  /** The outputs the mock answered with (for custom resources). */
  outputs: Record<string, unknown>;
  /** The id the mock answered with (custom resources only). */
  id?: string;
}

/** Options of `runUnderMocks`. */
export interface RunUnderMocksOptions {
  /** Pulumi project name. Default `paved`. */
  project?: string;
  /** Pulumi stack name. Default `dev`. */
  stack?: string;
  /**
   * Stack configuration, as `key: value` with keys `<namespace>:<key>` (a bare key gets the
   * project's namespace). Values are strings, as in `Pulumi.<stack>.yaml`. Default: none.
   */
  config?: Record<string, string>;
  /** Config keys (after namespacing) whose values are secrets. Default: none. */
  secretKeys?: string[];
  /**
   * Run as a preview. Default `false`: under `preview=true`, unknown values make `apply`
   * wait forever, so tests should leave it off.
   */
  preview?: boolean;
}

/** What `runUnderMocks` returns. */
export interface MockRunResult<T> {
  /** Every registered resource, in the order the engine received them, including the root stack. */
  resources: RegisteredResource[];
  /** The program's return value, resolved (Outputs unwrapped; secrets kept in wire form). */
  outputs: T;
}

/** True when `value` is a secret in Pulumi's wire form. */
export function isSecretValue(value: unknown): value is { value: unknown } {
  return typeof value === "object" && value !== null && (value as Record<string, unknown>)[SECRET_SIG_KEY] === SECRET_SIG;
}

/** Replaces every wire-form secret in `value` by its plain value (deeply). */
export function revealSecrets(value: unknown): unknown {
  if (isSecretValue(value)) {
    return revealSecrets(value.value);
  }
  if (Array.isArray(value)) {
    return value.map(revealSecrets);
  }
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = revealSecrets(v);
    }
    return out;
  }
  return value;
}

function shortHash(...parts: string[]): string {
  return createHash("sha256").update(parts.join("\u0000")).digest("hex").slice(0, 8);
}

const REGION = "us-east-1";
const ACCOUNT = "123456789012";

/**
 * Deterministic outputs for a resource, from its type, name and inputs: the inputs, plus
 * the output properties that programs commonly read (ARNs, endpoints, URLs, generated
 * names). Used by `runUnderMocks` and by the simulate engine.
 */
export function mockResourceOutputs(type: string, name: string, inputs: Record<string, unknown>): { id: string; state: Record<string, unknown> } {
  const h = shortHash(type, name);
  const plain = inputs;
  switch (type) {
    case "aws:rds/instance:Instance": {
      const identifier = (plain.identifier as string | undefined) ?? `${name}-${h}`;
      const address = `${identifier}.c${h}.${REGION}.rds.amazonaws.com`;
      const port = 5432;
      const manage = revealSecrets(plain.manageMasterUserPassword) === true;
      return {
        id: identifier,
        state: {
          ...inputs,
          identifier,
          address,
          port,
          endpoint: `${address}:${port}`,
          arn: `arn:aws:rds:${REGION}:${ACCOUNT}:db:${identifier}`,
          masterUserSecrets: manage
            ? [
                {
                  secretArn: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:rds!db-${h}`,
                  secretStatus: "active",
                  kmsKeyId: `arn:aws:kms:${REGION}:${ACCOUNT}:key/aws-secretsmanager`,
                },
              ]
            : [],
        },
      };
    }
    case "aws:elasticache/replicationGroup:ReplicationGroup": {
      const id = (plain.replicationGroupId as string | undefined) ?? `${name}-${h}`;
      return {
        id,
        state: {
          ...inputs,
          replicationGroupId: id,
          arn: `arn:aws:elasticache:${REGION}:${ACCOUNT}:replicationgroup:${id}`,
          primaryEndpointAddress: `master.${id}.${h}.use1.cache.amazonaws.com`,
          readerEndpointAddress: `replica.${id}.${h}.use1.cache.amazonaws.com`,
          port: (plain.port as number | undefined) ?? 6379,
        },
      };
    }
    case "aws:sqs/queue:Queue": {
      const queueName = (plain.name as string | undefined) ?? `${name}-${h}${plain.fifoQueue === true ? ".fifo" : ""}`;
      return {
        id: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${queueName}`,
        state: {
          ...inputs,
          name: queueName,
          url: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${queueName}`,
          arn: `arn:aws:sqs:${REGION}:${ACCOUNT}:${queueName}`,
        },
      };
    }
    case "aws:s3/bucket:Bucket":
    case "aws:s3/bucketV2:BucketV2": {
      const bucket = (plain.bucket as string | undefined) ?? `${name}-${h}`;
      return {
        id: bucket,
        state: {
          ...inputs,
          bucket,
          arn: `arn:aws:s3:::${bucket}`,
          bucketDomainName: `${bucket}.s3.amazonaws.com`,
          bucketRegionalDomainName: `${bucket}.s3.${REGION}.amazonaws.com`,
        },
      };
    }
    case "aws:secretsmanager/secret:Secret": {
      const secretName = (plain.name as string | undefined) ?? `${name}-${h}`;
      const arn = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${secretName}-${h.slice(0, 6)}`;
      return { id: arn, state: { ...inputs, name: secretName, arn } };
    }
    case "aws:ec2/securityGroup:SecurityGroup": {
      const id = `sg-0${h}${h.slice(0, 8)}`;
      return { id, state: { ...inputs, arn: `arn:aws:ec2:${REGION}:${ACCOUNT}:security-group/${id}` } };
    }
    case "random:index/randomPassword:RandomPassword":
    case "random:index/randomString:RandomString": {
      const length = (plain.length as number | undefined) ?? 32;
      let result = "";
      let counter = 0;
      while (result.length < length) {
        result += createHash("sha256").update(`${type}:${name}:${counter++}`).digest("base64url");
      }
      result = result.replace(/[^A-Za-z0-9]/g, "x").slice(0, length);
      return { id: "none", state: { ...inputs, result: { [SECRET_SIG_KEY]: SECRET_SIG, value: result } } };
    }
    default:
      break;
  }
  if (type.startsWith("kubernetes:")) {
    const metadata = (plain.metadata as Record<string, unknown> | undefined) ?? {};
    const resourceName = (metadata.name as string | undefined) ?? `${name}-${h}`;
    const namespace = metadata.namespace as string | undefined;
    return {
      id: namespace ? `${namespace}/${resourceName}` : resourceName,
      state: { ...inputs, metadata: { ...metadata, name: resourceName } },
    };
  }
  const id = `${name}-${h}`;
  if (type.startsWith("aws:")) {
    const service = type.slice(4).split("/")[0];
    // Auto-named AWS resources get a physical name as the provider would give them.
    return { id, state: { arn: `arn:aws:${service}:${REGION}:${ACCOUNT}:${name}-${h}`, name: id, ...inputs } };
  }
  return { id, state: { ...inputs } };
}

/** Deterministic answers to the provider functions programs commonly call. */
export function mockCall(token: string, inputs: Record<string, unknown>): Record<string, unknown> {
  switch (token) {
    case "aws:index/getCallerIdentity:getCallerIdentity":
      return { accountId: ACCOUNT, arn: `arn:aws:iam::${ACCOUNT}:user/paved`, userId: "AIDAPAVED", id: ACCOUNT };
    case "aws:index/getRegion:getRegion":
      return { name: REGION, region: REGION, id: REGION };
    case "aws:index/getPartition:getPartition":
      return { partition: "aws", dnsSuffix: "amazonaws.com", id: "aws" };
    default:
      return { ...inputs };
  }
}

interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getProtect(): boolean;
  getCustom(): boolean;
  getDependenciesList(): string[];
  getObject(): unknown;
}
interface RegisterResponse {
  getUrn(): string;
  getId(): string;
  getObject(): { toJavaScript(): Record<string, unknown> } | undefined;
}
type Callback = (err: unknown, resp: RegisterResponse | undefined) => void;

/**
 * Runs `program` inside a root stack under mocks and returns what it registered. The
 * program may create resources and return stack outputs, as a Pulumi program's main
 * function does. Runs are sequential: Pulumi's runtime is global, so do not overlap two.
 */
export async function runUnderMocks<T = Record<string, unknown>>(program: () => unknown, options: RunUnderMocksOptions = {}): Promise<MockRunResult<T>> {
  const project = options.project ?? "paved";
  const stack = options.stack ?? "dev";
  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries(options.config ?? {})) {
    config[k.includes(":") ? k : `${project}:${k}`] = v;
  }
  pulumi.runtime.setAllConfig(config, options.secretKeys);
  /** The registration the mock monitor is handling (see `monitor.registerResource` below). */
  let registering: RegisteredResource | undefined;
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        // The monitor has just deserialized the inputs for this call: keep them as the
        // record's props rather than deserialize the request a second time.
        if (registering && registering.type === args.type && registering.name === args.name) registering.props = args.inputs as Record<string, unknown>;
        return mockResourceOutputs(args.type, args.name, args.inputs);
      },
      call: (args) => mockCall(args.token, args.inputs),
    },
    project,
    stack,
    options.preview ?? false,
  );

  const resources: RegisteredResource[] = [];
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource(req: RegisterRequest, cb: Callback): void;
  };
  const original = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: RegisterRequest, cb: Callback) => {
    const record: RegisteredResource = {
      type: req.getType(),
      name: req.getName(),
      urn: "",
      parent: req.getParent() || undefined,
      protect: req.getProtect() === true,
      dependencies: req.getDependenciesList(),
      custom: req.getCustom(),
      props: undefined as never,
      outputs: {},
    };
    resources.push(record);
    // The mock monitor calls `newResource` synchronously, which fills in `props` (above).
    registering = record;
    try {
      original(req, (err, resp) => {
        if (!err && resp) {
          record.urn = resp.getUrn();
          record.id = resp.getId() || undefined;
          const state = resp.getObject();
          record.outputs = state ? (pulumi.runtime.deserializeProperties(state as never) as Record<string, unknown>) : {};
        }
        cb(err, resp);
      });
    } finally {
      registering = undefined;
    }
    record.props ??= pulumi.runtime.deserializeProperties(req.getObject() as never) as Record<string, unknown>;
  };

  let outputs: unknown;
  try {
    outputs = await pulumi.runtime.runInPulumiStack(async () => program());
    // Resources whose registration was still in flight when the outputs resolved.
    await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
  } finally {
    monitor.registerResource = original;
  }
  return { resources, outputs: (outputs ?? {}) as T };
}
