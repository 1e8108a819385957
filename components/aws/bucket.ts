// Deep imports: `@pulumi/aws`'s index loads all of its ~250 service modules (~0.25 s).
import * as s3 from "@pulumi/aws/s3";
import * as pulumi from "@pulumi/pulumi";
import { CommonArgs, pavedTags, resolveCommonArgs } from "../common";
import { Environment, bucketDefaults, componentTypes, environments } from "../guardrails";
import { assertAwsIdentifiers } from "./naming";
import { denyInsecureTransportPolicy } from "./network";

/** Arguments of a `Bucket`. `tier` has no effect on a bucket. */
export type BucketArgs = CommonArgs;

/** Every setting of the bucket that Paved decides. */
export interface BucketSettings {
  noncurrentVersionExpirationDays: number;
  abortIncompleteMultipartUploadDays: number;
  protect: boolean;
}

/** The bucket's settings for an environment. */
export function bucketSettings(environment: Environment): BucketSettings {
  const env = environments[environment];
  return {
    noncurrentVersionExpirationDays: env.noncurrentVersionExpirationDays,
    abortIncompleteMultipartUploadDays: bucketDefaults.abortIncompleteMultipartUploadDays,
    protect: env.protect,
  };
}

/**
 * An S3 bucket with Paved's guardrails: all four public-access blocks on, bucket-owner
 * enforced ownership (no ACLs), KMS server-side encryption, versioning with noncurrent
 * versions expiring per environment, a policy denying non-TLS access, `forceDestroy` off,
 * and `protect` in prod.
 */
export class Bucket extends pulumi.ComponentResource {
  /** Name of the bucket. */
  public readonly bucketName: pulumi.Output<string>;
  /** ARN of the bucket. */
  public readonly arn: pulumi.Output<string>;

  constructor(name: string, args: BucketArgs, opts?: pulumi.ComponentResourceOptions) {
    const common = resolveCommonArgs(args);
    // The bucket is auto-named from `name`: S3 must accept that name.
    assertAwsIdentifiers("bucket", name);
    const settings = bucketSettings(common.environment);
    super(componentTypes.bucket, name, {}, opts);

    const bucket = new s3.Bucket(`${name}-bucket`, { forceDestroy: false, tags: pavedTags(common, "bucket") }, { parent: this, protect: settings.protect });
    new s3.BucketOwnershipControls(`${name}-ownership`, { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } }, { parent: this });
    const publicAccessBlock = new s3.BucketPublicAccessBlock(
      `${name}-public-access-block`,
      {
        bucket: bucket.id,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      { parent: this },
    );
    new s3.BucketServerSideEncryptionConfiguration(
      `${name}-encryption`,
      {
        bucket: bucket.id,
        rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" }, bucketKeyEnabled: true }],
      },
      { parent: this },
    );
    const versioning = new s3.BucketVersioning(`${name}-versioning`, { bucket: bucket.id, versioningConfiguration: { status: "Enabled" } }, { parent: this });
    new s3.BucketLifecycleConfiguration(
      `${name}-lifecycle`,
      {
        bucket: bucket.id,
        rules: [
          {
            id: "expire-noncurrent-versions",
            status: "Enabled",
            filter: {},
            noncurrentVersionExpiration: { noncurrentDays: settings.noncurrentVersionExpirationDays },
            abortIncompleteMultipartUpload: { daysAfterInitiation: settings.abortIncompleteMultipartUploadDays },
          },
        ],
      },
      { parent: this, dependsOn: [versioning] },
    );
    new s3.BucketPolicy(
      `${name}-policy`,
      { bucket: bucket.id, policy: bucket.arn.apply((arn) => denyInsecureTransportPolicy("s3", [arn, `${arn}/*`])) },
      // A policy is accepted only once the public-access block is in place.
      { parent: this, dependsOn: [publicAccessBlock] },
    );

    this.bucketName = bucket.bucket;
    this.arn = bucket.arn;
    this.registerOutputs({ bucketName: this.bucketName, arn: this.arn });
  }
}
