// The node bus: each node's inbox channel (keys.nodeBus(id)). The control plane sends
// `room.delete` and `room.rpc` (a RoomService operation, answered on keys.rpcReply: room-admin.ts); the signaling bridge shares the channel with its own envelopes (tagged
// {t:"bridge"}, media-node/src/bridge/envelope.ts) and hands everything else here. Receivers ignore
// types they do not know (forward compatibility), so parse with `parseBusMessage` and skip
// `undefined`.
//
// Every message on the bus is authenticated (anyone holding the Redis credential can publish):
//
//   ["mb1", kid, from, ts, nonce, mac]\n<payload>
//
// mac = HMAC-SHA256(busKey(kid), "mb1\n" kid "\n" from "\n" ts "\n" nonce "\n" channel "\n" payload),
// base64url. `kid` names the API key whose secret the bus key is derived from (HKDF-SHA256, so the
// API secret itself is never a MAC key; several keys allow rotation), `from` is the sender (a node
// id, or CONTROL_PLANE), `ts` its clock in ms, `nonce` random, `channel` the recipient's inbox (a
// message cannot be replayed to another node). Receivers reject a bad MAC, a `ts` more than
// BUS_MAX_SKEW_MS away from their clock and a (from, nonce) seen before (ReplayGuard).
//
// This module runs in the Worker too: WebCrypto only (async). Media nodes sign and verify
// synchronously with node:crypto (media-node/src/bus-auth.ts) over the same `macInput`.
import { z } from "zod";
import { RoomName } from "./limits.ts";
import type { ApiKeys } from "./token.ts";
import { RoomRpcMessage } from "./room-admin.ts";

export const RoomDeleteMessage = z.object({ type: z.literal("room.delete"), room: RoomName });

export const NodeBusMessage = z.discriminatedUnion("type", [RoomDeleteMessage, RoomRpcMessage]);
export type NodeBusMessage = z.infer<typeof NodeBusMessage>;

/** `msg`: the raw channel message, or an object already JSON-parsed (the bridge endpoint does). */
export function parseBusMessage(msg: string | Record<string, unknown>): NodeBusMessage | undefined {
  try {
    const r = NodeBusMessage.safeParse(typeof msg === "string" ? JSON.parse(msg) : msg);
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

// ---- authentication ----------------------------------------------------------------------------

export const BUS_VERSION = "mb1";
/** Sender id of messages from the control plane (node ids are set by config; this one is reserved). */
export const CONTROL_PLANE = "control-plane";
/** A message whose timestamp is further than this from the receiver's clock is stale. */
export const BUS_MAX_SKEW_MS = 15_000;
/** (sender, nonce) pairs a receiver remembers; see ReplayGuard for what happens past it. */
export const BUS_REPLAY_CACHE = 200_000;
/** HKDF-SHA256 parameters of the bus key: fixed salt and info, so every side derives the same key. */
export const BUS_HKDF = { salt: "meridian/node-bus/v1", info: "hmac-sha256 node bus key", bytes: 32 } as const;

export type BusRejection = "unsigned" | "malformed" | "unknown_key" | "bad_mac" | "stale" | "replayed";

/** A verified message: who sent it and what it carries. */
export interface BusOpened {
  from: string;
  payload: string;
}

const NONCE = /^[A-Za-z0-9_-]{16,40}$/;
const MAC = /^[A-Za-z0-9_-]{43}$/;
const idField = (x: unknown): x is string => typeof x === "string" && x.length > 0 && x.length <= 128;

/** Pure: the header's shape ([version, kid, from, ts, nonce, mac]). Checked by hand, not with zod:
 *  it runs for every bus message before anything else and is six fixed fields. */
function isHeader(h: unknown): h is [string, string, string, number, string, string] {
  return (
    Array.isArray(h) &&
    h.length === 6 &&
    h[0] === BUS_VERSION &&
    idField(h[1]) &&
    idField(h[2]) &&
    Number.isSafeInteger(h[3]) &&
    (h[3] as number) >= 0 &&
    typeof h[4] === "string" &&
    NONCE.test(h[4]) &&
    typeof h[5] === "string" &&
    MAC.test(h[5])
  );
}

/** Pure: the bytes the MAC covers. */
export function macInput(
  kid: string,
  from: string,
  ts: number,
  nonce: string,
  channel: string,
  payload: string,
): string {
  return `${BUS_VERSION}\n${kid}\n${from}\n${ts}\n${nonce}\n${channel}\n${payload}`;
}

/** Pure: the wire form of a signed message. */
export function sealed(kid: string, from: string, ts: number, nonce: string, mac: string, payload: string): string {
  return `${JSON.stringify([BUS_VERSION, kid, from, ts, nonce, mac])}\n${payload}`;
}

export interface SealedParts {
  kid: string;
  from: string;
  ts: number;
  nonce: string;
  mac: string;
  payload: string;
}

/** Pure: splits a raw bus message into its header fields and payload; never throws. */
export function unseal(raw: string): SealedParts | BusRejection {
  if (!raw.startsWith(`["${BUS_VERSION}"`)) return "unsigned";
  const nl = raw.indexOf("\n");
  if (nl < 0 || nl > 512) return "malformed";
  let header: unknown;
  try {
    header = JSON.parse(raw.slice(0, nl));
  } catch {
    return "malformed";
  }
  if (!isHeader(header)) return "malformed";
  const [, kid, from, ts, nonce, mac] = header;
  return { kid, from, ts, nonce, mac, payload: raw.slice(nl + 1) };
}

/**
 * Remembers recent (sender, nonce) pairs so a captured message cannot be delivered twice. A message
 * is only accepted within BUS_MAX_SKEW_MS of the receiver's clock, so an entry is needed for at most
 * 2 x skew after it arrived; entries leave in arrival order. When the cache is full the oldest entry
 * goes and its timestamp becomes a floor: anything not newer is refused as stale (never accepted
 * twice, at the cost of refusing very late messages under an extreme message rate).
 */
export class ReplayGuard {
  private readonly seen = new Map<string, { ts: number; until: number }>();
  private floor = -Infinity;
  private readonly maxSkewMs: number;
  private readonly max: number;

  constructor(maxSkewMs = BUS_MAX_SKEW_MS, maxEntries = BUS_REPLAY_CACHE) {
    this.maxSkewMs = maxSkewMs;
    this.max = maxEntries;
  }

  get size(): number {
    return this.seen.size;
  }

  /** Checks and records; "ok" only the first time within the window. */
  admit(from: string, ts: number, nonce: string, now: number): "ok" | "stale" | "replayed" {
    for (const [k, e] of this.seen) {
      if (e.until > now) break;
      this.seen.delete(k);
    }
    if (Math.abs(now - ts) > this.maxSkewMs || ts <= this.floor) return "stale";
    const key = `${from}\n${nonce}`;
    if (this.seen.has(key)) return "replayed";
    if (this.seen.size >= this.max) {
      const [oldest, e] = this.seen.entries().next().value!;
      this.seen.delete(oldest);
      this.floor = Math.max(this.floor, e.ts);
      if (ts <= this.floor) return "stale";
    }
    this.seen.set(key, { ts, until: now + 2 * this.maxSkewMs });
    return "ok";
  }
}

const enc = new TextEncoder();

function b64url(bytes: ArrayBuffer | Uint8Array): string {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let s = "";
  for (const b of u8) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The bus key of one API secret (WebCrypto HKDF; byte-identical to node:crypto hkdfSync). */
export async function deriveBusKey(apiSecret: string): Promise<Uint8Array> {
  const ikm = await crypto.subtle.importKey("raw", enc.encode(apiSecret), "HKDF", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: enc.encode(BUS_HKDF.salt), info: enc.encode(BUS_HKDF.info) },
    ikm,
    BUS_HKDF.bytes * 8,
  );
  return new Uint8Array(bits);
}

/** Signs bus messages with the first API key's bus key (WebCrypto: the control plane's signer). */
export async function busSigner(
  apiKeys: ApiKeys,
  from: string,
): Promise<(channel: string, payload: string, now?: number) => Promise<string>> {
  const [kid, secret] = apiKeys.entries().next().value!;
  const key = await crypto.subtle.importKey(
    "raw",
    (await deriveBusKey(secret)) as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return async (channel, payload, now = Date.now()) => {
    const nonce = b64url(crypto.getRandomValues(new Uint8Array(12)));
    const mac = b64url(
      await crypto.subtle.sign("HMAC", key, enc.encode(macInput(kid, from, now, nonce, channel, payload))),
    );
    return sealed(kid, from, now, nonce, mac, payload);
  };
}
