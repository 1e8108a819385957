// Deep imports: `@pulumi/aws`'s index loads all of its ~250 service modules (~0.25 s).
import * as ec2 from "@pulumi/aws/ec2";
import * as rds from "@pulumi/aws/rds";
import * as pulumi from "@pulumi/pulumi";
import { CommonArgs, ResolvedCommonArgs, assertIntegerInRange, assertNonEmptyString, assertOneOf, pavedTags, resolveCommonArgs } from "../common";
import { componentTypes, dataStoreDefaults, engineVersions, environments, postgresParameterFamily, tiers } from "../guardrails";
import { ClientAccessArgs, NetworkArgs, clientIngressRules, validateClientAccess, validateNetwork } from "./network";
import { assertAwsIdentifiers, finalSnapshotIdentifier } from "./naming";

/** Arguments of a `PostgresDatabase`. */
export interface PostgresDatabaseArgs extends CommonArgs, ClientAccessArgs {
  /** VPC and private subnets of the database. Required. */
  network: NetworkArgs;
  /** PostgreSQL major version: one of `guardrails.engineVersions.postgres.allowed`. Default `"16"`. */
  engineVersion?: string;
  /**
   * Allocated storage in GiB, within the tier's range (small 20–100, medium 50–500, large
   * 200–2000). Default: the tier's default (20 / 100 / 500). Storage autoscales up to twice this.
   */
  storageGb?: number;
  /** Create the database from this RDS snapshot instead of empty. Default: none. */
  snapshotIdentifier?: pulumi.Input<string>;
}

/** Every setting of the RDS instance that Paved decides, from the arguments and the guardrails. */
export interface PostgresSettings {
  instanceClass: string;
  engineVersion: string;
  parameterFamily: string;
  allocatedStorage: number;
  maxAllocatedStorage: number;
  port: number;
  backupRetentionPeriod: number;
  multiAz: boolean;
  deletionProtection: boolean;
  skipFinalSnapshot: boolean;
  protect: boolean;
}

/**
 * Validates the PostgreSQL-specific arguments and derives every setting. Throws a
 * `PavedArgumentError` naming the argument, the value and the allowed values.
 */
export function postgresSettings(common: ResolvedCommonArgs, args: Pick<PostgresDatabaseArgs, "engineVersion" | "storageGb">): PostgresSettings {
  const tier = tiers[common.tier].rds;
  const env = environments[common.environment];
  const engineVersion = args.engineVersion ?? engineVersions.postgres.default;
  assertOneOf("engineVersion", engineVersion, engineVersions.postgres.allowed);
  const allocatedStorage = args.storageGb ?? tier.storageGb.default;
  assertIntegerInRange("storageGb", allocatedStorage, tier.storageGb.min, tier.storageGb.max);
  return {
    instanceClass: tier.instanceClass,
    engineVersion,
    parameterFamily: postgresParameterFamily(engineVersion),
    allocatedStorage,
    maxAllocatedStorage: allocatedStorage * dataStoreDefaults.storageAutoscalingFactor,
    port: dataStoreDefaults.postgresPort,
    backupRetentionPeriod: env.backupRetentionDays,
    multiAz: env.multiAz,
    deletionProtection: env.deletionProtection,
    skipFinalSnapshot: !env.finalSnapshot,
    protect: env.protect,
  };
}

/** A database name PostgreSQL accepts, from a Pulumi resource name (`orders-db` -> `orders_db`). */
export function postgresDatabaseName(name: string): string {
  const cleaned = name.toLowerCase().replace(/[^a-z0-9_]/g, "_");
  return (/^[a-z]/.test(cleaned) ? cleaned : `db_${cleaned}`).slice(0, 63);
}

/**
 * An RDS PostgreSQL database with Paved's guardrails: encrypted, private, SSL-only, its
 * master password managed by Secrets Manager (never in Pulumi state), backups per
 * environment, and in prod multi-AZ, deletion protection, a final snapshot and `protect`.
 */
export class PostgresDatabase extends pulumi.ComponentResource {
  /** Host name of the database. */
  public readonly endpoint: pulumi.Output<string>;
  /** Port of the database (5432). */
  public readonly port: pulumi.Output<number>;
  /** ARN of the Secrets Manager secret holding the master user's credentials. */
  public readonly secretArn: pulumi.Output<string>;
  /** The database's security group: add it to clients' rules or allow clients into it. */
  public readonly securityGroupId: pulumi.Output<string>;

  constructor(name: string, args: PostgresDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    // Validate everything before the component or any child is registered.
    const common = resolveCommonArgs(args);
    // The instance and parameter group are auto-named from `name`: RDS must accept those names.
    assertAwsIdentifiers("postgres", name);
    // An RDS subnet group must cover at least two availability zones.
    validateNetwork(args.network, 2);
    validateClientAccess(args);
    if (typeof args.snapshotIdentifier === "string") assertNonEmptyString("snapshotIdentifier", args.snapshotIdentifier);
    const settings = postgresSettings(common, args);
    super(componentTypes.postgres, name, {}, opts);

    const tags = pavedTags(common, "postgres");
    const subnetGroup = new rds.SubnetGroup(
      `${name}-subnets`,
      { subnetIds: args.network.subnetIds, description: `Subnets of ${name}`, tags },
      { parent: this },
    );
    const securityGroup = new ec2.SecurityGroup(
      `${name}-sg`,
      {
        vpcId: args.network.vpcId,
        description: `PostgreSQL ${name}: clients only`,
        ingress: clientIngressRules(settings.port, args),
        egress: [],
        tags,
      },
      { parent: this },
    );
    const parameterGroup = new rds.ParameterGroup(
      `${name}-params`,
      {
        family: settings.parameterFamily,
        description: `SSL-only parameters of ${name}`,
        parameters: [{ name: "rds.force_ssl", value: "1" }],
        tags,
      },
      { parent: this },
    );
    // A restored instance takes its database name and master user from the snapshot: setting
    // them as well would differ from what RDS reports and replace the instance on the next update.
    const identity =
      args.snapshotIdentifier === undefined
        ? { dbName: postgresDatabaseName(name), username: dataStoreDefaults.postgresMasterUsername }
        : { snapshotIdentifier: args.snapshotIdentifier };
    const instance = new rds.Instance(
      `${name}-db`,
      {
        engine: "postgres",
        engineVersion: settings.engineVersion,
        instanceClass: settings.instanceClass,
        allocatedStorage: settings.allocatedStorage,
        maxAllocatedStorage: settings.maxAllocatedStorage,
        storageType: "gp3",
        storageEncrypted: true,
        publiclyAccessible: false,
        ...identity,
        manageMasterUserPassword: true,
        port: settings.port,
        dbSubnetGroupName: subnetGroup.name,
        vpcSecurityGroupIds: [securityGroup.id],
        parameterGroupName: parameterGroup.name,
        backupRetentionPeriod: settings.backupRetentionPeriod,
        multiAz: settings.multiAz,
        deletionProtection: settings.deletionProtection,
        skipFinalSnapshot: settings.skipFinalSnapshot,
        finalSnapshotIdentifier: settings.skipFinalSnapshot ? undefined : finalSnapshotIdentifier(name, { team: common.team, environment: common.environment }),
        copyTagsToSnapshot: true,
        autoMinorVersionUpgrade: true,
        iamDatabaseAuthenticationEnabled: true,
        tags,
      },
      { parent: this, protect: settings.protect },
    );

    this.endpoint = instance.address;
    this.port = instance.port;
    this.secretArn = instance.masterUserSecrets.apply((secrets) => secrets?.[0]?.secretArn ?? "");
    this.securityGroupId = securityGroup.id;
    this.registerOutputs({
      endpoint: this.endpoint,
      port: this.port,
      secretArn: this.secretArn,
      securityGroupId: this.securityGroupId,
    });
  }
}
