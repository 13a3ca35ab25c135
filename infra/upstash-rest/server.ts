// A local stand-in for Upstash's REST API in front of a real redis-server, so miniflare, wrangler
// dev and the tests exercise @upstash/redis exactly as in production. Endpoints: POST / (one
// command), /pipeline, /multi-exec; Bearer auth; `Upstash-Encoding: base64`. It runs only what
// the control plane sends (protocol.ts ALLOWED_COMMANDS, and of scripts only the project's own).
// Errors: 401 bad auth, 400 bad request, refused command or Redis error reply, 503 when Redis
// itself is unreachable (so callers can tell "Redis said no" from "no Redis").
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createHash, timingSafeEqual } from "node:crypto";
import type { AddressInfo } from "node:net";
import { Redis, ReplyError } from "ioredis";
import { SCRIPTS } from "#shared/redis/scripts.ts";
import {
  BLOCKING_COMMANDS,
  BadRequest,
  encodeReply,
  parseCommand,
  parseCommands,
  scriptSha,
  type Command,
} from "./protocol.ts";

export interface UpstashRestOptions {
  redisUrl: string;
  token: string;
  port?: number;
  host?: string;
  /** Lua sources EVAL / EVALSHA may run (default: the project's scripts, shared/redis). */
  scripts?: Iterable<string>;
}

export interface UpstashRestStats {
  /** HTTP requests answered (each one Redis round trip: pipelines are written back to back). */
  requests: number;
  /** Redis commands executed. */
  commands: number;
}

export interface UpstashRest {
  readonly url: string;
  readonly stats: UpstashRestStats;
  close(): Promise<void>;
}

/** The Worker's largest request is a placement script call with the room's metadata: far below. */
const MAX_BODY = 1024 * 1024;
const MAX_BLOCKING = 256;
const MAX_IDLE_BLOCKING = 16;
const digest = (s: string) => createHash("sha256").update(s).digest();

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) reject(new BadRequest("ERR request body too large"));
      else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export async function startUpstashRest(o: UpstashRestOptions): Promise<UpstashRest> {
  if (!o.token) throw new Error("the Upstash REST stand-in needs a token (UPSTASH_REDIS_REST_TOKEN)");
  // Fail fast while Redis is down (no offline queue, no per-command retries) and keep
  // reconnecting in the background, like a managed Redis endpoint would.
  const redis = new Redis(o.redisUrl, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 100,
  });
  redis.on("error", () => {
    /* reported per request as 503 */
  });
  await redis.connect().catch(() => undefined);
  const expected = digest(o.token);
  const scripts = new Set([...(o.scripts ?? Object.values(SCRIPTS).map((s) => s.lua))].map(scriptSha));
  const stats: UpstashRestStats = { requests: 0, commands: 0 };

  const argv = (c: Command): [string, ...string[]] => [String(c[0]), ...c.slice(1).map(String)];
  const run = (c: Command) => redis.callBuffer(...argv(c));
  // Blocking commands (BLPOP...) hold their connection until they return, as Upstash holds the
  // HTTP request: each runs on a connection of its own, from a bounded pool of idle ones.
  const idle: Redis[] = [];
  let blocking = 0;
  async function runBlocking(c: Command): Promise<unknown> {
    if (blocking >= MAX_BLOCKING) throw new BadRequest(`ERR more than ${MAX_BLOCKING} blocking commands at once`);
    blocking++;
    let conn = idle.pop();
    if (!conn) {
      conn = redis.duplicate({ enableOfflineQueue: true });
      conn.on("error", () => undefined);
    }
    try {
      const out = await conn.callBuffer(...argv(c));
      if (idle.length < MAX_IDLE_BLOCKING) idle.push(conn);
      else conn.disconnect();
      return out;
    } catch (e) {
      conn.disconnect();
      throw e;
    } finally {
      blocking--;
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const auth = req.headers.authorization ?? "";
    const given = auth.startsWith("Bearer ") ? auth.slice(7) : "";
    if (!timingSafeEqual(digest(given), expected)) return send(res, 401, { error: "Unauthorized" });
    if (req.method !== "POST") return send(res, 405, { error: "ERR only POST is supported" });
    const base64 = String(req.headers["upstash-encoding"] ?? "").toLowerCase() === "base64";
    const path = (req.url ?? "/").split("?")[0]!.replace(/\/+$/, "") || "/";
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch (e) {
      throw e instanceof BadRequest ? e : new BadRequest("ERR request body is not JSON");
    }
    stats.requests++;
    if (path === "/") {
      const cmd = parseCommand(body, scripts);
      stats.commands++;
      const blockingCmd = BLOCKING_COMMANDS.has(String(cmd[0]));
      return send(res, 200, { result: encodeReply(await (blockingCmd ? runBlocking(cmd) : run(cmd)), base64) });
    }
    if (path === "/pipeline") {
      const cmds = parseCommands(body, scripts);
      stats.commands += cmds.length;
      const settled = await Promise.allSettled(cmds.map(run));
      if (settled.some((s) => s.status === "rejected" && !(s.reason instanceof ReplyError)))
        throw (settled.find((s) => s.status === "rejected") as PromiseRejectedResult).reason;
      return send(
        res,
        200,
        settled.map((s) =>
          s.status === "fulfilled" ? { result: encodeReply(s.value, base64) } : { error: (s.reason as Error).message },
        ),
      );
    }
    if (path === "/multi-exec") {
      const cmds = parseCommands(body, scripts);
      stats.commands += cmds.length;
      const tx = redis.multi();
      for (const c of cmds) tx.callBuffer(...argv(c));
      const results = (await tx.exec()) ?? [];
      return send(
        res,
        200,
        results.map(([err, value]) => (err ? { error: err.message } : { result: encodeReply(value, base64) })),
      );
    }
    return send(res, 404, { error: `ERR unknown endpoint ${path}` });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (e instanceof BadRequest || e instanceof ReplyError) return send(res, 400, { error: (e as Error).message });
      send(res, 503, { error: `Redis is unreachable: ${(e as Error).message}` });
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(o.port ?? 0, o.host ?? "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${o.host ?? "127.0.0.1"}:${port}`,
    stats,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      redis.disconnect();
      for (const c of idle) c.disconnect();
    },
  };
}
