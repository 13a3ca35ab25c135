// Node list with stats (grant roomList).
import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { admin } from "../auth.ts";
import { settings, type Env } from "../env.ts";
import { bearerSecurity, errorResponses, json } from "../openapi.ts";
import { redisFor } from "../redis.ts";
import { NodeList, ScanQuery } from "../schemas.ts";
import { listNodes } from "../store.ts";

export const nodes = new OpenAPIHono<{ Bindings: Env }>();

const list = createRoute({
  method: "get",
  path: "/v1/nodes",
  summary: "Live media nodes (TTL not expired, any state) with their last stats and reservations (grant roomList)",
  security: bearerSecurity,
  request: { query: ScanQuery },
  responses: {
    200: json(NodeList, "nodes, one page at a time: follow nextCursor"),
    ...errorResponses(400, 401, 403, 503),
  },
});

nodes.openapi(list, async (c) => {
  const s = settings(c.env);
  await admin(c, s.apiKeys, "roomList");
  const page = await listNodes(redisFor(s), c.req.valid("query").cursor);
  return c.json({ nodes: page.items, nextCursor: page.next ?? null }, 200);
});
