// The signaling bridge's public surface; see endpoint.ts for how the pieces fit.
export {
  BridgeEndpoint,
  type BridgeEndpointConfig,
  type BridgeMetrics,
  type SessionHandler,
  type BridgeLogger,
} from "./endpoint.ts";
export { BridgeSession, type BridgeCloseEvent, type BridgeSessionState } from "./session.ts";
export { BridgeCloseCode, bridgeCloseReason, clampReason, shouldReconnect, shouldReResolve } from "./codes.ts";
export { BridgeInit } from "./envelope.ts";
export { defaultBridgeOptions, type BridgeOptions } from "./options.ts";
