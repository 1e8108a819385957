/**
 * Which inputs hold another resource's id or computed output, and how a preview hands them
 * to the policies: unknown while the producer is created or replaced, as the engine does.
 */
import { describe, expect, it } from "vitest";
import { UNKNOWN, computedValues, findReferences, withUnknowns } from "../../automation/engine/simulate/references";
import { SECRET_SIG, SECRET_SIG_KEY, type RegisteredResource } from "../../stacks/pulumiMocks";

const secret = (value: unknown) => ({ [SECRET_SIG_KEY]: SECRET_SIG, value });
const reg = (urn: string, props: Record<string, unknown>, outputs: Record<string, unknown>, id?: string): RegisteredResource => ({
  type: urn.split("::")[2],
  name: urn.split("::")[3],
  urn,
  protect: false,
  dependencies: [],
  custom: true,
  props,
  outputs: { ...props, ...outputs },
  ...(id ? { id } : {}),
});

const PW = "urn:pulumi:s::p::random:index/randomPassword:RandomPassword::pw";
const SG = "urn:pulumi:s::p::aws:rds/subnetGroup:SubnetGroup::subnets";
const BUCKET = "urn:pulumi:s::p::aws:s3/bucket:Bucket::files";
const password = "Zq3v9xY0abcdEFGH1234ijklMNOP5678";
const resources = [
  reg(PW, { length: 32, keepers: { version: "1" } }, { result: secret(password) }, "none"),
  // Pulumi auto-names `name` before the resource exists: known at preview; the id is not.
  reg(SG, { subnetIds: ["subnet-a"] }, { name: "subnets-1a2b3c4d", arn: "arn:aws:rds:us-east-1:1:subgrp:subnets-1a2b3c4d" }, "subnets-id-77aa"),
  reg(BUCKET, { forceDestroy: false }, { bucket: "files-9f8e7d6c", arn: "arn:aws:s3:::files-9f8e7d6c" }, "files-9f8e7d6c"),
  reg("urn:pulumi:s::p::aws:rds/instance:Instance::db", { dbSubnetGroupName: "subnets-1a2b3c4d", masterPassword: secret(password) }, {}, "db-1"),
  reg(
    "urn:pulumi:s::p::aws:s3/bucketPolicy:BucketPolicy::policy",
    { bucket: "files-9f8e7d6c", policy: '{"Resource":["arn:aws:s3:::files-9f8e7d6c/*"]}' },
    {},
    "p-1",
  ),
];

describe("references", () => {
  it("takes ids and computed outputs, not inputs, auto-names or short values", () => {
    expect(computedValues(resources[0])).toEqual([password]);
    expect(computedValues(resources[1])).toEqual(["subnets-id-77aa", "arn:aws:rds:us-east-1:1:subgrp:subnets-1a2b3c4d"]);
  });

  it("finds the inputs holding them, whole or interpolated", () => {
    const refs = findReferences(resources);
    expect(refs.get("urn:pulumi:s::p::aws:rds/instance:Instance::db")).toEqual([{ path: ["masterPassword"], from: [PW] }]);
    expect(refs.get("urn:pulumi:s::p::aws:s3/bucketPolicy:BucketPolicy::policy")).toEqual([
      { path: ["bucket"], from: [BUCKET] },
      { path: ["policy"], from: [BUCKET] },
    ]);
    expect(refs.has(PW)).toBe(false);
  });

  it("makes them unknown only while their producer is renewed; a secret holding one is unknown as a whole", () => {
    const refs = findReferences(resources);
    const db = resources[3];
    expect(withUnknowns(db.props, refs.get(db.urn), new Set([PW]))).toEqual({ dbSubnetGroupName: "subnets-1a2b3c4d", masterPassword: UNKNOWN });
    expect(withUnknowns(db.props, refs.get(db.urn), new Set([BUCKET]))).toBe(db.props);
  });
});
