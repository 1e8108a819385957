/** The self-service page: its static files, public (the page sends the token to the API). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";

/** The page's files (automation/service/web, copied beside the build by `npm run build`). */
const WEB_DIR = join(__dirname, "..", "web");
const WEB_FILES: [string, string, string][] = [
  ["/", "index.html", "text/html; charset=utf-8"],
  ["/ui/app.js", "app.js", "text/javascript; charset=utf-8"],
  ["/ui/app.css", "app.css", "text/css; charset=utf-8"],
];

/** Its own files only: no inline script or style, never framed. */
const PAGE_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'";

export const webRoutes: FastifyPluginAsyncZod = async (app) => {
  for (const [route, file, type] of WEB_FILES) {
    const body = readFileSync(join(WEB_DIR, file));
    app.get(route, { schema: { hide: true }, config: { public: true } }, async (_request, reply) =>
      reply.type(type).header("content-security-policy", PAGE_CSP).header("x-content-type-options", "nosniff").send(body),
    );
  }
};
