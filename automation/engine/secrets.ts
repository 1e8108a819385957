/**
 * Secrets never leave an engine in plain text: whatever an engine hands the service (state
 * inputs, stack outputs) goes through `maskSecrets` first.
 */
import { createHash } from "node:crypto";
import { isSecretValue } from "../../stacks/pulumiMocks";

/** Secret values replaced: inputs by `{ "[secret]": <hash> }`, outputs by `"[secret]"`. */
export function maskSecrets(value: unknown, mode: "hash" | "hide"): unknown {
  if (isSecretValue(value)) {
    if (mode === "hide") return "[secret]";
    const hash = createHash("sha256")
      .update(JSON.stringify(value.value ?? null))
      .digest("hex")
      .slice(0, 16);
    return { "[secret]": `sha256:${hash}` };
  }
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, mode));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskSecrets(v, mode)]));
  }
  return value;
}
