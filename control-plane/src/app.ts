// The control-plane Worker app: routes, OpenAPI document, one error format.
import { OpenAPIHono } from "@hono/zod-openapi";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ErrorCode } from "#shared/errors.ts";
import { settings, type Env } from "./env.ts";
import { dashboard } from "./dashboard.ts";
import { ApiError, badRequest } from "./errors.ts";
import { join } from "./routes/join.ts";
import { nodes } from "./routes/nodes.ts";
import { regions } from "./routes/regions.ts";
import { rooms } from "./routes/rooms.ts";
import { twirp } from "./twirp/room-service.ts";

export function createApp(): OpenAPIHono<{ Bindings: Env }> {
  const app = new OpenAPIHono<{ Bindings: Env }>({
    defaultHook: (result) => {
      if (!result.success)
        throw badRequest(
          "invalid request",
          result.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
        );
    },
  });
  // Sub-apps inherit the hook through route(); set it on them too so validation errors are ours.
  for (const sub of [rooms, nodes, join, regions]) sub.defaultHook = app.defaultHook;

  // CORS for browser apps on the origins in CORS_ORIGINS (default none). Preflights are always
  // answered (204); a foreign origin just gets no Access-Control-Allow-Origin. Tokens travel in
  // the Authorization header, never cookies: no credentials mode.
  app.use(
    "/v1/*",
    cors({
      origin: (origin, c) => (settings(c.env as Env).corsOrigins.has(origin) ? origin : null),
      allowMethods: ["GET", "POST", "DELETE"],
      allowHeaders: ["authorization", "content-type"],
      maxAge: 600,
    }),
  );
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.route("/", twirp);
  app.route("/", rooms);
  app.route("/", nodes);
  app.route("/", join);
  app.route("/", regions);
  app.route("/", dashboard);
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
  });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Meridian control plane",
      version: "0.1.0",
      description: "Room API and join for the Meridian SFU. Errors: {error:{code,message}} with stable codes.",
    },
  });

  app.notFound((c) =>
    c.json(new ApiError(404, ErrorCode.NotFound, `no route ${c.req.method} ${c.req.path}`).body(), 404),
  );
  app.onError((err, c) => {
    if (err instanceof ApiError) return c.json(err.body(), err.status, err.headers);
    if (err instanceof HTTPException && err.status < 500) {
      const e = new ApiError(err.status as ContentfulStatusCode, ErrorCode.BadRequest, err.message || "bad request");
      return c.json(e.body(), e.status);
    }
    // Never echo internals (or secrets) to the caller; the message is enough for the log.
    console.error(`unhandled error on ${c.req.method} ${c.req.path}: ${(err as Error).message}`);
    return c.json(new ApiError(500, ErrorCode.Internal, "internal error").body(), 500);
  });
  return app;
}
