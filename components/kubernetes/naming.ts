import { PavedArgumentError } from "../common";

/** Kubernetes object names: DNS-1123 labels (lowercase alphanumerics and '-', at most 63). */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Throws unless `value` can name a Kubernetes object. */
export function assertDnsLabel(argument: string, value: unknown): asserts value is string {
  if (typeof value !== "string" || !DNS_LABEL.test(value)) {
    throw new PavedArgumentError(
      argument,
      `${argument} ${JSON.stringify(value)} is not a DNS label (lowercase letters, digits and '-', at most 63 characters)`,
    );
  }
}
