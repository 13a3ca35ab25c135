// Access tokens on the API: LiveKit-style HS256 JWTs (shared/token.ts) in `Authorization: Bearer`
// (or `access_token` query, as LiveKit accepts), and LiveKit's grant rules per route.
import type { Context } from "hono";
import { TokenError, verifyToken, type ApiKeys, type TokenClaims } from "../../shared/token.ts";
import { forbidden, unauthorized } from "./errors.ts";

export function bearerToken(c: Context): string | undefined {
  const h = c.req.header("authorization");
  if (h) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    if (!m) throw unauthorized("Authorization header must be 'Bearer <token>'");
    return m[1];
  }
  return c.req.query("access_token") || undefined;
}

export async function authenticate(token: string | undefined, keys: ApiKeys): Promise<TokenClaims> {
  try {
    return await verifyToken(token, keys);
  } catch (e) {
    if (e instanceof TokenError) throw unauthorized(e.message);
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
