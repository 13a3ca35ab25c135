// API errors: `{error:{code,message}}` with the stable codes of shared/errors.ts.
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ErrorCode, type ErrorBody } from "#shared/errors.ts";

export class ApiError extends Error {
  readonly status: ContentfulStatusCode;
  readonly code: ErrorCode;
  readonly details: unknown;
  /** Response headers (Retry-After). */
  readonly headers: Record<string, string>;
  constructor(
    status: ContentfulStatusCode,
    code: ErrorCode,
    message: string,
    details?: unknown,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.headers = headers;
  }

  body(): ErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

export const badRequest = (message: string, details?: unknown) =>
  new ApiError(400, ErrorCode.BadRequest, message, details);
export const unauthorized = (message: string) => new ApiError(401, ErrorCode.Unauthorized, message);
export const forbidden = (message: string) => new ApiError(403, ErrorCode.Forbidden, message);
export const notFound = (message: string) => new ApiError(404, ErrorCode.NotFound, message);
export const conflict = (message: string) => new ApiError(409, ErrorCode.Conflict, message);
export const quotaExceeded = (limit: number) =>
  new ApiError(
    429,
    ErrorCode.QuotaExceeded,
    `this API key already has ${limit} rooms (ROOMS_PER_API_KEY); delete some or raise the quota`,
    { limit },
  );
export const noNodes = () => new ApiError(503, ErrorCode.NoNodes, "no media node is available to host the room");
export const redisUnavailable = (detail: string) =>
  new ApiError(503, ErrorCode.RedisUnavailable, `Redis is unreachable; try again shortly (${detail})`);
/** The registry is warming up after Redis came back empty (shared/placement.ts "warming"). */
export const registryWarming = (retryAfterMs: number) =>
  new ApiError(
    503,
    ErrorCode.RegistryWarming,
    "the node registry is re-syncing after a Redis restart; retry shortly",
    { retryAfterMs },
    { "retry-after": String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
  );
export const nodeUnavailable = (node: string, why: string) =>
  new ApiError(503, ErrorCode.NodeUnavailable, `node ${node} hosting the room ${why}`);
/** A rejoin names the room's host as failed and the host missed its report (placement "host_late"). */
export const hostLate = (node: string, retryAfterMs: number) =>
  new ApiError(
    503,
    ErrorCode.NodeUnavailable,
    `node ${node} hosting the room missed its report and this client cannot reach it; the room moves if it is gone, retry shortly`,
    { retryAfterMs },
    { "retry-after": String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
  );
export const misconfigured = (message: string) =>
  new ApiError(500, ErrorCode.Internal, `server misconfigured: ${message}`);
