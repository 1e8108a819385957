/**
 * The simulate engine's worker process: runs `deploy(spec)` under Pulumi mocks, once per
 * request line on stdin, and answers on file descriptor 3 with the registered resources,
 * the policy results and the outputs. A request may name the resources that the preview
 * creates or replaces: their ids and computed outputs are then unknown to the policies, as
 * under the engine (`references.ts`). Secrets never leave this process in plain text:
 * secret inputs become a hash marker (so a changed secret still shows as a change) and
 * secret outputs become `"[secret]"`. Whatever the program prints goes to stderr.
 */
import { writeSync } from "node:fs";
import { createInterface } from "node:readline";
import { canonicalJson } from "../../digest";
import { evaluate } from "../../../policy-pack/evaluate";
import { MockRunResult, runUnderMocks } from "../../../stacks/pulumiMocks";
import { maskSecrets } from "../secrets";
import type { SimResource } from "./diff";
import { findReferences, withUnknowns } from "./references";
import type { SimulateAnswer, SimulateRequest } from "./protocol";

// Pulumi records a stack trace for every resource and promise; translating each through
// tsx's source maps doubled the time of a run. Reports carry messages, not stacks.
process.setSourceMapsEnabled(false);
// Pulumi's debuggablePromise captures a stack trace for every promise it makes; answers
// carry messages only, so none is captured.
Error.stackTraceLimit = 0;

console.log = (...args: unknown[]) => process.stderr.write(args.map(String).join(" ") + "\n");
console.info = console.log;

function answer(a: SimulateAnswer): void {
  writeSync(3, JSON.stringify(a) + "\n");
}

/** The program is deterministic: a run is kept for the requests that follow (unknowns differ, not resources). */
const runs = new Map<string, MockRunResult<Record<string, unknown>>>();

async function runProgram(request: SimulateRequest): Promise<MockRunResult<Record<string, unknown>>> {
  const key = canonicalJson({ project: request.project, stack: request.stack, spec: request.spec });
  const cached = runs.get(key);
  if (cached) return cached;
  const { deploy } = await import("../../../stacks/deploy");
  const run = await runUnderMocks(() => deploy(request.spec as never), { project: request.project, stack: request.stack });
  if (runs.size >= 20) runs.delete(runs.keys().next().value as string);
  runs.set(key, run);
  return run;
}

/** Loads what a first request would: the program's modules and Pulumi's runtime, under mocks, with nothing registered. */
async function warm(request: SimulateRequest): Promise<SimulateAnswer> {
  await import("../../../stacks/deploy");
  await runUnderMocks(() => ({}), { project: request.project, stack: request.stack });
  await evaluate([], { project: request.project, stack: request.stack });
  return { id: request.id, ok: true, resources: [], outputs: {}, violations: [] };
}

async function simulate(request: SimulateRequest): Promise<SimulateAnswer> {
  if (request.warm) return warm(request);
  const run = await runProgram(request);
  const registered = run.resources.filter((r) => r.type !== "pulumi:pulumi:Stack");
  const refs = findReferences(registered);
  const renewed = new Set(request.unknownUrns ?? []);
  const previewed = registered.map((r) => ({ ...r, props: withUnknowns(r.props, refs.get(r.urn), renewed) }));
  const violations = await evaluate(previewed, { project: request.project, stack: request.stack, config: request.policyConfig as never });
  const stackUrn = run.resources.find((r) => r.type === "pulumi:pulumi:Stack")?.urn;
  const resources: SimResource[] = registered.map((r) => ({
    urn: r.urn,
    type: r.type,
    name: r.name,
    ...(r.parent && r.parent !== stackUrn ? { parent: r.parent } : {}),
    protect: r.protect,
    custom: r.custom,
    inputs: maskSecrets(r.props, "hash") as Record<string, unknown>,
    ...(refs.has(r.urn) ? { refs: refs.get(r.urn) } : {}),
  }));
  return { id: request.id, ok: true, resources, outputs: maskSecrets(run.outputs, "hide") as Record<string, unknown>, violations };
}

// Pulumi's runtime is global: requests run one after another.
let chain: Promise<void> = Promise.resolve();
createInterface({ input: process.stdin }).on("line", (line) => {
  if (!line.trim()) return;
  const request = JSON.parse(line) as SimulateRequest;
  chain = chain.then(() => simulate(request).then(answer, (err: Error) => answer({ id: request.id, ok: false, error: err?.message ?? String(err) })));
});
process.stdin.on("end", () => {
  void chain.then(() => process.exit(0));
});
