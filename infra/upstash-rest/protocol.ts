// The Upstash REST protocol as @upstash/redis speaks it, minus the transport: request shapes and
// result encoding. Pure, so the server stays a thin adapter.
import { createHash } from "node:crypto";
import { keys } from "../../shared/keys.ts";

export type Command = (string | number)[];

/** What the REST stand-in runs: exactly the commands the control plane sends, nothing else. Every Redis
 * access of the Worker is a script (control-plane/src/redis.ts: EVALSHA, EVAL on NOSCRIPT);
 * bench/join-latency's baseline probe is one GET; PING is the health check; BLPOP on a RoomService
 * reply list (keys.rpcReply, control-plane/src/node-rpc.ts), alone and for at most 10 s, runs on
 * a connection of its own (server.ts) as Upstash holds the HTTP request. Anything else is
 * refused with 400: commands that change the shared connection for every caller (HELLO 3 made
 * half the other requests fail, SELECT, CLIENT, RESET), that block it (BLPOP, WAIT, SUBSCRIBE,
 * MONITOR, SYNC, PSYNC), or that wreck the data (FLUSHALL, SWAPDB, CONFIG, SAVE, KEYS, SCRIPT
 * FLUSH, DEBUG). */
export const ALLOWED_COMMANDS: ReadonlySet<string> = new Set(["EVALSHA", "EVAL", "GET", "PING", "BLPOP"]);
/** Commands that block their connection: single requests only (not in a pipeline). */
export const BLOCKING_COMMANDS: ReadonlySet<string> = new Set(["BLPOP"]);
const RPC_REPLY_PREFIX = keys.rpcReply("");
const MAX_BLOCK_SECONDS = 10;

/** Most commands in one /pipeline or /multi-exec request (the Worker sends single commands). */
export const MAX_COMMANDS = 100;

export class BadRequest extends Error {}

/** SHA1 (lower-case hex) of a script's source, as Redis names it for EVALSHA. */
export const scriptSha = (source: string) => createHash("sha1").update(source).digest("hex");

function isCommand(v: unknown): v is Command {
  return (
    Array.isArray(v) &&
    v.length > 0 &&
    typeof v[0] === "string" &&
    v.every((a) => typeof a === "string" || (typeof a === "number" && Number.isFinite(a)))
  );
}

export function parseCommand(body: unknown, scripts: ReadonlySet<string>): Command {
  if (!isCommand(body)) throw new BadRequest("ERR request body must be a non-empty JSON array of strings/numbers");
  const name = String(body[0]).toUpperCase();
  if (!ALLOWED_COMMANDS.has(name))
    throw new BadRequest(`ERR command '${String(body[0]).slice(0, 32)}' is not allowed through the REST stand-in`);
  if (name === "EVAL" || name === "EVALSHA") {
    const script = String(body[1] ?? "");
    const sha = name === "EVAL" ? scriptSha(script) : script.toLowerCase();
    if (!scripts.has(sha)) throw new BadRequest(`ERR only the control plane's scripts run through the REST stand-in`);
  }
  if (name === "BLPOP") {
    const timeout = Number(body[2]);
    if (
      body.length !== 3 ||
      !String(body[1]).startsWith(RPC_REPLY_PREFIX) ||
      !(timeout > 0 && timeout <= MAX_BLOCK_SECONDS)
    )
      throw new BadRequest(
        `ERR BLPOP is not allowed except alone on one RoomService reply list, for at most ${MAX_BLOCK_SECONDS} s`,
      );
  }
  return [name, ...body.slice(1)];
}

export function parseCommands(body: unknown, scripts: ReadonlySet<string>): Command[] {
  if (!Array.isArray(body) || body.length === 0)
    throw new BadRequest("ERR request body must be a non-empty JSON array of commands");
  if (body.length > MAX_COMMANDS) throw new BadRequest(`ERR at most ${MAX_COMMANDS} commands per request`);
  const cmds = body.map((c) => parseCommand(c, scripts));
  if (cmds.some((c) => BLOCKING_COMMANDS.has(String(c[0]))))
    throw new BadRequest("ERR blocking commands run alone, not in a pipeline");
  return cmds;
}

/** Redis reply (ioredis buffer mode) → JSON value; with base64 every string, nested ones too. */
export function encodeReply(v: unknown, base64: boolean): unknown {
  if (Buffer.isBuffer(v)) return base64 ? v.toString("base64") : v.toString("utf8");
  if (typeof v === "string") return base64 ? Buffer.from(v, "utf8").toString("base64") : v;
  if (Array.isArray(v)) return v.map((x) => encodeReply(x, base64));
  if (v instanceof Error) return v.message;
  return v ?? null;
}
