// Liveness is a property of the node PAIR, not of each session: an endpoint sends one heartbeat
// per interval to every peer node it shares sessions with, and any envelope from a peer proves it
// alive for all of them. Idle sessions therefore cost nothing per session.
//
// A heartbeat also says which sessions the sender believes open with the receiver, as a count and
// an order-free digest (XOR of 32 random bits of each session's UUID). The receiver compares it
// with its own view; a peer that restarted (new epoch) or silently dropped sessions (a close lost
// while its Redis connection was down) shows up as a mismatch. A mismatch is resolved by one
// per-session ping to each open session with that peer ("probe"); the peer answers pings for
// sessions it does not have with SessionUnknown (or the tombstoned code), closing exactly those.
// Heartbeats crossing an open or close in flight mismatch for one interval, so only a mismatch
// seen twice in a row probes, and probes are rate-limited per peer.
import type { BridgeSession } from "./session.ts";

export interface SessionDigest {
  /** Sessions the sender holds open with the receiver. */
  n: number;
  /** XOR over those sessions of the first 32 bits of their (random) UUIDs. */
  d: number;
}

/** Digest of the open sessions in `sessions`. Pure. */
export function digestOf(sessions: Iterable<Pick<BridgeSession, "id" | "state">>): SessionDigest {
  let n = 0;
  let d = 0;
  for (const s of sessions) {
    if (s.state !== "open") continue;
    n++;
    d = (d ^ Number.parseInt(s.id.slice(0, 8), 16)) >>> 0;
  }
  return { n, d };
}

export function sameDigest(a: SessionDigest, b: SessionDigest): boolean {
  return a.n === b.n && a.d === b.d;
}

/** What an endpoint knows about one peer node it shares sessions with. */
export class Peer {
  readonly id: string;
  readonly sessions = new Set<BridgeSession>();
  /** Last time any bridge envelope from this peer arrived (or a fresh window began). */
  lastHeard: number;
  lastHeartbeatSent = 0;
  /** The peer endpoint's incarnation, from its heartbeats; a change means it restarted. */
  epoch: string | undefined;
  /** Consecutive heartbeats whose digest disagreed with ours. */
  mismatches = 0;
  lastProbe = 0;
  /** Whether it is dead is being asked (BridgeEndpoint.onSilentPeer): one question at a time. */
  asking = false;

  constructor(id: string, now: number) {
    this.id = id;
    this.lastHeard = now;
  }

  /**
   * Takes a heartbeat's epoch and digest; says whether to probe every open session with the peer.
   * `probeGapMs` bounds how often a lingering mismatch may probe.
   */
  onHeartbeat(epoch: string, theirs: SessionDigest, now: number, probeGapMs: number): boolean {
    const restarted = this.epoch !== undefined && this.epoch !== epoch;
    this.epoch = epoch;
    if (sameDigest(theirs, digestOf(this.sessions))) {
      this.mismatches = 0;
      return false;
    }
    this.mismatches++;
    if (!restarted && (this.mismatches < 2 || now - this.lastProbe < probeGapMs)) return false;
    this.mismatches = 0;
    this.lastProbe = now;
    return true;
  }
}
