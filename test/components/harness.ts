/** Test helpers: build components under mocks and look at what they registered. */
import { RegisteredResource, isSecretValue, runUnderMocks } from "../../stacks/pulumiMocks";

export interface Built<T> {
  resources: RegisteredResource[];
  outputs: T;
  /** The resource registered under `name`; fails the test when there is none. */
  get(name: string): RegisteredResource;
  /** The props of the resource registered under `name`. */
  props(name: string): Record<string, any>;
}

export async function build<T = Record<string, unknown>>(program: () => unknown, stack = "dev"): Promise<Built<T>> {
  const { resources, outputs } = await runUnderMocks<T>(program, { stack });
  const get = (name: string) => {
    const found = resources.find((r) => r.name === name);
    if (!found) {
      throw new Error(`no resource named ${name}; registered: ${resources.map((r) => r.name).join(", ")}`);
    }
    return found;
  };
  return { resources, outputs, get, props: (name) => get(name).props as Record<string, any> };
}

/** Runs `program`, which must throw; returns the message and what was registered anyway. */
export async function buildFailure(program: () => unknown): Promise<{ message: string; registered: string[] }> {
  let message = "";
  const { resources } = await runUnderMocks(() => {
    try {
      program();
    } catch (err) {
      message = (err as Error).message;
    }
    return {};
  });
  return { message, registered: resources.filter((r) => r.type !== "pulumi:pulumi:Stack").map((r) => r.name) };
}

/** Every string inside `value` that is not under a wire-form secret. */
export function plainStrings(value: unknown, out: string[] = []): string[] {
  if (isSecretValue(value)) return out;
  if (typeof value === "string") out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => plainStrings(v, out));
  else if (value && typeof value === "object") Object.values(value).forEach((v) => plainStrings(v, out));
  return out;
}
