// Configured regions (NODE_SELECTOR.regions) and the default one (grant roomList).
import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { admin } from "../auth.ts";
import { settings, type Env } from "../env.ts";
import { bearerSecurity, errorResponses, json } from "../openapi.ts";
import { RegionList } from "../schemas.ts";

export const regions = new OpenAPIHono<{ Bindings: Env }>();

const list = createRoute({
  method: "get",
  path: "/v1/regions",
  summary:
    "Configured regions with their coordinates, and the region used for clients without a location (grant roomList)",
  security: bearerSecurity,
  responses: { 200: json(RegionList, "regions"), ...errorResponses(401, 403) },
});

regions.openapi(list, async (c) => {
  const s = settings(c.env);
  await admin(c, s.apiKeys, "roomList");
  return c.json({ regions: s.selector.regions, defaultRegion: s.defaultRegion ?? null }, 200);
});
