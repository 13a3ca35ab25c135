// Close codes of a bridged signaling session: the codes themselves are in shared/protocol.ts (the
// client sees them, forwarded unchanged); their reasons and the bridge's own rules are here.
import { BridgeCloseCode } from "#shared/protocol.ts";

export { BridgeCloseCode, shouldReconnect } from "#shared/protocol.ts";

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
