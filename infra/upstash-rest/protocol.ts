// The Upstash REST protocol as @upstash/redis speaks it, minus the transport: request shapes and
// result encoding. Pure, so the server stays a thin adapter.

export type Command = (string | number)[];

/** Commands a shared bridge connection must never run: they block it or change its state for
 * every other caller (the real Upstash serves them from dedicated paths or not at all). */
const REFUSED = new Set([
  "BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP", "WAIT", "WAITAOF",
  "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE", "MONITOR",
  "SELECT", "QUIT", "RESET", "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH", "CLIENT", "SHUTDOWN",
]);

export class BadRequest extends Error {}

function isCommand(v: unknown): v is Command {
  return (
    Array.isArray(v) &&
    v.length > 0 &&
    typeof v[0] === "string" &&
    v.every((a) => typeof a === "string" || (typeof a === "number" && Number.isFinite(a)))
  );
}

export function parseCommand(body: unknown): Command {
  if (!isCommand(body)) throw new BadRequest("ERR request body must be a non-empty JSON array of strings/numbers");
  const name = String(body[0]).toUpperCase();
  if (REFUSED.has(name) || (name === "XREAD" || name === "XREADGROUP") && body.some((a) => String(a).toUpperCase() === "BLOCK"))
    throw new BadRequest(`ERR command '${body[0]}' is not allowed through the REST bridge`);
  return [name, ...body.slice(1)];
}

export function parseCommands(body: unknown): Command[] {
  if (!Array.isArray(body) || body.length === 0) throw new BadRequest("ERR request body must be a non-empty JSON array of commands");
  return body.map(parseCommand);
}

/** Redis reply (ioredis buffer mode) → JSON value; with base64 every string, nested ones too. */
export function encodeReply(v: unknown, base64: boolean): unknown {
  if (Buffer.isBuffer(v)) return base64 ? v.toString("base64") : v.toString("utf8");
  if (typeof v === "string") return base64 ? Buffer.from(v, "utf8").toString("base64") : v;
  if (Array.isArray(v)) return v.map((x) => encodeReply(x, base64));
  if (v instanceof Error) return v.message;
  return v ?? null;
}
