// Close codes of a bridged signaling session, in the WebSocket application range (4000-4999) so
// the signal node can forward them to the client's socket unchanged. 4100-4199 is the bridge's
// block; the signaling server owns the rest of 4000-4999. Clients switch on the code, never on
// the reason text.
export const BridgeCloseCode = {
  /** Orderly close by either side (WebSocket "normal closure"). */
  Normal: 1000,
  /** The peer node stopped answering (died, partitioned) for longer than peerTimeoutMs. */
  PeerTimeout: 4100,
  /** The hosting node never answered the session open within openTimeoutMs. */
  OpenTimeout: 4101,
  /** The send queue exceeded its frame or byte bound: the peer is not draining it. */
  Overflow: 4102,
  /** A frame exceeded maxFrameBytes. */
  MessageTooBig: 4103,
  /** The peer has no such session (it restarted or already dropped it). */
  SessionUnknown: 4104,
  /** Refused by the hosting node: it does not host the room (the mapping moved). */
  WrongNode: 4105,
  /** Refused or closed by the hosting node because it is draining. */
  Draining: 4106,
  /** Refused by the hosting node for another reason (bad token, handler failure, no handler). */
  Refused: 4107,
  /** The local or remote bridge endpoint shut down. */
  EndpointClosed: 4108,
  /** This node could not reach Redis for longer than the outage grace period. */
  RedisUnavailable: 4109,
  /** The peer violated the bridge protocol. */
  ProtocolError: 4110,
} as const;
export type BridgeCloseCode = (typeof BridgeCloseCode)[keyof typeof BridgeCloseCode];

export const bridgeCloseReason: Record<BridgeCloseCode, string> = {
  [BridgeCloseCode.Normal]: "closed",
  [BridgeCloseCode.PeerTimeout]: "peer node stopped answering",
  [BridgeCloseCode.OpenTimeout]: "hosting node did not answer the session open",
  [BridgeCloseCode.Overflow]: "bridge send queue overflow",
  [BridgeCloseCode.MessageTooBig]: "bridge frame too large",
  [BridgeCloseCode.SessionUnknown]: "peer node has no such session",
  [BridgeCloseCode.WrongNode]: "room is not hosted on this node",
  [BridgeCloseCode.Draining]: "node is draining",
  [BridgeCloseCode.Refused]: "session refused",
  [BridgeCloseCode.EndpointClosed]: "bridge endpoint shut down",
  [BridgeCloseCode.RedisUnavailable]: "redis unavailable",
  [BridgeCloseCode.ProtocolError]: "bridge protocol error",
};

/** The signal node should look up the room's hosting node again (once) and open a new session. */
export function shouldReResolve(code: number): boolean {
  return code === BridgeCloseCode.WrongNode || code === BridgeCloseCode.Draining;
}

/** The client should rejoin through the control plane: its session is gone but the room may live on. */
export function shouldReconnect(code: number): boolean {
  switch (code) {
    case BridgeCloseCode.PeerTimeout:
    case BridgeCloseCode.OpenTimeout:
    case BridgeCloseCode.SessionUnknown:
    case BridgeCloseCode.WrongNode:
    case BridgeCloseCode.Draining:
    case BridgeCloseCode.EndpointClosed:
    case BridgeCloseCode.RedisUnavailable:
    case BridgeCloseCode.ProtocolError:
      return true;
    default:
      return false;
  }
}

/** Codes a session may be closed with: WebSocket's normal closure or the registered/private ranges. */
export function isValidCloseCode(code: number): boolean {
  return Number.isInteger(code) && (code === 1000 || (code >= 3000 && code <= 4999));
}

/** WebSocket limits close reasons to 123 UTF-8 bytes. */
export const MAX_REASON_BYTES = 123;

export function clampReason(reason: string): string {
  if (Buffer.byteLength(reason) <= MAX_REASON_BYTES) return reason;
  let out = reason.slice(0, MAX_REASON_BYTES);
  while (Buffer.byteLength(out) > MAX_REASON_BYTES) out = out.slice(0, -1);
  return out;
}
