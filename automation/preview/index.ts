/** Pulumi previews (`pulumi preview --json`, engine event logs) as PlannedSteps. */
export {
  FailedStep,
  FailureStatus,
  ParsedPreview,
  PolicyResult,
  PreviewDiagnostic,
  PreviewInputError,
  PreviewStep,
  collapseSteps,
  combinePreview,
  parseEventLog,
  parsePreviewJson,
  stackFromUrn,
  toPlannedStep,
} from "./parse";
export { JsonScan, JsonSyntaxError, decodeText, lineColumn, scanJson, stripColors } from "./text";
