import { describe, expect, it } from "vitest";
import { Bucket, bucketSettings } from "../../../components/aws";
import { build, buildFailure } from "../harness";

describe("bucketSettings", () => {
  it("keeps noncurrent versions longer in prod and protects the bucket", () => {
    expect(bucketSettings("dev")).toEqual({ noncurrentVersionExpirationDays: 7, abortIncompleteMultipartUploadDays: 7, protect: false });
    expect(bucketSettings("staging")).toEqual({ noncurrentVersionExpirationDays: 30, abortIncompleteMultipartUploadDays: 7, protect: false });
    expect(bucketSettings("prod")).toEqual({ noncurrentVersionExpirationDays: 90, abortIncompleteMultipartUploadDays: 7, protect: true });
  });
});

describe("Bucket", () => {
  it("blocks public access, enforces ownership, encrypts, versions and expires old versions", async () => {
    const b = await build(() => {
      const bucket = new Bucket("receipts", { team: "payments", environment: "dev" });
      return { bucketName: bucket.bucketName, arn: bucket.arn };
    });
    const bucket = b.get("receipts-bucket");
    expect(bucket.props.forceDestroy).toBe(false);
    expect(bucket.protect).toBe(false);
    const id = bucket.id;
    expect(b.props("receipts-public-access-block")).toEqual({
      bucket: id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    expect(b.props("receipts-ownership")).toEqual({ bucket: id, rule: { objectOwnership: "BucketOwnerEnforced" } });
    expect(b.props("receipts-encryption")).toEqual({
      bucket: id,
      rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" }, bucketKeyEnabled: true }],
    });
    expect(b.props("receipts-versioning")).toEqual({ bucket: id, versioningConfiguration: { status: "Enabled" } });
    expect(b.props("receipts-lifecycle").rules).toEqual([
      {
        id: "expire-noncurrent-versions",
        status: "Enabled",
        filter: {},
        noncurrentVersionExpiration: { noncurrentDays: 7 },
        abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
      },
    ]);
    expect(b.get("receipts-lifecycle").dependencies).toContain(b.get("receipts-versioning").urn);
    const arn = bucket.outputs.arn as string;
    expect(JSON.parse(b.props("receipts-policy").policy).Statement[0]).toEqual({
      Sid: "DenyInsecureTransport",
      Effect: "Deny",
      Principal: "*",
      Action: "s3:*",
      Resource: [arn, `${arn}/*`],
      Condition: { Bool: { "aws:SecureTransport": "false" } },
    });
    expect(b.get("receipts-policy").dependencies).toContain(b.get("receipts-public-access-block").urn);
    expect(b.outputs).toEqual({ bucketName: bucket.outputs.bucket, arn });
  });

  it("protects the bucket in prod and keeps noncurrent versions 90 days", async () => {
    const b = await build(() => new Bucket("receipts", { team: "payments", environment: "prod" }), "prod");
    expect(b.get("receipts-bucket").protect).toBe(true);
    expect(b.props("receipts-lifecycle").rules[0].noncurrentVersionExpiration).toEqual({ noncurrentDays: 90 });
  });

  it("keeps noncurrent versions 30 days in staging, unprotected", async () => {
    const b = await build(() => new Bucket("receipts", { team: "payments", environment: "staging" }), "staging");
    expect(b.get("receipts-bucket").protect).toBe(false);
    expect(b.props("receipts-bucket").forceDestroy).toBe(false);
    expect(b.props("receipts-lifecycle").rules[0].noncurrentVersionExpiration).toEqual({ noncurrentDays: 30 });
  });

  it.each([
    [{ environment: "production" }, 'environment "production" is not one of dev, staging, prod'],
    [{ tier: "xlarge" }, 'tier "xlarge" is not one of small, medium, large'],
    [{ team: "" }, `team "" is not a DNS label (lowercase letters, digits and '-', at most 63 characters, starting with a letter)`],
    [{ tags: { "paved:offering": "queue" } }, 'tags key "paved:offering" is reserved: keys starting with "paved:" or "paved.dev/" are set by Paved'],
    [{ tags: { owner: 7 } }, 'tags["owner"] must be a string, got 7'],
  ])("rejects %o before creating anything", async (override, message) => {
    const failure = await buildFailure(() => new Bucket("receipts", { team: "payments", environment: "dev", ...override } as never));
    expect(failure).toEqual({ message, registered: [] });
  });

  it("refuses a name whose bucket name would start with a prefix S3 reserves", async () => {
    const failure = await buildFailure(() => new Bucket("xn--receipts", { team: "payments", environment: "dev" }));
    expect(failure).toEqual({
      message:
        'name "xn--receipts" would make the S3 bucket name "xn--receipts-bucket-<random>", which S3 refuses: it may not start with xn--, sthree- or amzn-s3-demo-',
      registered: [],
    });
  });
});
