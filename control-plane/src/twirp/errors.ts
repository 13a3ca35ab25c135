// Twirp errors as LiveKit's server sends them: body {code, msg} with Content-Type exactly
// `application/json` (livekit-server-sdk reads the code only then), HTTP status per Twirp's table.
import { ErrorCode } from "#shared/errors.ts";
import { ApiError } from "../errors.ts";

export type TwirpCode =
  | "invalid_argument"
  | "malformed"
  | "unauthenticated"
  | "permission_denied"
  | "not_found"
  | "bad_route"
  | "already_exists"
  | "resource_exhausted"
  | "unavailable"
  | "internal";

const STATUS: Record<TwirpCode, number> = {
  invalid_argument: 400,
  malformed: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  bad_route: 404,
  already_exists: 409,
  resource_exhausted: 429,
  unavailable: 503,
  internal: 500,
};

/** Meridian's error codes (shared/errors.ts) in Twirp terms. A grant failure is `unauthenticated`
 * as in LiveKit (its twirpAuthError), not permission_denied. */
const FROM_API: Record<ErrorCode, TwirpCode> = {
  [ErrorCode.BadRequest]: "invalid_argument",
  [ErrorCode.Unauthorized]: "unauthenticated",
  [ErrorCode.Forbidden]: "unauthenticated",
  [ErrorCode.NotFound]: "not_found",
  [ErrorCode.Conflict]: "already_exists",
  [ErrorCode.NoNodes]: "unavailable",
  [ErrorCode.RedisUnavailable]: "unavailable",
  [ErrorCode.RegistryWarming]: "unavailable",
  [ErrorCode.WrongNode]: "unavailable",
  [ErrorCode.Draining]: "unavailable",
  [ErrorCode.Timeout]: "unavailable",
  [ErrorCode.NodeUnavailable]: "unavailable",
  [ErrorCode.RateLimited]: "resource_exhausted",
  [ErrorCode.QuotaExceeded]: "resource_exhausted",
  [ErrorCode.Internal]: "internal",
};

export class TwirpError extends Error {
  readonly code: TwirpCode;
  constructor(code: TwirpCode, msg: string) {
    super(msg);
    this.code = code;
  }

  static from(e: unknown): TwirpError {
    if (e instanceof TwirpError) return e;
    if (e instanceof ApiError) return new TwirpError(FROM_API[e.code] ?? "internal", e.message);
    return new TwirpError("internal", "internal error");
  }

  response(): Response {
    return new Response(JSON.stringify({ code: this.code, msg: this.message }), {
      status: STATUS[this.code],
      headers: { "content-type": "application/json" },
    });
  }
}
