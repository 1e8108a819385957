/**
 * The Pulumi CLI's handling of policy pack config, reproduced so that `evaluate()` accepts
 * and rejects what `pulumi preview --policy-pack-config` accepts and rejects, and resolves
 * it to the same values. Sources, in pulumi/pulumi:
 * - `pkg/resource/analyzer/config.go`: `parsePolicyPackConfig` and `extractEnforcementLevel`
 *   (the config file), `createConfigWithDefaults` (each property's schema `default`),
 *   `applyConfig` (`all` first, then each policy; properties replaced key by key, not deep
 *   merged), `validatePolicyConfig` (gojsonschema against `{ type: object, properties,
 *   required }`), `ReconcilePolicyPackConfig`.
 * - `sdk/go/common/resource/plugin/analyzer_plugin.go`: `GetAnalyzerInfo` injects an
 *   `enforcementLevel` property into every schema; `Configure` sends the reconciled config.
 * - `pkg/engine/update.go`: `installAndLoadPolicyPlugins` reports each validation error as
 *   `validating policy config: <pack> <version>  <policy>: <error>` (sorted) and stops.
 * The CLI validates with gojsonschema; this uses ajv and words each error as gojsonschema
 * does (xeipuuv/gojsonschema `locales.go`: `<field>: <description>`, the root's field
 * trimmed by the CLI).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type Ajv from "ajv";
import type { ErrorObject, ValidateFunction } from "ajv";

export type EnforcementLevel = "advisory" | "mandatory" | "remediate" | "disabled";

export const ENFORCEMENT_LEVELS: readonly EnforcementLevel[] = ["advisory", "mandatory", "remediate", "disabled"];

/** A JSON schema (of one config property). */
export type JSONSchema = Record<string, unknown>;

/** What the CLI knows of a policy (from `GetAnalyzerInfo`). */
export interface AnalyzerPolicyInfo {
  name: string;
  enforcementLevel: EnforcementLevel;
  configSchema?: { properties?: Record<string, JSONSchema>; required?: string[] };
}

/** One policy's config: a level (may be unset) and properties (may be unset). */
export interface AnalyzerPolicyConfig {
  enforcementLevel?: EnforcementLevel;
  properties?: Record<string, unknown>;
}

/** A config file the CLI refuses to read (it stops with this message). */
export class PolicyConfigParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PolicyConfigParseError";
  }
}

function isLevel(value: unknown): value is EnforcementLevel {
  return typeof value === "string" && (ENFORCEMENT_LEVELS as readonly string[]).includes(value);
}

/** A value as Go's `%v` prints what `encoding/json` decoded. */
function goValue(value: unknown): string {
  if (value === null || value === undefined) return "<nil>";
  if (Array.isArray(value)) return `[${value.map(goValue).join(" ")}]`;
  if (typeof value === "object") {
    const entries = Object.keys(value as object)
      .sort()
      .map((k) => `${k}:${goValue((value as Record<string, unknown>)[k])}`);
    return `map[${entries.join(" ")}]`;
  }
  return String(value);
}

function extractEnforcementLevel(key: string, props: Record<string, unknown>): EnforcementLevel | undefined {
  if (!("enforcementLevel" in props)) return undefined;
  const level = props.enforcementLevel;
  if (typeof level !== "string") {
    throw new PolicyConfigParseError(`parsing enforcement level for "${key}": ${goValue(level)} is not a valid enforcement level; must be a string`);
  }
  if (!isLevel(level)) throw new PolicyConfigParseError(`parsing enforcement level for "${key}": "${level}" is not a valid enforcement level`);
  delete props.enforcementLevel;
  return level;
}

/**
 * Reads a config file's content (`--policy-pack-config`, `policyPackConfigs`) as the CLI
 * does: a policy's entry is a level, or an object with an optional `enforcementLevel` and
 * properties; empty entries are dropped.
 */
export function parsePolicyPackConfig(config: unknown): Record<string, AnalyzerPolicyConfig> {
  if (config === null || config === undefined) return {};
  if (typeof config !== "object" || Array.isArray(config)) {
    throw new PolicyConfigParseError(`policy pack config must be an object of policy names, not ${goValue(config)}`);
  }
  const result: Record<string, AnalyzerPolicyConfig> = {};
  for (const [key, value] of Object.entries(config as Record<string, unknown>)) {
    let enforcementLevel: EnforcementLevel | undefined;
    let properties: Record<string, unknown> | undefined;
    if (typeof value === "string") {
      if (!isLevel(value)) throw new PolicyConfigParseError(`parsing enforcement level for "${key}": "${value}" is not a valid enforcement level`);
      enforcementLevel = value;
    } else if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      const props = structuredClone(value) as Record<string, unknown>;
      enforcementLevel = extractEnforcementLevel(key, props);
      if (Object.keys(props).length > 0) properties = props;
    } else {
      throw new PolicyConfigParseError(`parsing "${key}": ${goValue(value)} is not a valid value; must be a string or object`);
    }
    if (enforcementLevel === undefined && properties === undefined) continue;
    result[key] = { ...(enforcementLevel ? { enforcementLevel } : {}), ...(properties ? { properties } : {}) };
  }
  return result;
}

function createConfigWithDefaults(policies: AnalyzerPolicyInfo[]): Map<string, AnalyzerPolicyConfig> {
  const result = new Map<string, AnalyzerPolicyConfig>();
  for (const policy of policies) {
    let properties: Record<string, unknown> | undefined;
    for (const [key, schema] of Object.entries(policy.configSchema?.properties ?? {})) {
      if ("default" in schema) {
        properties ??= {};
        properties[key] = structuredClone(schema.default);
      }
    }
    result.set(policy.name, { enforcementLevel: policy.enforcementLevel, ...(properties ? { properties } : {}) });
  }
  return result;
}

function applyConfig(result: Map<string, AnalyzerPolicyConfig>, config: Record<string, AnalyzerPolicyConfig>): void {
  const all = config.all?.enforcementLevel;
  if (all !== undefined && isLevel(all)) {
    for (const [name, value] of result) result.set(name, { ...value, enforcementLevel: all });
  }
  for (const [policy, given] of Object.entries(config)) {
    const current = result.get(policy);
    let enforcementLevel = current?.enforcementLevel;
    let properties = current?.properties;
    if (given.enforcementLevel !== undefined && isLevel(given.enforcementLevel)) enforcementLevel = given.enforcementLevel;
    if (given.properties && Object.keys(given.properties).length > 0) {
      properties = { ...(properties ?? {}), ...structuredClone(given.properties) };
    }
    result.set(policy, { ...(enforcementLevel ? { enforcementLevel } : {}), ...(properties ? { properties } : {}) });
  }
}

// `verbose` keeps the offending value on each error: gojsonschema names its type.
const AJV_OPTIONS = { allErrors: true, strict: false, verbose: true };

let ajvInstance: Ajv | undefined;

/** ajv, loaded only when a schema has no prebuilt validator (loading it costs ~40 ms). */
function ajv(): Ajv {
  if (!ajvInstance) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { default: AjvClass } = require("ajv") as typeof import("ajv");
    ajvInstance = new AjvClass(AJV_OPTIONS);
  }
  return ajvInstance;
}

/** Compiled validators by schema (config is resolved on every `evaluate()`). */
const compiled = new Map<string, ValidateFunction>();

/**
 * The file of validators compiled ahead of time, which `npm run build` writes next to this
 * one for the Paved pack's schemas (`prebuiltValidatorsModule`). Compiling the pack's
 * schemas cost ~0.15 s in every process that evaluates (each `paved check`); a schema
 * not in it (another pack's, a checkout without a build) is compiled as before.
 */
export const PREBUILT_VALIDATORS_FILE = "configValidators.js";

let prebuiltLoaded = false;

/** Adds the validators of a `prebuiltValidatorsModule` file to those `validatePolicyConfig` uses. */
export function loadPrebuiltValidators(file: string): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(file) as { schemas: string[] } & Record<string, ValidateFunction>;
  mod.schemas.forEach((key, i) => compiled.set(key, mod[`v${i}`]));
}

/** The key of a policy's validator: its CLI schema as JSON, or undefined when it has no schema. */
function schemaKey(policy: AnalyzerPolicyInfo): string | undefined {
  return policy.configSchema ? JSON.stringify(cliSchema(policy)) : undefined;
}

/**
 * The source of a CommonJS module with ajv's standalone validators of `policies`' schemas
 * (the same code ajv compiles at run time, with the same options), for `loadPrebuiltValidators`.
 */
export function prebuiltValidatorsModule(policies: AnalyzerPolicyInfo[]): string {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { default: AjvClass } = require("ajv") as typeof import("ajv");
  const { default: standaloneCode } = require("ajv/dist/standalone") as typeof import("ajv/dist/standalone");
  /* eslint-enable @typescript-eslint/no-require-imports */
  const instance = new AjvClass({ ...AJV_OPTIONS, code: { source: true } });
  const keys = [...new Set(policies.map(schemaKey).filter((k): k is string => k !== undefined))];
  const refs: Record<string, string> = {};
  keys.forEach((key, i) => {
    instance.addSchema(JSON.parse(key) as object, `v${i}`);
    refs[`v${i}`] = `v${i}`;
  });
  return `// Generated by \`npm run build\` (policy-pack/engineConfig.ts, prebuiltValidatorsModule): do not edit.\n${standaloneCode(instance, refs)}\nexports.schemas = ${JSON.stringify(keys)};\n`;
}

/** gojsonschema's name of a value's type (a whole number is an `integer`). */
function givenType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

function field(e: ErrorObject): string {
  if (e.instancePath === "") return "(root)";
  return e.instancePath
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
    .join(".");
}

/** One ajv error as gojsonschema words it, `(root): ` trimmed as the CLI does. */
function gojsonschemaMessage(e: ErrorObject): string {
  const f = field(e);
  const p = e.params as Record<string, any>;
  let description: string;
  let at = f;
  switch (e.keyword) {
    case "type":
      description = `Invalid type. Expected: ${Array.isArray(p.type) ? `[${p.type.join(",")}]` : p.type}, given: ${givenType(e.data)}`;
      break;
    case "enum":
      description = `${f} must be one of the following: ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`;
      break;
    case "required":
      description = `${p.missingProperty} is required`;
      break;
    case "additionalProperties":
      description = `Additional property ${p.additionalProperty} is not allowed`;
      break;
    case "minimum":
      description = `Must be greater than or equal to ${p.limit}`;
      break;
    case "exclusiveMinimum":
      description = `Must be greater than ${p.limit}`;
      break;
    case "maximum":
      description = `Must be less than or equal to ${p.limit}`;
      break;
    case "exclusiveMaximum":
      description = `Must be less than ${p.limit}`;
      break;
    case "multipleOf":
      description = `Must be a multiple of ${p.multipleOf}`;
      break;
    case "minItems":
      description = `Array must have at least ${p.limit} items`;
      break;
    case "maxItems":
      description = `Array must have at most ${p.limit} items`;
      break;
    case "uniqueItems":
      description = "array items must be unique";
      break;
    case "minLength":
      description = `String length must be greater than or equal to ${p.limit}`;
      break;
    case "maxLength":
      description = `String length must be less than or equal to ${p.limit}`;
      break;
    case "pattern":
      description = `Does not match pattern '${p.pattern}'`;
      break;
    default:
      description = e.message ?? e.keyword;
  }
  if (at === "(root)") at = "";
  return at ? `${at}: ${description}` : description;
}

/** The schema the CLI validates a policy's properties against (`convertSchema`, with `enforcementLevel` injected). */
function cliSchema(policy: AnalyzerPolicyInfo): JSONSchema {
  const properties = {
    ...(policy.configSchema?.properties ?? {}),
    enforcementLevel: { type: "string", enum: [...ENFORCEMENT_LEVELS] },
  };
  const required = policy.configSchema?.required ?? [];
  return { type: "object", properties, ...(required.length > 0 ? { required } : {}) };
}

/** Validation errors of one policy's properties, each `<policy>: <field>: <description>`. */
export function validatePolicyConfig(policy: AnalyzerPolicyInfo, properties: Record<string, unknown>): string[] {
  const key = schemaKey(policy);
  if (key === undefined) return [];
  if (!prebuiltLoaded) {
    prebuiltLoaded = true;
    const file = join(__dirname, PREBUILT_VALIDATORS_FILE);
    if (existsSync(file)) loadPrebuiltValidators(file);
  }
  let validate = compiled.get(key);
  if (!validate) {
    validate = ajv().compile(cliSchema(policy));
    compiled.set(key, validate);
  }
  if (validate(properties)) return [];
  return (validate.errors ?? []).map((e) => `${policy.name}: ${gojsonschemaMessage(e)}`);
}

/** What `reconcilePolicyPackConfig` gives: the config to send with `Configure`, or the errors. */
export interface ReconciledConfig {
  config: Map<string, AnalyzerPolicyConfig>;
  /** Sorted, each `<policy>: <field>: <description>`; empty when the config is valid. */
  errors: string[];
}

/**
 * `ReconcilePolicyPackConfig`: every policy with its schema defaults and its level, then
 * the pack's initial config, then the given config applied on top, then validated.
 */
export function reconcilePolicyPackConfig(
  policies: AnalyzerPolicyInfo[],
  initialConfig: Record<string, AnalyzerPolicyConfig> | undefined,
  config: Record<string, AnalyzerPolicyConfig> | undefined,
): ReconciledConfig {
  const result = createConfigWithDefaults(policies);
  if (initialConfig) applyConfig(result, initialConfig);
  if (config) applyConfig(result, config);
  const errors: string[] = [];
  for (const policy of policies) errors.push(...validatePolicyConfig(policy, result.get(policy.name)?.properties ?? {}));
  return { config: result, errors: errors.sort() };
}

/** The line the CLI prints for one validation error (`pkg/engine/update.go`). */
export function cliValidationLine(packName: string, packVersion: string, error: string): string {
  return `validating policy config: ${packName} ${packVersion}  ${error}`;
}
