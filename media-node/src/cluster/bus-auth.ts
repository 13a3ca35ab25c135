// Authentication of the node bus on a media node (wire format and rules: shared/bus.ts): signs what
// this node publishes and opens what arrives on its inbox, synchronously (node:crypto), so the
// bridge keeps its delivery order. Rejections are counted by reason and never throw.
import { createHmac, createSecretKey, hkdfSync, randomBytes, timingSafeEqual, type KeyObject } from "node:crypto";
import { BUS_HKDF, ReplayGuard, macInput, sealed, unseal, type BusOpened, type BusRejection } from "#shared/bus.ts";
import type { ApiKeys } from "#shared/token.ts";

/** The bus key of one API secret (HKDF-SHA256; the same bytes as shared/bus.ts deriveBusKey). */
export function deriveBusKeySync(apiSecret: string): Buffer {
  return Buffer.from(hkdfSync("sha256", apiSecret, BUS_HKDF.salt, BUS_HKDF.info, BUS_HKDF.bytes));
}

/** Nonces of one process: a random prefix and a counter — unique per sender without a system call
 *  per message (the replay cache keys on sender + nonce). */
function nonceSource(): () => string {
  const prefix = randomBytes(12).toString("base64url");
  let n = 0;
  return () => prefix + (n++).toString(36);
}

export class BusAuth {
  readonly from: string;
  private readonly keys: Map<string, KeyObject>;
  private readonly nonce = nonceSource();
  private readonly signKid: string;
  private readonly replay: ReplayGuard;
  readonly rejected: Record<BusRejection, number> = {
    unsigned: 0,
    malformed: 0,
    unknown_key: 0,
    bad_mac: 0,
    stale: 0,
    replayed: 0,
  };

  /** `from`: this node's id, stamped on (and authenticated in) everything it sends. */
  constructor(apiKeys: ApiKeys, from: string, replay = new ReplayGuard()) {
    this.from = from;
    // KeyObjects: createHmac with a raw Buffer key would import it again on every message.
    this.keys = new Map([...apiKeys].map(([kid, secret]) => [kid, createSecretKey(deriveBusKeySync(secret))]));
    this.signKid = apiKeys.keys().next().value!;
    this.replay = replay;
  }

  seal(channel: string, payload: string, now = Date.now()): string {
    const nonce = this.nonce();
    const mac = createHmac("sha256", this.keys.get(this.signKid)!)
      .update(macInput(this.signKid, this.from, now, nonce, channel, payload))
      .digest("base64url");
    return sealed(this.signKid, this.from, now, nonce, mac, payload);
  }

  /** The sender and payload of a message that arrived on `channel`, or why it is refused. */
  open(channel: string, raw: string, now = Date.now()): BusOpened | BusRejection {
    const r = this.check(channel, raw, now);
    if (typeof r === "string") this.rejected[r]++;
    return r;
  }

  private check(channel: string, raw: string, now: number): BusOpened | BusRejection {
    const p = unseal(raw);
    if (typeof p === "string") return p;
    const key = this.keys.get(p.kid);
    if (!key) return "unknown_key";
    const want = createHmac("sha256", key)
      .update(macInput(p.kid, p.from, p.ts, p.nonce, channel, p.payload))
      .digest();
    const got = Buffer.from(p.mac, "base64url");
    if (got.length !== want.length || !timingSafeEqual(got, want)) return "bad_mac";
    // Only an authentic message may take a slot in the replay cache.
    const fresh = this.replay.admit(p.from, p.ts, p.nonce, now);
    if (fresh !== "ok") return fresh;
    return { from: p.from, payload: p.payload };
  }
}
