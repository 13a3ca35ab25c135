// What a signaling connection runs over: the client's WebSocket on this node, or a session
// bridged over Redis from the client's signal node. The signaling code (signaling/signaling-server.ts) sees only
// this interface, so a bridged participant goes through exactly the same code as a local one.
import { WebSocket } from "ws";
import { BridgeCloseCode, clampReason, type BridgeSession } from "../bridge/index.ts";

export interface SignalTransport {
  /** Where the connection's client really is: this node's id, or the id of the node bridging it. */
  readonly signalNode: string;
  readonly isOpen: boolean;
  /** Bytes queued for the client and not yet handed to the network (or acked by the peer node). */
  readonly bufferedAmount: number;
  send(frame: string): void;
  /** Orderly close; the code reaches the client (a bridged one through its signal node). */
  close(code: number, reason: string): void;
  /** Close of a hostile client (flood, not reading): the code is sent, but the node stops reading
   *  and drops the connection shortly after, whether or not the client answers. */
  cut(code: number, reason: string): void;
  /** Abrupt end (heartbeat failure, shutdown). */
  terminate(): void;
}

/** After the node closes a socket, the client has this long to complete the close handshake. */
const CLOSE_GRACE_MS = 1_000;

export function wsTransport(ws: WebSocket, nodeId: string): SignalTransport {
  return {
    signalNode: nodeId,
    get isOpen() {
      return ws.readyState === WebSocket.OPEN;
    },
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
    send: (frame) => ws.send(frame),
    // ws throws on a reason over 123 bytes; the bridge session clamps its own the same way.
    close: (code, reason) => ws.close(code, clampReason(reason)),
    cut: (code, reason) => {
      ws.close(code, clampReason(reason));
      // Nothing the client sends matters any more (a flooder's frames would still be parsed by
      // ws), and a client that does not read never answers the close: ws would hold the socket
      // and its queue for 30 s. Stop reading and cut it after a short grace instead.
      ws.pause();
      setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
    },
    terminate: () => ws.terminate(),
  };
}

export function bridgeTransport(session: BridgeSession): SignalTransport {
  return {
    signalNode: session.peerNodeId,
    get isOpen() {
      return session.state === "open";
    },
    get bufferedAmount() {
      return session.bufferedAmount;
    },
    // A frame that overflows the session's bounded queue closes the session (Overflow): the
    // client is told through its signal node and rejoins.
    send: (frame) => void session.send(frame),
    close: (code, reason) => session.close(code, reason),
    cut: (code, reason) => session.close(code, reason),
    // The client's signal node turns this into a close its client library rejoins on.
    terminate: () => session.abort(BridgeCloseCode.EndpointClosed, true),
  };
}
