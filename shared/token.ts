// Access tokens: HS256 JWTs with LiveKit's claim shape (iss = API key, sub = identity, `video`
// grant), so LiveKit server SDKs can mint tokens Meridian accepts. Media tokens, minted by the
// control plane on join, add a `meridian` claim naming the hosting node.
import { SignJWT, jwtVerify, errors as joseErrors } from "jose";
import { z } from "zod";
import {
  API_KEY_MAX,
  TOKEN_MAX_CHARS,
  DisplayName,
  Identity,
  PublishSources,
  RoomName,
  TokenMetadata,
} from "./limits.ts";

export const VideoGrant = z
  .object({
    roomCreate: z.boolean().optional(),
    roomList: z.boolean().optional(),
    roomAdmin: z.boolean().optional(),
    roomJoin: z.boolean().optional(),
    room: RoomName.optional(),
    canPublish: z.boolean().optional(),
    canSubscribe: z.boolean().optional(),
    canPublishData: z.boolean().optional(),
    canPublishSources: PublishSources.optional(),
    hidden: z.boolean().optional(),
  })
  .strip();
export type VideoGrant = z.infer<typeof VideoGrant>;

export const MediaClaim = z.object({
  /** Node hosting the room when the token was minted. */
  node: z.string().min(1),
  region: z.string().min(1),
  /** The room's sid when the token was minted (shared/keys.ts room:<name>): a node refuses the
   * token once the room has another sid or none (deleted). Absent only in tokens minted outside
   * the control plane by a holder of the API secret (tools, tests). */
  roomSid: z.string().min(1).max(64).optional(),
});
export type MediaClaim = z.infer<typeof MediaClaim>;

export const TokenClaims = z.object({
  iss: z.string().min(1).max(API_KEY_MAX),
  sub: Identity.optional(),
  name: DisplayName.optional(),
  metadata: TokenMetadata.optional(),
  /** LiveKit participant attributes (key → value); the token's size bounds them. */
  attributes: z.record(z.string().max(256), z.string()).optional(),
  exp: z.number(),
  nbf: z.number().optional(),
  iat: z.number().optional(),
  video: VideoGrant.default({}),
  meridian: MediaClaim.optional(),
});
export type TokenClaims = z.infer<typeof TokenClaims>;

/** API key → secret. Parsed from "key1:secret1,key2:secret2" (env / wrangler secret). */
export type ApiKeys = ReadonlyMap<string, string>;

export function parseApiKeys(spec: string): ApiKeys {
  const keys = new Map<string, string>();
  for (const pair of spec
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const i = pair.indexOf(":");
    if (i <= 0 || i === pair.length - 1) throw new Error("API keys must look like key:secret[,key:secret]");
    const key = pair.slice(0, i).trim();
    // a longer key could sign tokens that verification then refuses (TokenClaims.iss)
    if (key.length > API_KEY_MAX) throw new Error(`API keys are at most ${API_KEY_MAX} characters`);
    keys.set(key, pair.slice(i + 1).trim());
  }
  if (keys.size === 0) throw new Error("no API keys configured");
  return keys;
}

export const CLOCK_LEEWAY_S = 60;
const encoder = new TextEncoder();

export interface MintOptions {
  apiKey: string;
  apiSecret: string;
  identity?: string;
  name?: string;
  metadata?: string;
  attributes?: Record<string, string>;
  /** LiveKit's webhook claim: base64 SHA-256 of the signed request body. */
  sha256?: string;
  video: VideoGrant;
  meridian?: MediaClaim;
  ttlSeconds: number;
  /** Override "now" (seconds) for tests. */
  now?: number;
}

export async function mintToken(o: MintOptions): Promise<string> {
  const now = o.now ?? Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = { video: o.video };
  if (o.name !== undefined) payload.name = o.name;
  if (o.metadata !== undefined) payload.metadata = o.metadata;
  if (o.attributes !== undefined) payload.attributes = o.attributes;
  if (o.meridian !== undefined) payload.meridian = o.meridian;
  if (o.sha256 !== undefined) payload.sha256 = o.sha256;
  const jwt = new SignJWT(payload)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(o.apiKey)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + o.ttlSeconds);
  if (o.identity !== undefined) jwt.setSubject(o.identity);
  return jwt.sign(encoder.encode(o.apiSecret));
}

export type TokenFailure =
  | "missing"
  | "malformed"
  | "unknown_key"
  | "bad_signature"
  | "expired"
  | "invalid_claims"
  | "wrong_kind";

/** App tokens (minted by the application, no `meridian` claim) are what the control plane takes;
 * media tokens (minted by the control plane on join, with the claim) are what cluster nodes take.
 * Each is refused where the other is expected: a media token exchanged at /v1/join would renew
 * itself forever. "any": standalone nodes, which have no control plane. */
export type TokenKind = "app" | "media" | "any";

export class TokenError extends Error {
  readonly reason: TokenFailure;
  constructor(reason: TokenFailure, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** Verifies signature (by the key named in `iss`), time window with leeway, claim shape (the
 * shared limits and name rules, shared/limits.ts) and the token's kind. */
export async function verifyToken(
  token: string | undefined | null,
  keys: ApiKeys,
  kind: TokenKind,
): Promise<TokenClaims> {
  if (!token) throw new TokenError("missing", "no access token");
  if (token.length > TOKEN_MAX_CHARS)
    throw new TokenError("malformed", `access token longer than ${TOKEN_MAX_CHARS} characters`);
  const parts = token.split(".");
  if (parts.length !== 3) throw new TokenError("malformed", "access token is not a JWT");
  let iss: unknown;
  try {
    iss = JSON.parse(atob(parts[1]!.replace(/-/g, "+").replace(/_/g, "/")))?.iss;
  } catch {
    throw new TokenError("malformed", "access token payload is not JSON");
  }
  const secret = typeof iss === "string" ? keys.get(iss) : undefined;
  if (secret === undefined) throw new TokenError("unknown_key", "access token names an unknown API key");
  let payload: unknown;
  try {
    ({ payload } = await jwtVerify(token, encoder.encode(secret), {
      algorithms: ["HS256"],
      clockTolerance: CLOCK_LEEWAY_S,
    }));
  } catch (e) {
    if (e instanceof joseErrors.JWTExpired) throw new TokenError("expired", "access token expired");
    if (e instanceof joseErrors.JWSSignatureVerificationFailed)
      throw new TokenError("bad_signature", "access token signature is invalid");
    throw new TokenError("malformed", `access token rejected: ${(e as Error).message}`);
  }
  const parsed = TokenClaims.safeParse(payload);
  if (!parsed.success) {
    const why = parsed.error.issues
      .slice(0, 2)
      .map((i) => `${i.path.join(".")}: ${i.message}`)
      .join("; ");
    throw new TokenError("invalid_claims", `access token claims are invalid (${why})`);
  }
  const isMedia = parsed.data.meridian !== undefined;
  if (kind === "app" && isMedia)
    throw new TokenError("wrong_kind", "a media token is not an app token: join with the application's token");
  if (kind === "media" && !isMedia)
    throw new TokenError("wrong_kind", "token was not minted for a media node (no meridian claim)");
  return parsed.data;
}
