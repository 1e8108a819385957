/**
 * `paved/policy`: the Paved policies, evaluated in-process. Nothing here starts a policy
 * pack; `policy-pack/index.ts` is only for `pulumi preview --policy-pack`.
 */
import { EvaluateOptions, Violation, evaluate } from "./evaluate";
import { RunUnderMocksOptions, runUnderMocks } from "../stacks/pulumiMocks";

export {
  EvaluateOptions,
  EvaluateResource,
  Policy,
  PolicyConfigError,
  PolicyConfigValue,
  PolicyPackConfig,
  ResolvedPolicyConfig,
  Violation,
  engineText,
  evaluate,
  pavedPackInfo,
  resolvePolicyConfig,
} from "./evaluate";
export {
  AnalyzerPolicyConfig,
  AnalyzerPolicyInfo,
  PolicyConfigParseError,
  ReconciledConfig,
  cliValidationLine,
  parsePolicyPackConfig,
  reconcilePolicyPackConfig,
} from "./engineConfig";
export {
  MockRunResult,
  RegisteredResource,
  RunUnderMocksOptions,
  isSecretValue,
  mockCall,
  mockResourceOutputs,
  revealSecrets,
  runUnderMocks,
} from "../stacks/pulumiMocks";
export { policies } from "./policies";

/** What `evaluateProgram` returns. */
export interface ProgramEvaluation<T> {
  resources: import("../stacks/pulumiMocks").RegisteredResource[];
  outputs: T;
  violations: Violation[];
}

/**
 * Runs a Pulumi program function under mocks and evaluates what it registered: from a
 * component to its violations in one call. The root stack resource is not evaluated.
 */
export async function evaluateProgram<T = Record<string, unknown>>(
  program: () => unknown,
  options: RunUnderMocksOptions & EvaluateOptions = {},
): Promise<ProgramEvaluation<T>> {
  const { resources, outputs } = await runUnderMocks<T>(program, options);
  const violations = await evaluate(
    resources.filter((r) => r.type !== "pulumi:pulumi:Stack"),
    { ...options, stack: options.stack ?? "dev", project: options.project ?? "paved" },
  );
  return { resources, outputs, violations };
}
