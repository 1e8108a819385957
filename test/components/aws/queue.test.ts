import { describe, expect, it } from "vitest";
import { Queue, queueSettings } from "../../../components/aws";
import { build, buildFailure } from "../harness";

describe("queueSettings", () => {
  it("defaults to a standard queue with AWS's visibility timeout", () => {
    expect(queueSettings("dev", {})).toEqual({
      fifo: false,
      visibilityTimeoutSeconds: 30,
      messageRetentionSeconds: 345600,
      deadLetterRetentionSeconds: 1209600,
      maxReceiveCount: 5,
      protect: false,
    });
    expect(queueSettings("prod", { fifo: true, visibilityTimeoutSeconds: 120 })).toMatchObject({ fifo: true, visibilityTimeoutSeconds: 120, protect: true });
  });
});

describe("Queue", () => {
  it("encrypts both queues and redrives to the dead-letter queue after five receives", async () => {
    const b = await build(() => {
      const q = new Queue("orders", { team: "payments", environment: "dev" });
      return { url: q.url, arn: q.arn, deadLetterUrl: q.deadLetterUrl };
    });
    const dlq = b.get("orders-dlq");
    expect(b.props("orders-queue")).toMatchObject({
      fifoQueue: false,
      visibilityTimeoutSeconds: 30,
      messageRetentionSeconds: 345600,
      sqsManagedSseEnabled: true,
    });
    expect(JSON.parse(b.props("orders-queue").redrivePolicy)).toEqual({ deadLetterTargetArn: dlq.outputs.arn, maxReceiveCount: 5 });
    expect(dlq.props).toMatchObject({ fifoQueue: false, messageRetentionSeconds: 1209600, sqsManagedSseEnabled: true });
    const allow = b.props("orders-dlq-redrive-allow");
    expect(allow.queueUrl).toBe(dlq.outputs.url);
    expect(JSON.parse(allow.redriveAllowPolicy)).toEqual({ redrivePermission: "byQueue", sourceQueueArns: [b.get("orders-queue").outputs.arn] });
    expect(b.outputs).toEqual({
      url: b.get("orders-queue").outputs.url,
      arn: b.get("orders-queue").outputs.arn,
      deadLetterUrl: dlq.outputs.url,
    });
  });

  it("denies non-TLS access to both queues", async () => {
    const b = await build(() => new Queue("orders", { team: "payments", environment: "dev" }));
    for (const [policy, queue] of [
      ["orders-queue-policy", "orders-queue"],
      ["orders-dlq-policy", "orders-dlq"],
    ]) {
      const props = b.props(policy);
      expect(props.queueUrl).toBe(b.get(queue).outputs.url);
      expect(JSON.parse(props.policy)).toEqual({
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "DenyInsecureTransport",
            Effect: "Deny",
            Principal: "*",
            Action: "sqs:*",
            Resource: b.get(queue).outputs.arn,
            Condition: { Bool: { "aws:SecureTransport": "false" } },
          },
        ],
      });
    }
  });

  it("makes FIFO queues on request and protects them in prod", async () => {
    const b = await build(() => new Queue("orders", { team: "payments", environment: "prod", fifo: true, visibilityTimeoutSeconds: 600 }), "prod");
    expect(b.props("orders-queue")).toMatchObject({ fifoQueue: true, contentBasedDeduplication: true, visibilityTimeoutSeconds: 600 });
    expect(b.props("orders-dlq").fifoQueue).toBe(true);
    expect(b.get("orders-queue").protect).toBe(true);
    expect(b.get("orders-dlq").protect).toBe(true);
  });

  it.each([
    [{ visibilityTimeoutSeconds: 50000 }, "visibilityTimeoutSeconds 50000 is not an integer between 0 and 43200"],
    [{ visibilityTimeoutSeconds: -1 }, "visibilityTimeoutSeconds -1 is not an integer between 0 and 43200"],
    [{ fifo: "yes" }, 'fifo "yes" is not one of true, false'],
    [{ visibilityTimeoutSeconds: 1.5 }, "visibilityTimeoutSeconds 1.5 is not an integer between 0 and 43200"],
    [{ environment: "qa" }, 'environment "qa" is not one of dev, staging, prod'],
  ])("rejects %o before creating anything", async (override, message) => {
    const failure = await buildFailure(() => new Queue("orders", { team: "payments", environment: "dev", ...override } as never));
    expect(failure).toEqual({ message, registered: [] });
  });
});
