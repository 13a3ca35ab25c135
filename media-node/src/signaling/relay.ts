// The signal node's side of a bridged participant: the client's WebSocket is here, its room is on
// another node. Frames go both ways verbatim over a BridgeSession (the hosting node parses and
// answers them exactly as for a local socket); this side only authenticates, rate-limits and
// opens the session.
import { ErrorCode } from "#shared/errors.ts";
import { ProtocolError } from "#shared/protocol.ts";
import { BridgeCloseCode, type BridgeCloseEvent, type BridgeEndpoint, type BridgeSession } from "../bridge/index.ts";

/** The hosting node refused or dropped a bridged session before it opened. */
export class RelayRefused extends ProtocolError {
  /** The bridge close code, forwarded to the client's socket as is. */
  readonly closeCode: number;
  constructor(e: BridgeCloseEvent) {
    super(REFUSAL_ERROR[e.code] ?? ErrorCode.Internal, `hosting node: ${e.reason || "session refused"}`);
    this.closeCode = e.code;
  }
}

const REFUSAL_ERROR: Record<number, ErrorCode> = {
  [BridgeCloseCode.WrongNode]: ErrorCode.WrongNode,
  [BridgeCloseCode.Draining]: ErrorCode.Draining,
  [BridgeCloseCode.OpenTimeout]: ErrorCode.Timeout,
  [BridgeCloseCode.PeerTimeout]: ErrorCode.Timeout,
  [BridgeCloseCode.RedisUnavailable]: ErrorCode.RedisUnavailable,
  [BridgeCloseCode.Overflow]: ErrorCode.RateLimited,
  [BridgeCloseCode.Refused]: ErrorCode.Forbidden,
};

export interface RelayTarget {
  host: string;
  /** The client's verified claims, for the host (join-assertion.ts); never the token. */
  assertion: string;
  remoteAddress: string | undefined;
}

/**
 * Opens a session to the hosting node and queues `first` (the client's join frame) on it; resolves
 * once the host accepted, rejects with RelayRefused otherwise (WrongNode, Draining, OpenTimeout...).
 * `onFrame` is attached at once: the host's first frames can arrive together with its accept.
 * `hostRegistered` runs meanwhile: a host missing from the registry (dead) fails the open at once
 * instead of after the open timeout.
 */
export async function openRelay(
  bridge: BridgeEndpoint,
  t: RelayTarget,
  first: string,
  onFrame: (frame: string) => void,
  hostRegistered: (host: string) => Promise<boolean | undefined>,
): Promise<BridgeSession> {
  const session = bridge.open(t.host, {
    assertion: t.assertion,
    ...(t.remoteAddress ? { remoteAddress: t.remoteAddress.slice(0, 256) } : {}),
  });
  session.on("message", onFrame);
  session.send(first);
  const opened = new Promise<BridgeSession>((resolve, reject) => {
    const onClose = (e: BridgeCloseEvent) => reject(new RelayRefused(e));
    session.once("close", onClose);
    session.once("open", () => {
      session.off("close", onClose);
      resolve(session);
    });
  });
  void hostRegistered(t.host).then((registered) => {
    if (registered === false && session.state === "connecting")
      session.close(BridgeCloseCode.WrongNode, `node ${t.host} is not registered`);
  });
  return opened;
}
