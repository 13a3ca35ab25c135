// What a signaling connection runs over: the client's WebSocket on this node, or a session
// bridged over Redis from the client's signal node. The signaling code (signaling/signaling-server.ts) sees only
// this interface, so a bridged participant goes through exactly the same code as a local one.
import { WebSocket } from "ws";
import { BridgeCloseCode, clampReason, type BridgeSession } from "../bridge/index.ts";

export interface SignalTransport {
  /** Where the connection's client really is: this node's id, or the id of the node bridging it. */
  readonly signalNode: string;
  readonly isOpen: boolean;
  send(frame: string): void;
  /** Orderly close; the code reaches the client (a bridged one through its signal node). */
  close(code: number, reason: string): void;
  /** Abrupt end (heartbeat failure, shutdown). */
  terminate(): void;
}

export function wsTransport(ws: WebSocket, nodeId: string): SignalTransport {
  return {
    signalNode: nodeId,
    get isOpen() {
      return ws.readyState === WebSocket.OPEN;
    },
    send: (frame) => ws.send(frame),
    // ws throws on a reason over 123 bytes; the bridge session clamps its own the same way.
    close: (code, reason) => ws.close(code, clampReason(reason)),
    terminate: () => ws.terminate(),
  };
}

export function bridgeTransport(session: BridgeSession): SignalTransport {
  return {
    signalNode: session.peerNodeId,
    get isOpen() {
      return session.state === "open";
    },
    // A frame that overflows the session's bounded queue closes the session (Overflow): the
    // client is told through its signal node and rejoins.
    send: (frame) => void session.send(frame),
    close: (code, reason) => session.close(code, reason),
    // The client's signal node turns this into a close its client library rejoins on.
    terminate: () => session.abort(BridgeCloseCode.EndpointClosed, true),
  };
}
