/**
 * Network arguments shared by the AWS data stores: where they live and who may connect.
 * Pure validation and rule-building; no resources are created here.
 */
import { BlockList, isIP } from "node:net";
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

/** Each private range as a block list Node can test addresses against, with its prefix length. */
const PRIVATE_RANGES = PRIVATE_CIDR_RANGES.map((range) => {
  const block = parseCidr(range)!;
  const list = new BlockList();
  list.addSubnet(block.address, block.prefix, block.family);
  return { list, prefix: block.prefix, family: block.family };
});

/** An IPv4 or IPv6 CIDR block (`net.isIP` judges the address), or undefined. */
export function parseCidr(cidr: string): { address: string; prefix: number; family: "ipv4" | "ipv6" } | undefined {
  const slash = cidr.indexOf("/");
  const bits = cidr.slice(slash + 1);
  if (slash < 0 || !/^\d{1,3}$/.test(bits)) return undefined;
  const address = cidr.slice(0, slash);
  const version = isIP(address);
  const prefix = Number(bits);
  if (version === 0 || prefix > (version === 4 ? 32 : 128)) return undefined;
  return { address, prefix, family: version === 4 ? "ipv4" : "ipv6" };
}

/** Whether the whole block lies inside one of the private ranges: its address in the range, its prefix no shorter. */
function isPrivate(block: { address: string; prefix: number; family: "ipv4" | "ipv6" }): boolean {
  return PRIVATE_RANGES.some((r) => r.family === block.family && block.prefix >= r.prefix && r.list.check(block.address, block.family));
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
    const block = typeof cidr === "string" ? parseCidr(cidr) : undefined;
    if (!block) {
      throw new PavedArgumentError("allowedCidrBlocks", `allowedCidrBlocks ${JSON.stringify(cidr)} is not a CIDR block`);
    }
    if (block.prefix === 0) {
      throw new PavedArgumentError(
        "allowedCidrBlocks",
        `allowedCidrBlocks "${cidr}" is open to the internet: list private CIDR blocks or security groups instead`,
      );
    }
    if (!isPrivate(block)) {
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
