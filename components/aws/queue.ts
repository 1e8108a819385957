// Deep imports: `@pulumi/aws`'s index loads all of its ~250 service modules (~0.25 s).
import * as sqs from "@pulumi/aws/sqs";
import * as pulumi from "@pulumi/pulumi";
import { CommonArgs, assertIntegerInRange, PavedArgumentError, pavedTags, resolveCommonArgs } from "../common";
import { componentTypes, environments, queueDefaults } from "../guardrails";
import { denyInsecureTransportPolicy } from "./network";

/** Arguments of a `Queue`. `tier` has no effect on a queue. */
export interface QueueArgs extends CommonArgs {
  /** A FIFO queue (exactly-once, ordered). Default `false`. */
  fifo?: boolean;
  /** Seconds a received message stays invisible to other consumers, 0–43200. Default `30`. */
  visibilityTimeoutSeconds?: number;
}

/** Every setting of the two queues that Paved decides. */
export interface QueueSettings {
  fifo: boolean;
  visibilityTimeoutSeconds: number;
  messageRetentionSeconds: number;
  deadLetterRetentionSeconds: number;
  maxReceiveCount: number;
  protect: boolean;
}

/** Validates the queue's arguments and derives every setting. */
export function queueSettings(environment: keyof typeof environments, args: Pick<QueueArgs, "fifo" | "visibilityTimeoutSeconds">): QueueSettings {
  const fifo = args.fifo ?? false;
  if (typeof fifo !== "boolean") {
    throw new PavedArgumentError("fifo", `fifo ${JSON.stringify(fifo)} is not one of true, false`);
  }
  const range = queueDefaults.visibilityTimeoutSeconds;
  const visibilityTimeoutSeconds = args.visibilityTimeoutSeconds ?? range.default;
  assertIntegerInRange("visibilityTimeoutSeconds", visibilityTimeoutSeconds, range.min, range.max);
  return {
    fifo,
    visibilityTimeoutSeconds,
    messageRetentionSeconds: queueDefaults.messageRetentionSeconds,
    deadLetterRetentionSeconds: queueDefaults.deadLetterRetentionSeconds,
    maxReceiveCount: queueDefaults.maxReceiveCount,
    protect: environments[environment].protect,
  };
}

/**
 * An SQS queue with a dead-letter queue and redrive policy, server-side encryption, and
 * policies on both queues that deny any access not made over TLS.
 */
export class Queue extends pulumi.ComponentResource {
  /** URL of the queue. */
  public readonly url: pulumi.Output<string>;
  /** ARN of the queue. */
  public readonly arn: pulumi.Output<string>;
  /** URL of the dead-letter queue. */
  public readonly deadLetterUrl: pulumi.Output<string>;

  constructor(name: string, args: QueueArgs, opts?: pulumi.ComponentResourceOptions) {
    const common = resolveCommonArgs(args);
    const settings = queueSettings(common.environment, args);
    super(componentTypes.queue, name, {}, opts);

    const tags = pavedTags(common, "queue");
    const deadLetter = new sqs.Queue(
      `${name}-dlq`,
      {
        fifoQueue: settings.fifo,
        messageRetentionSeconds: settings.deadLetterRetentionSeconds,
        sqsManagedSseEnabled: true,
        tags,
      },
      { parent: this, protect: settings.protect },
    );
    const queue = new sqs.Queue(
      `${name}-queue`,
      {
        fifoQueue: settings.fifo,
        contentBasedDeduplication: settings.fifo ? true : undefined,
        visibilityTimeoutSeconds: settings.visibilityTimeoutSeconds,
        messageRetentionSeconds: settings.messageRetentionSeconds,
        sqsManagedSseEnabled: true,
        redrivePolicy: pulumi.jsonStringify({
          deadLetterTargetArn: deadLetter.arn,
          maxReceiveCount: settings.maxReceiveCount,
        }),
        tags,
      },
      { parent: this, protect: settings.protect },
    );
    // Only this component's queue may move messages into its dead-letter queue.
    new sqs.RedriveAllowPolicy(
      `${name}-dlq-redrive-allow`,
      {
        queueUrl: deadLetter.url,
        redriveAllowPolicy: pulumi.jsonStringify({ redrivePermission: "byQueue", sourceQueueArns: [queue.arn] }),
      },
      { parent: this },
    );
    for (const [role, target] of [
      ["queue-policy", queue],
      ["dlq-policy", deadLetter],
    ] as const) {
      new sqs.QueuePolicy(
        `${name}-${role}`,
        { queueUrl: target.url, policy: target.arn.apply((arn) => denyInsecureTransportPolicy("sqs", [arn])) },
        { parent: this },
      );
    }

    this.url = queue.url;
    this.arn = queue.arn;
    this.deadLetterUrl = deadLetter.url;
    this.registerOutputs({ url: this.url, arn: this.arn, deadLetterUrl: this.deadLetterUrl });
  }
}
