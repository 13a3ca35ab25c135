// The node's HTTP surface: signaling upgrade (/rtc), health (/healthz: the process is up;
// /readyz: it accepts new rooms — 503 while draining), Prometheus (/metrics), and the demo page
// with the bundled client (/demo, /client.js, /favicon.svg).
import { createServer, type Server, type ServerResponse } from "node:http";
import { readFile } from "node:fs/promises";
import { ErrorCode, type ErrorBody } from "#shared/errors.ts";
import { FAVICON_SVG } from "#shared/favicon.ts";
import type { NodeState } from "#shared/node.ts";
import { clientBundle } from "./client-bundle.ts";
import type { Logger } from "../log.ts";
import type { NodeMetrics } from "../metrics.ts";
import type { SignalingServer } from "../signaling/signaling-server.ts";

const DEMO_HTML = new URL("../../public/demo.html", import.meta.url);

export interface HttpOptions {
  signaling: SignalingServer;
  metrics: NodeMetrics;
  state: () => NodeState;
  nodeId: string;
  serveDemo: boolean;
  /** "ok" | "unreachable" | "standalone": reported, never a reason to fail a health check (media
   * keeps flowing without Redis). */
  redis: () => string;
  log: Logger;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
}

function error(res: ServerResponse, status: number, code: ErrorCode, message: string): void {
  json(res, status, { error: { code, message } } satisfies ErrorBody);
}

export function createHttpServer(o: HttpOptions): Server {
  const server = createServer((req, res) => {
    // URL.parse, not new URL: a target like "//[" is a bad request, not an uncaught TypeError.
    const path = URL.parse(req.url ?? "/", "http://localhost")?.pathname;
    if (path === undefined) return error(res, 400, ErrorCode.BadRequest, "malformed request URL");
    if (req.method !== "GET" && req.method !== "HEAD") return error(res, 405, ErrorCode.BadRequest, "only GET");
    const route = async () => {
      switch (path) {
        case "/healthz":
          return json(res, 200, { status: "ok", node: o.nodeId, state: o.state(), redis: o.redis() });
        case "/readyz":
          return o.state() === "SERVING"
            ? json(res, 200, {
                status: o.redis() === "unreachable" ? "degraded" : "ready",
                node: o.nodeId,
                redis: o.redis(),
              })
            : error(res, 503, ErrorCode.Draining, "node is draining");
        case "/metrics": {
          const body = await o.metrics.registry.metrics();
          res.writeHead(200, { "content-type": o.metrics.registry.contentType });
          return res.end(body);
        }
        case "/demo":
        case "/client.js":
        case "/favicon.svg":
          if (!o.serveDemo) break;
          if (path === "/favicon.svg") {
            res.writeHead(200, { "content-type": "image/svg+xml", "cache-control": "max-age=86400" });
            return res.end(FAVICON_SVG);
          }
          if (path === "/demo") {
            res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
            return res.end(await readFile(DEMO_HTML));
          }
          res.writeHead(200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-store" });
          return res.end(await clientBundle());
      }
      error(res, 404, ErrorCode.NotFound, `no route ${path}`);
    };
    route().catch((err) => {
      o.log.error({ err, path }, "http handler failed");
      if (!res.headersSent) error(res, 500, ErrorCode.Internal, "internal error");
      else res.destroy();
    });
  });
  server.on("upgrade", (req, socket, head) => o.signaling.handleUpgrade(req, socket, head));
  return server;
}
