/** `GET /catalog`: the offerings and the JSON Schema of their parameters. */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { catalogJsonSchemas } from "../../../components/offerings";
import type { Workflow } from "../../workflow";
import { catalogSchema, errorResponses } from "../schemas";

export const catalogRoutes: FastifyPluginAsyncZod<{ workflow: Workflow }> = async (app, { workflow }) => {
  app.get("/catalog", { schema: { response: { 200: catalogSchema, ...errorResponses } } }, async () => ({
    engine: workflow.engine.name,
    offerings: catalogJsonSchemas(),
  }));
};
