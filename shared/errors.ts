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
  WrongNode: "wrong_node",
  Draining: "node_draining",
  Timeout: "timeout",
  RateLimited: "rate_limited",
  Internal: "internal",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}
