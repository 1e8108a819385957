/**
 * The one shape of a planned change that every producer maps to: a Pulumi preview
 * (`pulumi preview --json`, engine events) and the simulate engine. Risk, digests and PR
 * comments work on this shape only.
 */
import type { Environment } from "../components/guardrails";

/** What a step does to a resource. Pulumi's replacement sub-steps collapse into `replace`. */
export type StepOp = "create" | "update" | "replace" | "delete" | "same" | "read" | "refresh" | "import" | "discard";

export interface PlannedStep {
  op: StepOp;
  urn: string;
  /** Pulumi type token. */
  type: string;
  /** Logical name (the last URN segment). */
  name: string;
  /** URN of the parent (the component), when known. */
  parentUrn?: string;
  /** Top-level or dotted input keys that change (empty for create and delete). */
  changedKeys: string[];
  /** Keys whose change forces the replacement (replace only). */
  replaceKeys: string[];
  /** Whether the resource is protected (Pulumi `protect`). */
  protect?: boolean;
  /** The resource's own environment (its paved:environment tag / paved.dev/environment label), when known. */
  environment?: Environment;
}

const OP_ALIASES: Record<string, StepOp> = {
  create: "create",
  update: "update",
  replace: "replace",
  "create-replacement": "replace",
  "delete-replaced": "replace",
  "read-replacement": "read",
  delete: "delete",
  same: "same",
  read: "read",
  refresh: "refresh",
  import: "import",
  "import-replacement": "import",
  discard: "discard",
  "discard-replaced": "discard",
  "remove-pending-replace": "discard",
};

/** A Pulumi step op (`create-replacement`, `delete-replaced`, ...) as a StepOp, or undefined. */
export function normalizeOp(op: string): StepOp | undefined {
  return OP_ALIASES[op];
}

/** The type token in a URN (`urn:pulumi:stack::project::parent$type::name` -> `type`). */
export function typeFromUrn(urn: string): string {
  const qualified = urn.split("::")[2] ?? "";
  return qualified.split("$").pop() ?? "";
}

/** The logical name in a URN (everything after the fourth `::`). */
export function nameFromUrn(urn: string): string {
  return urn.split("::").slice(3).join("::");
}
