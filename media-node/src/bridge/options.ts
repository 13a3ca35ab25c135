// Tunables of the signaling bridge. Defaults suit signaling traffic (small, bursty, latency-bound)
// over a Redis a few ms away; tests shrink the timeouts.
import { NODE_TTL_MS } from "#shared/node.ts";

export interface BridgeOptions {
  /** Largest frame (UTF-8 bytes) a session carries; larger sends close it with MessageTooBig. */
  maxFrameBytes: number;
  /** Frames queued while a publish is in flight are coalesced into batches up to this size. */
  maxBatchBytes: number;
  /** Bound on unacknowledged + unsent frames per session; exceeding it closes with Overflow. */
  maxQueuedFrames: number;
  /** Bound on unacknowledged + unsent bytes per session (also bounds the reorder buffer). */
  maxQueuedBytes: number;
  /** Frames ahead of the next expected one that are buffered; later ones are dropped (resent). */
  reorderWindow: number;
  /** A pure ack waits this long for reverse traffic to piggyback on. */
  ackDelayMs: number;
  /** ...but is sent at once after this many in-order frames, so a flooding sender can trim. */
  ackEveryFrames: number;
  /** First retransmission timeout; doubles up to maxRtoMs while nothing is acked. */
  initialRtoMs: number;
  maxRtoMs: number;
  /** Each peer node this endpoint shares sessions with gets one heartbeat this often (per node
   *  pair, not per session: idle sessions cost no publishes). */
  keepaliveIntervalMs: number;
  /** Silence from a peer node for this long closes every session with it with PeerTimeout. */
  peerTimeoutMs: number;
  /** A peer silent this long is asked about (onSilentPeer: Redis knows whether it missed its
   *  report); confirmed dead, its sessions close before peerTimeoutMs. */
  suspectAfterMs: number;
  /** The hosting node must accept or refuse within this long (OpenTimeout otherwise). */
  openTimeoutMs: number;
  /** While this node cannot reach Redis, peers are not timed out (silence is not their fault)
   *  for up to this long; then sessions close with RedisUnavailable. */
  redisOutageGraceMs: number;
  /** Bound on sessions per role per endpoint. */
  maxSessions: number;
  /** Closed session ids are remembered this long so late envelopes get the real close code. */
  tombstoneTtlMs: number;
  maxTombstones: number;
}

export const defaultBridgeOptions: BridgeOptions = {
  maxFrameBytes: 128 * 1024,
  maxBatchBytes: 128 * 1024,
  maxQueuedFrames: 1024,
  maxQueuedBytes: 4 * 1024 * 1024,
  reorderWindow: 256,
  ackDelayMs: 20,
  ackEveryFrames: 32,
  initialRtoMs: 400,
  maxRtoMs: 3_000,
  keepaliveIntervalMs: 1_000,
  // A dead hosting node is also gone from the registry after NODE_TTL_MS; telling its bridged
  // clients to reconnect at about the same time lets their rejoin land on a live node.
  peerTimeoutMs: NODE_TTL_MS,
  // One heartbeat missed, and a half interval of slack.
  suspectAfterMs: 1_500,
  openTimeoutMs: 5_000,
  redisOutageGraceMs: 60_000,
  maxSessions: 10_000,
  tombstoneTtlMs: 30_000,
  maxTombstones: 10_000,
};

/** Largest inbox message accepted: a full batch where JSON escaping grew every byte to 6. */
export function maxEnvelopeBytes(o: BridgeOptions): number {
  return 6 * Math.max(o.maxBatchBytes, o.maxFrameBytes) + 32 * 1024;
}
