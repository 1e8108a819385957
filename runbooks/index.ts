/** The runbooks Paved ships, and the pieces to write more. */
import { decommissionInstance } from "./library/decommissionInstance";
import { recoverStuckStack } from "./library/recoverStuckStack";
import { restoreDatabaseFromSnapshot } from "./library/restoreDatabaseFromSnapshot";
import { rotateCacheCredentials } from "./library/rotateCacheCredentials";
import { scaleInstance } from "./library/scaleInstance";
import type { Runbook } from "./model";

export { defineRunbook, text, DEFAULT_STEP_TIMEOUT_MS } from "./model";
export type {
  ActionPlan,
  ActionStep,
  Change,
  CheckStep,
  DecisionStep,
  Instance,
  InstanceRef,
  ManualStep,
  Observation,
  Runbook,
  RunbookLevel,
  Step,
  StepContext,
  StepServices,
  Text,
} from "./model";
export { renderRunbook } from "./markdown";

export const runbooks: readonly Runbook[] = [rotateCacheCredentials, scaleInstance, restoreDatabaseFromSnapshot, decommissionInstance, recoverStuckStack];
