/**
 * The environment spec: a short YAML file describing a team's environment, validated by
 * a strict schema. Errors point at the file, line and column, and the path; all of them
 * are reported at once.
 *
 * ```yaml
 * team: payments
 * environment: dev
 * network: { vpcId: vpc-0123, subnetIds: [subnet-a, subnet-b] }
 * resources:
 *   - offering: postgres
 *     name: orders-db
 *     params: { tier: small }
 * ```
 */
import type { Node as YamlNode, Document } from "yaml";
import { z } from "zod";
import { offerings, validateOfferingInstance } from "../components/offerings";
import { IssuePath, describeZodIssue, formatPath, quote } from "../components/zodIssues";
import { ENVIRONMENTS, Environment, NAME_PATTERN, OFFERINGS, Offering, TEAM_PATTERN } from "../components/guardrails";

export interface ResourceSpec {
  offering: Offering;
  name: string;
  params: Record<string, unknown>;
}

export interface EnvironmentSpec {
  team: string;
  environment: Environment;
  network?: { vpcId: string; subnetIds: string[] };
  kubernetes?: { context?: string; namespace?: string };
  resources: ResourceSpec[];
}

/** One problem in a spec. `line` and `column` are 1-based, when the spec came from YAML. */
export interface SpecIssue {
  path: string;
  message: string;
  line?: number;
  column?: number;
}

/** `payments-dev.yaml:12:11 resources[2].params.tier: "xlarge" is not one of small, medium, large`. */
export function formatIssue(issue: SpecIssue, fileName?: string): string {
  const where = [fileName, issue.line, issue.column].filter((x) => x !== undefined).join(":");
  return `${where ? `${where} ` : ""}${issue.path ? `${issue.path}: ` : ""}${issue.message}`;
}

/** An invalid spec: every issue, and a message listing them as `file:line:column path: message`. */
export class SpecError extends Error {
  constructor(
    public readonly issues: SpecIssue[],
    public readonly fileName?: string,
  ) {
    super(issues.map((i) => formatIssue(i, fileName)).join("\n"));
    this.name = "SpecError";
  }
}

const resourceSchema = z.strictObject({
  offering: z.enum(OFFERINGS),
  name: z.string().regex(NAME_PATTERN, { message: `must match ${NAME_PATTERN.source}` }),
  params: z.record(z.string(), z.unknown()).default({}),
});

/** The spec's schema (params are checked against each offering's catalog schema on top of it). */
export const environmentSpecSchema = z.strictObject({
  team: z.string().regex(TEAM_PATTERN, { message: "must be a DNS label (lowercase letters, digits and '-', starting with a letter)" }),
  environment: z.enum(ENVIRONMENTS),
  network: z
    .strictObject({
      vpcId: z.string().min(1),
      subnetIds: z.array(z.string().min(1)).min(1),
    })
    .optional(),
  kubernetes: z
    .strictObject({
      context: z.string().min(1).optional(),
      namespace: z.string().min(1).optional(),
    })
    .optional(),
  resources: z.array(resourceSchema),
});

type Path = IssuePath;

export { describeZodIssue, formatPath, quote };

/**
 * Validates a spec object: the schema, then each resource's params against its offering,
 * unique names, and the context offerings need (a network for postgres and redis).
 */
export function validateSpec(value: unknown): { ok: true; spec: EnvironmentSpec } | { ok: false; issues: { path: Path; message: string }[] } {
  const issues: { path: Path; message: string }[] = [];
  const parsed = environmentSpecSchema.safeParse(value, { reportInput: true });
  if (!parsed.success) {
    issues.push(...parsed.error.issues.flatMap(describeZodIssue));
  }
  // Params, names and needs are checked even when the envelope has problems, so that every
  // error is reported at once.
  const raw = (value && typeof value === "object" ? (value as Record<string, unknown>).resources : undefined) as unknown;
  const resources: ResourceSpec[] = [];
  if (Array.isArray(raw)) {
    const seen = new Map<string, number>();
    const spec = value as Record<string, any>;
    raw.forEach((r: any, i: number) => {
      if (!r || typeof r !== "object") return;
      if (typeof r.name === "string") {
        const first = seen.get(r.name);
        if (first !== undefined) issues.push({ path: ["resources", i, "name"], message: `"${r.name}" is already the name of resources[${first}]` });
        else seen.set(r.name, i);
      }
      const offering = typeof r.offering === "string" ? offerings[r.offering as Offering] : undefined;
      if (!offering || !(OFFERINGS as string[]).includes(r.offering)) return;
      const given = r.params && typeof r.params === "object" ? r.params : {};
      // A web service without a namespace runs in the spec's default namespace.
      const withDefaults =
        r.offering === "web-service" && spec.kubernetes?.namespace && given.namespace === undefined
          ? { namespace: spec.kubernetes.namespace, ...given }
          : given;
      // Everything the component enforces, including what depends on the name and environment. The
      // team, the environment and a name that is not NAME_PATTERN are reported by the schema above.
      const checked = validateOfferingInstance({ offering: r.offering, team: spec.team, environment: spec.environment, name: r.name, params: withDefaults });
      if (!checked.ok) {
        const own = checked.issues.filter((x) => x.path[0] === "params" || (x.path[0] === "name" && typeof r.name === "string" && NAME_PATTERN.test(r.name)));
        issues.push(...own.map((x) => ({ path: ["resources", i, ...x.path], message: x.message })));
      } else {
        resources.push({ offering: r.offering, name: r.name, params: checked.params });
      }
      if (offering.needs.includes("network") && !spec.network) {
        issues.push({ path: ["resources", i, "offering"], message: `"${r.offering}" needs network (vpcId, subnetIds) in the spec` });
      }
    });
  }
  if (issues.length > 0 || !parsed.success) {
    return { ok: false, issues };
  }
  return { ok: true, spec: { ...parsed.data, resources } as EnvironmentSpec };
}

/**
 * The YAML parser, loaded on first use: `deploy` (which `paved check`'s child, the service
 * and the root program load) only validates, and need not pay for loading it.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const yaml = (): typeof import("yaml") => require("yaml") as typeof import("yaml");

/** The YAML node at `path`; for an unknown key, its key node; else the deepest node found. */
function nodeAt(doc: Document, path: Path, unknownKey: boolean): YamlNode | undefined {
  const { isMap, isScalar, isSeq } = yaml();
  let node: YamlNode | undefined = doc.contents ?? undefined;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === seg);
      if (!pair) return node;
      if (unknownKey && i === path.length - 1) return pair.key as YamlNode;
      node = (pair.value as YamlNode | null) ?? (pair.key as YamlNode);
    } else if (isSeq(node) && typeof seg === "number") {
      const item = node.items[seg] as YamlNode | undefined;
      if (!item) return node;
      node = item;
    } else {
      return node;
    }
  }
  return node;
}

/** Parses and validates a YAML spec. Throws a `SpecError` with every issue and its position. */
export function parseSpec(text: string, fileName: string): EnvironmentSpec {
  const { LineCounter, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new SpecError(
      doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return { path: "", message: e.message.split("\n")[0], line: pos.line, column: pos.col };
      }),
      fileName,
    );
  }
  const result = validateSpec(doc.toJS());
  if (result.ok) return result.spec;
  const issues: SpecIssue[] = result.issues.map((issue) => {
    const node = nodeAt(doc, issue.path, issue.message.startsWith("unknown key"));
    const offset = node?.range?.[0];
    const pos = offset === undefined ? undefined : lineCounter.linePos(offset);
    return { path: formatPath(issue.path), message: issue.message, line: pos?.line, column: pos?.col };
  });
  issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  throw new SpecError(issues, fileName);
}
