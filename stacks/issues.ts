/**
 * A problem in a spec and how it prints. Kept apart from the schema so that a caller can
 * report issues without loading the catalog (and with it every Pulumi provider).
 */

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
