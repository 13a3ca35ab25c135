// The dev "app server": the role that, in a real deployment, authenticates its users and mints
// their join tokens. It serves a page (GET /, /app.js) where one picks a room, an identity and a
// client location, and POST /api/join, which asks the Worker to join from that location.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { ErrorCode, type ErrorBody } from "#shared/errors.ts";
import { FAVICON_DATA_URL } from "#shared/favicon.ts";
import { Identity, RoomName } from "#shared/limits.ts";
import { NodeRecord } from "#shared/node.ts";
import { browserBundle } from "../../../media-node/src/http/client-bundle.ts";
import { ClusterError, type LocalCluster } from "../cluster.ts";
import { CLIENT_LOCATIONS, CLIENT_LOCATION_NAMES } from "./locations.ts";

const PAGE_ENTRY = fileURLToPath(new URL("./page.ts", import.meta.url));
const MAX_BODY = 16 * 1024;

export const DevJoinBody = z
  .object({
    room: RoomName,
    identity: Identity,
    location: z.enum(CLIENT_LOCATION_NAMES),
    /** A rejoin's hint, passed on to POST /v1/join. */
    failedNode: NodeRecord.shape.id.optional(),
  })
  .strict();

const pageBundle = browserBundle(PAGE_ENTRY);

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(): string {
  const options = CLIENT_LOCATION_NAMES.map(
    (k) => `<option value="${k}">${escapeHtml(CLIENT_LOCATIONS[k].label)}</option>`,
  ).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Meridian local cluster</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="${FAVICON_DATA_URL}">
<style>
  body { font: 14px system-ui, sans-serif; margin: 1rem; background: #111; color: #eee; }
</style></head>
<body>
  <h1>Meridian local cluster</h1>
  <label>Room <input id="room" value="demo"></label>
  <label>Identity <input id="identity"></label>
  <label>Client location <select id="location">${options}</select></label>
  <button id="join">Join</button>
  <p id="status">not connected</p>
  <p id="route"></p>
  <div id="grid" class="tiles">
    <div class="tile"><div class="media"><video id="local" autoplay muted playsinline></video></div><span class="name">you</span></div>
    <div id="remote" style="display: contents"></div>
  </div>
  <script src="/app.js"></script>
</body></html>`;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
}

const fail = (res: ServerResponse, status: number, code: ErrorCode, message: string, details?: unknown) =>
  send(res, status, { error: { code, message, ...(details === undefined ? {} : { details }) } } satisfies ErrorBody);

async function readJson(req: IncomingMessage): Promise<unknown> {
  let text = "";
  for await (const chunk of req) {
    text += String(chunk);
    if (text.length > MAX_BODY) throw new SyntaxError("body too large");
  }
  return JSON.parse(text);
}

/** The names this server answers to: the loopback address it listens on, by number or name. */
const loopbackHosts = (port: number) => new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);

/** /api/join mints a token for any identity, so only this server's own page may call it: the Host
 * must be a loopback name (a DNS-rebinding page reaches us under its own domain), an Origin, when
 * the browser sends one, must be ours (a cross-site form post or fetch), and the body JSON (a
 * cross-site request cannot send application/json without a CORS preflight we never grant).
 * Returns why a request is refused, or undefined. */
export function untrustedJoin(req: IncomingMessage, port: number): { status: number; message: string } | undefined {
  const hosts = loopbackHosts(port);
  const host = req.headers.host ?? "";
  if (!hosts.has(host))
    return { status: 403, message: `Host ${JSON.stringify(host)} is not this dev app's loopback address` };
  const origin = req.headers.origin;
  if (origin !== undefined && !hosts.has(origin.replace(/^http:\/\//, "")))
    return { status: 403, message: `Origin ${JSON.stringify(origin)} may not call /api/join` };
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json") return { status: 415, message: "body must be application/json" };
  return undefined;
}

async function join(cluster: LocalCluster, req: IncomingMessage, res: ServerResponse, port: number): Promise<void> {
  const refused = untrustedJoin(req, port);
  if (refused)
    return fail(
      res,
      refused.status,
      refused.status === 403 ? ErrorCode.Forbidden : ErrorCode.BadRequest,
      refused.message,
    );
  let raw: unknown;
  try {
    raw = await readJson(req);
  } catch (e) {
    return fail(res, 400, ErrorCode.BadRequest, `body must be JSON: ${(e as Error).message}`);
  }
  const body = DevJoinBody.safeParse(raw);
  if (!body.success)
    return fail(
      res,
      400,
      ErrorCode.BadRequest,
      "invalid request",
      body.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
    );
  const { lat, lon } = CLIENT_LOCATIONS[body.data.location];
  try {
    const { room, identity, failedNode } = body.data;
    const j = await cluster.join({ room, identity, location: { lat, lon }, ...(failedNode ? { failedNode } : {}) });
    const signalRegion = cluster.nodes.find((n) => n.signalUrl === j.url)?.region ?? "unknown";
    send(res, 200, { ...j, signalRegion });
  } catch (e) {
    if (e instanceof ClusterError) return send(res, e.status, e.body);
    throw e;
  }
}

export interface DevApp {
  readonly url: string;
  close(): Promise<void>;
}

export async function startDevApp(cluster: LocalCluster, o: { port?: number } = {}): Promise<DevApp> {
  let port = 0;
  const server: Server = createServer((req, res) => {
    const path = URL.parse(req.url ?? "/", "http://localhost")?.pathname; // null for "//[" and the like
    if (path === undefined) return fail(res, 400, ErrorCode.BadRequest, "malformed request URL");
    const route = async () => {
      if (req.method === "POST" && path === "/api/join") return join(cluster, req, res, port);
      if (req.method !== "GET") return fail(res, 405, ErrorCode.BadRequest, "only GET, and POST /api/join");
      if (path === "/") {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
        return res.end(page());
      }
      if (path === "/app.js") {
        res.writeHead(200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-store" });
        return res.end(await pageBundle());
      }
      fail(res, 404, ErrorCode.NotFound, `no route ${path}`);
    };
    route().catch((err: unknown) => {
      console.error(`dev app: ${req.method} ${path} failed: ${(err as Error).message}`);
      if (!res.headersSent) fail(res, 500, ErrorCode.Internal, "internal error");
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? 0, "127.0.0.1", resolve);
  });
  ({ port } = server.address() as AddressInfo);
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
