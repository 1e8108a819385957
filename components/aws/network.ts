/**
 * Network arguments shared by the AWS data stores: where they live and who may connect.
 * Pure validation and rule-building; no resources are created here.
 */
import * as pulumi from "@pulumi/pulumi";
import { PavedArgumentError } from "../common";

/** Where a data store lives. Both values may come from another resource. */
export interface NetworkArgs {
  /** The VPC of the security group. Required. */
  vpcId: pulumi.Input<string>;
  /** Private subnets for the subnet group (two or more AZs for multi-AZ). Required. */
  subnetIds: pulumi.Input<pulumi.Input<string>[]>;
}

/** Who may connect to a data store. Default: nobody until one of these is given. */
export interface ClientAccessArgs {
  /** Security groups whose members may connect on the store's port. Default: none. */
  allowedSecurityGroupIds?: pulumi.Input<string>[];
  /**
   * Private CIDR blocks that may connect on the store's port. `0.0.0.0/0` and `::/0` are
   * rejected: a data store is never open to the internet. Default: none.
   */
  allowedCidrBlocks?: string[];
}

const IPV4_CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const IPV6_CIDR = /^[0-9a-fA-F:]+\/(\d{1,3})$/;

/**
 * Throws unless `network` has a `vpcId` and `subnetIds`. When `subnetIds` is a plain list
 * (not an Output still unknown), it must hold at least `minSubnets` entries: an RDS subnet
 * group always spans two availability zones, a multi-AZ cache needs two as well.
 */
export function validateNetwork(network: NetworkArgs | undefined, minSubnets = 1): void {
  if (network === undefined || network === null || typeof network !== "object") {
    throw new PavedArgumentError("network", "network is required: { vpcId, subnetIds }");
  }
  if (network.vpcId === undefined || network.vpcId === null || network.vpcId === "") {
    throw new PavedArgumentError("network.vpcId", "network.vpcId is required");
  }
  if (network.subnetIds === undefined || network.subnetIds === null) {
    throw new PavedArgumentError("network.subnetIds", "network.subnetIds is required");
  }
  if (Array.isArray(network.subnetIds) && network.subnetIds.length < minSubnets) {
    const count = network.subnetIds.length;
    throw new PavedArgumentError(
      "network.subnetIds",
      `network.subnetIds lists ${count} subnet${count === 1 ? "" : "s"}: at least ${minSubnets}${minSubnets > 1 ? " (in different availability zones)" : ""} required`,
    );
  }
}

/** Throws unless the who-may-connect arguments are lists (of security groups, of safe CIDR blocks). */
export function validateClientAccess(access: ClientAccessArgs): void {
  if (access.allowedSecurityGroupIds !== undefined && !Array.isArray(access.allowedSecurityGroupIds)) {
    throw new PavedArgumentError(
      "allowedSecurityGroupIds",
      `allowedSecurityGroupIds ${JSON.stringify(access.allowedSecurityGroupIds)} is not a list of security group ids`,
    );
  }
  validateCidrBlocks(access.allowedCidrBlocks);
}

/** Private address space a data store's clients may come from (RFC 1918, RFC 6598, RFC 4193). */
export const PRIVATE_CIDR_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"] as const;

function ipv4ToNumber(octets: string[]): number {
  return octets.reduce((n, o) => n * 256 + Number(o), 0);
}

/** Whether an IPv4 block (address octets, prefix length) lies inside one of the private ranges. */
function isPrivateIpv4(octets: string[], prefix: number): boolean {
  const address = ipv4ToNumber(octets);
  return PRIVATE_CIDR_RANGES.filter((r) => !r.includes(":")).some((range) => {
    const [base, bits] = range.split("/");
    const size = 2 ** (32 - Number(bits));
    const start = ipv4ToNumber(base.split("."));
    return prefix >= Number(bits) && address >= start && address < start + size;
  });
}

/** Whether an IPv6 block lies inside fc00::/7 (unique local addresses). */
function isPrivateIpv6(cidr: string, prefix: number): boolean {
  const first = cidr.split(":")[0];
  return prefix >= 7 && first.length === 4 && /^f[cd]/i.test(first);
}

/**
 * Throws unless every entry is a CIDR block inside private address space
 * (`PRIVATE_CIDR_RANGES`). Any `/0` block (`0.0.0.0/0`, `::/0`, `10.0.0.0/0`) is rejected
 * as open to the internet.
 */
export function validateCidrBlocks(cidrs: string[] | undefined): string[] {
  const list = cidrs ?? [];
  if (!Array.isArray(list)) {
    throw new PavedArgumentError("allowedCidrBlocks", "allowedCidrBlocks must be a list of CIDR blocks");
  }
  for (const cidr of list) {
    const v4 = IPV4_CIDR.exec(cidr);
    const validV4 = v4 !== null && v4.slice(1, 5).every((o) => Number(o) <= 255) && Number(v4[5]) <= 32;
    const v6 = IPV6_CIDR.exec(cidr);
    const validV6 = v6 !== null && Number(v6[1]) <= 128 && cidr.includes(":");
    if (!validV4 && !validV6) {
      throw new PavedArgumentError("allowedCidrBlocks", `allowedCidrBlocks ${JSON.stringify(cidr)} is not a CIDR block`);
    }
    const prefix = Number(validV4 ? v4![5] : v6![1]);
    if (prefix === 0) {
      throw new PavedArgumentError(
        "allowedCidrBlocks",
        `allowedCidrBlocks "${cidr}" is open to the internet: list private CIDR blocks or security groups instead`,
      );
    }
    if (validV4 ? !isPrivateIpv4(v4!.slice(1, 5), prefix) : !isPrivateIpv6(cidr, prefix)) {
      throw new PavedArgumentError(
        "allowedCidrBlocks",
        `allowedCidrBlocks "${cidr}" is not private address space: one of ${PRIVATE_CIDR_RANGES.join(", ")} (or a block inside one)`,
      );
    }
  }
  return [...list];
}

/** One inline security-group rule (the shape `aws.ec2.SecurityGroup` takes). */
export interface IngressRule {
  description: string;
  protocol: "tcp";
  fromPort: number;
  toPort: number;
  securityGroups?: pulumi.Input<string>[];
  cidrBlocks?: string[];
  ipv6CidrBlocks?: string[];
}

/** The ingress rules of a data store's security group: its port, from the allowed clients only. */
export function clientIngressRules(port: number, access: ClientAccessArgs): IngressRule[] {
  const rules: IngressRule[] = [];
  const groups = access.allowedSecurityGroupIds ?? [];
  if (groups.length > 0) {
    rules.push({ description: "Clients by security group", protocol: "tcp", fromPort: port, toPort: port, securityGroups: groups });
  }
  const cidrs = validateCidrBlocks(access.allowedCidrBlocks);
  const v4 = cidrs.filter((c) => !c.includes(":"));
  const v6 = cidrs.filter((c) => c.includes(":"));
  if (v4.length > 0) {
    rules.push({ description: "Clients by IPv4 CIDR", protocol: "tcp", fromPort: port, toPort: port, cidrBlocks: v4 });
  }
  if (v6.length > 0) {
    rules.push({ description: "Clients by IPv6 CIDR", protocol: "tcp", fromPort: port, toPort: port, ipv6CidrBlocks: v6 });
  }
  return rules;
}

/**
 * A resource policy that denies every request not made over TLS. `service` is the IAM
 * action prefix (`s3`, `sqs`); `resources` the ARNs it covers.
 */
export function denyInsecureTransportPolicy(service: string, resources: string[]): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "DenyInsecureTransport",
        Effect: "Deny",
        Principal: "*",
        Action: `${service}:*`,
        Resource: resources.length === 1 ? resources[0] : resources,
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
    ],
  });
}
