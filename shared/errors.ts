// Stable error codes shared by the HTTP API and the signaling protocol. Clients switch on `code`,
// never on `message`.
export const ErrorCode = {
  BadRequest: "bad_request",
  Unauthorized: "unauthorized",
  Forbidden: "forbidden",
  NotFound: "not_found",
  Conflict: "conflict",
  NoNodes: "no_available_nodes",
  RedisUnavailable: "redis_unavailable",
  /** Redis came back empty moments ago: placing a room now could split it (HTTP 503 + Retry-After). */
  RegistryWarming: "registry_warming",
  WrongNode: "wrong_node",
  Draining: "node_draining",
  Timeout: "timeout",
  /** The room's hosting node did not answer a RoomService operation in time (HTTP 503). */
  NodeUnavailable: "node_unavailable",
  RateLimited: "rate_limited",
  /** The API key holds as many rooms as ROOMS_PER_API_KEY allows (HTTP 429). */
  QuotaExceeded: "quota_exceeded",
  Internal: "internal",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}
