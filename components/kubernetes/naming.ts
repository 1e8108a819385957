import { PavedArgumentError } from "../common";

/** Kubernetes object names: DNS-1123 labels (lowercase alphanumerics and '-', at most 63). */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** What is wrong with a value that is not a DNS label, and what is allowed. */
export const NOT_A_DNS_LABEL = "is not a DNS label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)";

/** Why `value` cannot name a Kubernetes object (`is not a DNS label (...)`), or undefined when it can. */
export function dnsLabelProblem(value: unknown): string | undefined {
  return typeof value === "string" && DNS_LABEL.test(value) ? undefined : NOT_A_DNS_LABEL;
}

/** Throws unless `value` can name a Kubernetes object. */
export function assertDnsLabel(argument: string, value: unknown): asserts value is string {
  const problem = dnsLabelProblem(value);
  if (problem) throw new PavedArgumentError(argument, `${argument} ${JSON.stringify(value)} ${problem}`);
}
