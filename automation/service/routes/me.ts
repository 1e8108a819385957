/** `GET /me`: who the token stands for (the page shows it). */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { errorResponses, meSchema } from "../schemas";

export const meRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get("/me", { schema: { response: { 200: meSchema, ...errorResponses } } }, async (request) => {
    const { name, teams, groups } = request.person;
    return { name, teams, groups };
  });
};
