/** The API's request and response schemas (zod), published as OpenAPI at `/docs`. */
import { z } from "zod";
import { ENVIRONMENTS, NAME_PATTERN, TEAM_PATTERN } from "../../components/guardrails";
import { RISK_LEVELS } from "../risk";
import { STATUSES } from "../workflow";

export const errorSchema = z
  .object({
    error: z.object({
      /** Stable, for programs: `invalid_request`, `self_approval`, `stale_digest`, ... */
      code: z.string(),
      message: z.string(),
      issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    }),
  })
  .meta({ id: "Error" });

/** The error answers every route declares, besides its success. */
export const errorResponses = {
  400: errorSchema,
  401: errorSchema,
  403: errorSchema,
  404: errorSchema,
  409: errorSchema,
  422: errorSchema,
  429: errorSchema,
  500: errorSchema,
  503: errorSchema,
};

export const healthSchema = z.object({ status: z.literal("ok"), engine: z.enum(["simulate", "pulumi"]), store: z.string() });

/** Who the bearer token belongs to: the page shows it and offers only the actions this person may take. */
export const meSchema = z
  .object({ name: z.string(), kind: z.enum(["person", "agent"]), teams: z.array(z.string()), groups: z.array(z.string()) })
  .meta({ id: "Me" });

export const catalogSchema = z.object({
  engine: z.string(),
  offerings: z.array(
    z.object({ name: z.string(), title: z.string(), description: z.string(), stateful: z.boolean(), parameters: z.record(z.string(), z.unknown()) }),
  ),
});

export const createRequestBody = z.strictObject({
  action: z.enum(["create", "update", "destroy"]).default("create"),
  team: z.string().regex(TEAM_PATTERN, { message: "must be a DNS label" }),
  environment: z.enum(ENVIRONMENTS),
  offering: z.string().min(1).max(64),
  name: z.string().regex(NAME_PATTERN, { message: `must match ${NAME_PATTERN.source}` }),
  params: z.record(z.string(), z.unknown()).default({}),
});

export const idParams = z.strictObject({ id: z.string().regex(/^req_[0-9a-f-]{36}$/, { message: "is not a request id" }) });

export const listQuery = z.strictObject({
  status: z.enum(STATUSES).optional(),
  team: z.string().regex(TEAM_PATTERN).optional(),
  /** Requests per page, newest first. Default 50. */
  limit: z
    .string()
    .regex(/^\d{1,9}$/, { message: "is not a whole number from 1 to 200" })
    .default("50")
    .transform(Number)
    .pipe(z.number().int().min(1).max(200)),
  /** The `next` of the previous page. */
  cursor: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,200}$/, { message: "is not a cursor from a previous page" })
    .optional(),
});

/** A page cursor: the last request's creation time and id, opaque to callers. */
export function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(JSON.stringify([createdAt, id])).toString("base64url");
}

export function decodeCursor(cursor: string): { createdAt: string; id: string } | undefined {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as [unknown, unknown];
    return typeof createdAt === "string" && typeof id === "string" ? { createdAt, id } : undefined;
  } catch {
    return undefined;
  }
}

export const approveBody = z.strictObject({
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/, { message: "must be the sha256:<hex> digest of the preview" }),
  comment: z.string().max(2000).optional(),
});

export const rejectBody = z.strictObject({ reason: z.string().min(1).max(2000) });

const violationSchema = z.object({
  policyName: z.string(),
  enforcementLevel: z.enum(["advisory", "mandatory"]),
  message: z.string(),
  description: z.string(),
  resourceName: z.string().optional(),
  resourceType: z.string().optional(),
  urn: z.string().optional(),
});

/** Who acted, with its kind. */
export const actorSchema = z.object({ kind: z.enum(["person", "agent", "system"]), name: z.string() }).meta({ id: "Actor" });

export const requestSchema = z
  .object({
    id: z.string(),
    action: z.enum(["create", "update", "destroy"]),
    team: z.string(),
    environment: z.enum(ENVIRONMENTS),
    offering: z.string(),
    name: z.string(),
    stack: z.string(),
    params: z.record(z.string(), z.unknown()),
    requestedBy: z.string(),
    /** The requester with its kind: an agent is shown as one. */
    actor: actorSchema,
    status: z.enum(STATUSES),
    /** `simulate`: nothing real was provisioned. */
    engine: z.string(),
    risk: z
      .object({
        level: z.enum(RISK_LEVELS),
        blocked: z.boolean(),
        reasons: z.array(z.string()),
        requiredApprovals: z.object({
          level: z.enum(RISK_LEVELS),
          auto: z.boolean(),
          count: z.number(),
          group: z.string().optional(),
          description: z.string(),
        }),
        /** Why the change applied alone on autonomy its team (or agent) earned. */
        earned: z.string().optional(),
      })
      .nullable(),
    preview: z
      .object({
        digest: z.string(),
        steps: z.array(
          z.object({ op: z.string(), urn: z.string(), type: z.string(), risk: z.string(), reasons: z.array(z.string()), changedKeys: z.array(z.string()) }),
        ),
        changeSummary: z.record(z.string(), z.number()),
      })
      .nullable(),
    violations: z.array(violationSchema),
    approvals: z.array(z.object({ by: z.string(), at: z.string(), digest: z.string(), comment: z.string().nullable() })),
    /** While awaiting approval: approvals counted, how many are missing, and who may give them. */
    approvalsNeeded: z.object({ counted: z.array(z.string()), missing: z.number(), summary: z.string(), approvers: z.array(z.string()) }).optional(),
    escalations: z.array(z.object({ rung: z.number(), at: z.string(), addedGroup: z.string().optional() })),
    outputs: z.record(z.string(), z.unknown()).nullable(),
    error: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: "Request" });

export const requestListSchema = z.object({
  requests: z.array(requestSchema),
  /** Pass as `cursor` for the next page; absent on the last page. */
  next: z.string().optional(),
});

export const instancesQuery = z.strictObject({ team: z.string().regex(TEAM_PATTERN).optional() });

export const instancesSchema = z.object({
  engine: z.string(),
  instances: z.array(
    z.object({
      stack: z.string(),
      team: z.string(),
      environment: z.string(),
      name: z.string(),
      offering: z.string(),
      /** `active`, or `interrupted` (a create cut off mid-apply). */
      status: z.enum(["active", "interrupted"]),
      params: z.record(z.string(), z.unknown()),
      outputs: z.record(z.string(), z.unknown()),
      needsRefresh: z.boolean(),
      updatedAt: z.string(),
    }),
  ),
});

export const auditQuery = z.strictObject({
  requestId: z
    .string()
    .regex(/^(req|run)_[0-9a-f-]{36}$/, { message: "is not a request or runbook run id" })
    .optional(),
});

export const auditSchema = z.object({
  entries: z.array(
    z.object({
      id: z.number(),
      at: z.string(),
      actor: z.string(),
      /** The actor's kind: `person`, `agent`, or `system` (the service itself). */
      actorKind: z.enum(["person", "agent", "system"]),
      action: z.string(),
      requestId: z.string().nullable(),
      stack: z.string().nullable(),
      digest: z.string().nullable(),
      detail: z.unknown().nullable(),
    }),
  ),
});
