// Node list with stats (grant roomList).
import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { admin } from "../auth.ts";
import { settings, type Env } from "../env.ts";
import { bearerSecurity, errorResponses, json } from "../openapi.ts";
import { redisFor } from "../redis.ts";
import { NodeList } from "../schemas.ts";
import { listNodes } from "../store.ts";

export const nodes = new OpenAPIHono<{ Bindings: Env }>();

const list = createRoute({
  method: "get",
  path: "/v1/nodes",
  summary: "Live media nodes (TTL not expired, any state) with their last stats and reservations (grant roomList)",
  security: bearerSecurity,
  responses: { 200: json(NodeList, "nodes"), ...errorResponses(401, 403, 503) },
});

nodes.openapi(list, async (c) => {
  const s = settings(c.env);
  await admin(c, s.apiKeys, "roomList");
  return c.json({ nodes: await listNodes(redisFor(s)) }, 200);
});
