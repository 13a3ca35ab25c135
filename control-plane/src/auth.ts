// Access tokens on the API: LiveKit-style HS256 JWTs (shared/token.ts) in `Authorization: Bearer`
// (or, on /v1/join, the body's `token`), and LiveKit's grant rules per route. Never in the query
// string: URLs end up in proxies' and CDNs' logs. Only app tokens: a media token is refused
// (shared/token.ts TokenKind).
import type { Context } from "hono";
import { TokenError, verifyToken, type ApiKeys, type TokenClaims } from "#shared/token.ts";
import { forbidden, unauthorized } from "./errors.ts";

export function bearerToken(c: Context): string | undefined {
  const h = c.req.header("authorization");
  if (h) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    if (!m) throw unauthorized("Authorization header must be 'Bearer <token>'");
    return m[1];
  }
  return undefined;
}

export async function authenticate(token: string | undefined, keys: ApiKeys): Promise<TokenClaims> {
  try {
    return await verifyToken(token, keys, "app");
  } catch (e) {
    if (e instanceof TokenError) throw e.reason === "wrong_kind" ? forbidden(e.message) : unauthorized(e.message);
    throw e;
  }
}

export type AdminGrant = "roomCreate" | "roomList" | "roomAdmin";

/** roomAdmin is scoped to `video.room` when the token names one (LiveKit semantics). */
export function requireGrant(claims: TokenClaims, grant: AdminGrant, room?: string): void {
  if (claims.video[grant] !== true) throw forbidden(`token lacks the ${grant} grant`);
  if (grant === "roomAdmin" && room !== undefined && claims.video.room !== undefined && claims.video.room !== room)
    throw forbidden(`token's roomAdmin grant is for room ${claims.video.room}`);
}

export async function admin(c: Context, keys: ApiKeys, grant: AdminGrant, room?: string): Promise<TokenClaims> {
  const claims = await authenticate(bearerToken(c), keys);
  requireGrant(claims, grant, room);
  return claims;
}
