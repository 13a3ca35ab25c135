// POST /v1/join: app token in → media token + signal URL out, placing the room if it is new.
import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { placeRoom } from "#shared/placement.ts";
import { referencePoint, regionPreference } from "#shared/selector/index.ts";
import { mintToken } from "#shared/token.ts";
import { authenticate, bearerToken } from "../auth.ts";
import { settings, type Env } from "../env.ts";
import { forbidden, hostLate, noNodes, notFound, quotaExceeded, registryWarming } from "../errors.ts";
import { mediaGrants } from "../grants.ts";
import { errorResponses, json } from "../openapi.ts";
import { redisFor } from "../redis.ts";
import { JoinBody, JoinResponse } from "../schemas.ts";
import { cfOf } from "./cf.ts";

export const join = new OpenAPIHono<{ Bindings: Env }>();

const route = createRoute({
  method: "post",
  path: "/v1/join",
  summary: "Join a room: app token (video.roomJoin + video.room, sub = identity) → media token + wss URL",
  description:
    "The token comes from `Authorization: Bearer` or the body's `token`. The room is placed (atomically) if new and " +
    "AUTO_CREATE allows; the URL is the signal endpoint nearest the client (request.cf), which may differ from the hosting node. " +
    "With CASCADE enabled, `media` names the node this client's media should use (the room's origin, or an edge in the " +
    "client's region) and the URL is that node's own when it is in the client's region.",
  request: { body: { required: false, content: { "application/json": { schema: JoinBody } } } },
  responses: { 200: json(JoinResponse, "joined"), ...errorResponses(400, 401, 403, 404, 429, 503) },
});

join.openapi(route, async (c) => {
  const s = settings(c.env);
  const body = c.req.valid("json");
  const claims = await authenticate(bearerToken(c) ?? body.token, s.apiKeys);
  const v = claims.video;
  if (v.roomJoin !== true) throw forbidden("token lacks the roomJoin grant");
  if (!v.room) throw forbidden("token's roomJoin grant names no room (video.room)");
  if (body.room !== undefined && body.room !== v.room) throw forbidden(`token is for room ${v.room}, not ${body.room}`);
  const identity = claims.sub;
  if (!identity) throw forbidden("token has no identity (sub)");
  if (body.identity !== undefined && body.identity !== identity)
    throw forbidden("identity does not match the token's sub");
  const grants = mediaGrants(v, v.room, body.grants);

  const regionOrder = regionPreference(
    s.selector.regions,
    referencePoint(cfOf(c, s), s.selector.regions, s.defaultRegion),
  );
  const nearest = s.selector.regions.find((r) => r.name === regionOrder[0]);
  const r = await placeRoom(redisFor(s), {
    room: v.room,
    mode: "join",
    autoCreate: s.autoCreate,
    config: s.selector,
    regionOrder,
    wantSignal: !nearest?.signal_url,
    apiKey: claims.iss,
    roomQuota: s.roomsPerApiKey,
    cascade: s.cascade,
    identity,
    ...(body.failedNode !== undefined ? { failedNode: body.failedNode } : {}),
  });
  if (r.status === "host_late") throw hostLate(body.failedNode ?? "", r.retryAfterMs);
  if (r.status === "not_found") throw notFound(`no room ${v.room} (auto-create is off)`);
  if (r.status === "warming") throw registryWarming(r.retryAfterMs);
  if (r.status === "quota") throw quotaExceeded(r.limit);
  if (r.status !== "ok") throw noNodes();

  const token = await mintToken({
    apiKey: claims.iss,
    apiSecret: s.apiKeys.get(claims.iss)!,
    identity,
    ...(claims.name !== undefined ? { name: claims.name } : {}),
    ...(claims.metadata !== undefined ? { metadata: claims.metadata } : {}),
    ...(claims.attributes !== undefined ? { attributes: claims.attributes } : {}),
    video: grants,
    // roomSid: this incarnation of the room; a node refuses the token once the room is deleted
    meridian: { node: r.node.id, region: r.node.region, roomSid: r.roomSid },
    ttlSeconds: s.joinTokenTtl,
  });
  // The media token names the origin either way: an edge accepts the room's participants.
  const media = r.media ?? { node: r.node, role: "origin" as const, direct: false };
  const url = media.direct ? media.node.signalUrl : (nearest?.signal_url ?? (r.signalNode ?? r.node).signalUrl);
  return c.json(
    {
      room: v.room,
      identity,
      token,
      url,
      node: r.node.id,
      region: r.node.region,
      placement: r.placement,
      media: { node: media.node.id, region: media.node.region, role: media.role },
    },
    200,
  );
});
