/**
 * `GET /teams/:team/autonomy`: the team's autonomy per offering and action (and per agent),
 * configured or earned, with the record; `POST /teams/:team/autonomy/revoke`: an approver
 * takes earned autonomy back (audited).
 */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { TEAM_PATTERN } from "../../../components/guardrails";
import { revokeEarned, teamAutonomy } from "../../autonomy";
import { OUTCOMES } from "../../earned";
import { RISK_LEVELS } from "../../risk";
import type { Workflow } from "../../workflow";
import { errorResponses } from "../schemas";

const autonomy = z.enum(["none", ...RISK_LEVELS]);
const teamParams = z.strictObject({ team: z.string().regex(TEAM_PATTERN, { message: "must be a DNS label" }) });

export const teamAutonomySchema = z
  .object({
    team: z.string(),
    autonomy,
    environments: z.record(z.string(), autonomy),
    earn: z.object({ upTo: z.enum(RISK_LEVELS), after: z.number(), within: z.string() }).nullable(),
    records: z.array(
      z.object({
        offering: z.string(),
        action: z.string(),
        agent: z.string().nullable(),
        level: autonomy,
        earned: z.enum(RISK_LEVELS).nullable(),
        reason: z.string().nullable(),
        successes: z.number(),
        since: z.string().nullable(),
        lastBreak: z.object({ outcome: z.enum(OUTCOMES), at: z.string() }).nullable(),
        record: z.array(
          z.object({ outcome: z.enum(OUTCOMES), level: z.enum(RISK_LEVELS), approved: z.boolean(), at: z.string(), requestId: z.string().nullable() }),
        ),
      }),
    ),
  })
  .meta({ id: "TeamAutonomy" });

export const revokeBody = z.strictObject({
  offering: z.string().min(1).max(64),
  action: z.enum(["create", "update", "destroy"]),
  /** Revoke what this agent earned (default: what the team's people earned). */
  agent: z.string().min(1).max(63).optional(),
  reason: z.string().min(1).max(2000),
});

export const autonomyRoutes: FastifyPluginAsyncZod<{ workflow: Workflow }> = async (app, { workflow }) => {
  app.get("/teams/:team/autonomy", { schema: { params: teamParams, response: { 200: teamAutonomySchema, ...errorResponses } } }, async (request) =>
    teamAutonomy(workflow, request.person, request.params.team),
  );
  app.post(
    "/teams/:team/autonomy/revoke",
    { schema: { params: teamParams, body: revokeBody, response: { 200: teamAutonomySchema, ...errorResponses } } },
    async (request) => revokeEarned(workflow, request.person, request.params.team, request.body),
  );
};
