// Wire format of the signaling bridge. Every node's inbox channel (keys.nodeBus) also carries
// control-plane messages such as {type:"room.delete"}, so bridge envelopes are tagged
// {t:"bridge", v:1} and everything else is handed on (or dropped) without being thrown at.
//
//   k      kind: open | accept | refuse | data | ping | ack | close, or hb (node-pair heartbeat)
//   s      session id (random UUID chosen by the signal side)
//   f      sender node id (replies go to keys.nodeBus(f))
//   r      sender role: "s" signal side, "h" hosting side (a node can be both, even for itself)
//   q, m   data: sequence number of m[0], then the frames in order
//   a      cumulative ack: highest sequence number delivered in order (piggybacked on data/ping)
//   c, w   refuse/close: close code and reason
//   e, n, d hb: sender endpoint's epoch, count and digest of the sessions it holds open with the
//          receiver (see peers.ts); hb carries no session id
import { z } from "zod";
import { isValidCloseCode, MAX_REASON_BYTES } from "./codes.ts";

export const BRIDGE_TAG = "bridge";
export const BRIDGE_VERSION = 1;

const Seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const CloseCode = z.number().int().refine(isValidCloseCode, "invalid close code");
// Byte limits are enforced on the whole envelope before parsing; this keeps one field from hogging it.
const Reason = z.string().max(MAX_REASON_BYTES);

export const BridgeInit = z.strictObject({
  /** What the signal node vouches for (opaque here): the media node sends the claims of the
   *  client's token, which it verified, never the token itself (media-node/src/join-assertion.ts).
   *  The envelope carrying it is authenticated as from that node (shared/bus.ts). */
  assertion: z.string().min(1).max(16_384),
  /** Query parameters of the client's WebSocket URL (e.g. reconnect hints). */
  query: z.record(z.string().max(256), z.string().max(4_096)).optional(),
  /** The client's address as the signal node saw it. */
  remoteAddress: z.string().max(256).optional(),
});
export type BridgeInit = z.infer<typeof BridgeInit>;

const head = {
  t: z.literal(BRIDGE_TAG),
  v: z.literal(BRIDGE_VERSION),
  s: z.uuid(),
  f: z.string().min(1).max(128),
};

export const Envelope = z.discriminatedUnion("k", [
  z.object({ ...head, k: z.literal("open"), r: z.literal("s"), init: BridgeInit }),
  z.object({ ...head, k: z.literal("accept"), r: z.literal("h") }),
  z.object({ ...head, k: z.literal("refuse"), r: z.literal("h"), c: CloseCode, w: Reason }),
  z.object({
    ...head,
    k: z.literal("data"),
    r: z.enum(["s", "h"]),
    q: Seq.min(1),
    m: z.array(z.string()).min(1),
    a: Seq,
  }),
  z.object({ ...head, k: z.literal("ping"), r: z.enum(["s", "h"]), a: Seq }),
  z.object({ ...head, k: z.literal("ack"), r: z.enum(["s", "h"]), a: Seq }),
  z.object({ ...head, k: z.literal("close"), r: z.enum(["s", "h"]), c: CloseCode, w: Reason }),
  z.object({
    t: head.t,
    v: head.v,
    f: head.f,
    k: z.literal("hb"),
    e: z.string().min(1).max(64),
    n: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    d: z.number().int().min(0).max(0xffff_ffff),
  }),
]);
export type Envelope = z.infer<typeof Envelope>;
/** Envelopes that belong to one session (everything but the node-pair heartbeat). */
export type SessionEnvelope = Exclude<Envelope, { k: "hb" }>;
export type Role = "s" | "h";

/** An envelope minus the fields the endpoint stamps on every send. */
export type Outgoing = Envelope extends infer E ? (E extends Envelope ? Omit<E, "t" | "v" | "f"> : never) : never;

export type Inbound =
  | { kind: "bridge"; env: Envelope }
  | { kind: "foreign"; msg: Record<string, unknown> }
  | { kind: "invalid"; why: "too_large" | "not_json" | "not_object" | "bad_envelope" };

/** Classifies one inbox message. Pure; never throws. */
export function parseInbound(raw: string, maxBytes: number): Inbound {
  // Cheap length check first (chars ≤ bytes), the exact one only when it could matter.
  if (raw.length > maxBytes || (raw.length * 3 > maxBytes && Buffer.byteLength(raw) > maxBytes)) {
    return { kind: "invalid", why: "too_large" };
  }
  let msg: unknown;
  try {
    msg = JSON.parse(raw);
  } catch {
    return { kind: "invalid", why: "not_json" };
  }
  if (typeof msg !== "object" || msg === null || Array.isArray(msg)) return { kind: "invalid", why: "not_object" };
  if ((msg as { t?: unknown }).t !== BRIDGE_TAG) return { kind: "foreign", msg: msg as Record<string, unknown> };
  const parsed = Envelope.safeParse(msg);
  return parsed.success ? { kind: "bridge", env: parsed.data } : { kind: "invalid", why: "bad_envelope" };
}

export function encode(from: string, out: Outgoing): string {
  return JSON.stringify({ t: BRIDGE_TAG, v: BRIDGE_VERSION, f: from, ...out });
}
