// The one set of limits and name rules of Meridian, enforced where data enters (tokens, HTTP
// bodies and paths, signaling, bus messages) by the schemas below, so a value the control plane
// accepts is one every node accepts too (issue 12 findings 11 and 12). Documented in docs/limits.md.
import { z } from "zod";

/** Longest access token (app or media) in characters: the node's `join.token`, the Worker's body
 * `token` and `Authorization` header. A token can travel in a URL (`?access_token=`), where 8 KiB
 * is what common proxies accept. */
export const TOKEN_MAX_CHARS = 8192;
/** Longest room name, in UTF-16 code units (what JavaScript's `length` counts). */
export const ROOM_NAME_MAX = 128;
/** Longest participant identity (token `sub`). */
export const IDENTITY_MAX = 256;
/** Longest display name (token `name`). */
export const DISPLAY_NAME_MAX = 256;
/** Largest participant metadata a token may carry, in UTF-8 bytes of its JSON encoding (the form it
 * takes inside the token). The control plane copies it into the media token, which must stay under
 * TOKEN_MAX_CHARS (test/control-plane/limits.test.ts mints the largest possible one). */
export const TOKEN_METADATA_MAX_BYTES = 2048;
/** Largest room metadata (POST /v1/rooms), in characters; stored in Redis with the room. */
export const ROOM_METADATA_MAX = 16 * 1024;
/** Longest API key (token `iss`). */
export const API_KEY_MAX = 128;
/** At most this many entries in `canPublishSources`, each at most SOURCE_NAME_MAX long. */
export const PUBLISH_SOURCES_MAX = 8;
export const SOURCE_NAME_MAX = 32;

const utf8 = new TextEncoder();
/** Pure: bytes of `s` once JSON-encoded (escapes included), as inside a JWT payload. */
export const jsonBytes = (s: string): number => utf8.encode(JSON.stringify(s)).length;

// Characters no name may contain: controls (newline, NUL...), format characters (zero-width,
// bidi overrides: names that look alike but differ), lone surrogates, line/paragraph separators.
const FORBIDDEN = String.raw`\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}`;
const TRIMMED = String.raw`(?!\s)[\s\S]*(?<!\s)`;

/** Room names: 1–128 characters; no control, format or separator characters, no `/` or `\`, no
 * leading or trailing whitespace, not `.` or `..` — so every room a token can name is one the API
 * can address in a URL path (`/v1/rooms/{name}`) and a log line cannot be forged with it. */
export const ROOM_NAME_RE = new RegExp(String.raw`^(?!\.{1,2}$)(?=${TRIMMED}$)[^${FORBIDDEN}/\\]+$`, "u");
/** Identities: 1–256 characters; no control, format or separator characters, no leading or
 * trailing whitespace. */
export const IDENTITY_RE = new RegExp(`^(?=${TRIMMED}$)[^${FORBIDDEN}]+$`, "u");

export const RoomName = z
  .string()
  .min(1)
  .max(ROOM_NAME_MAX)
  .regex(
    ROOM_NAME_RE,
    "room names are 1-128 characters without control, format or line-separator characters, '/', '\\', surrounding whitespace, and not '.' or '..'",
  );

export const Identity = z
  .string()
  .min(1)
  .max(IDENTITY_MAX)
  .regex(
    IDENTITY_RE,
    "identities are 1-256 characters without control, format or line-separator characters or surrounding whitespace",
  );

export const DisplayName = z
  .string()
  .max(DISPLAY_NAME_MAX)
  .regex(new RegExp(`^[^${FORBIDDEN}]*$`, "u"), "names contain no control or format characters");

export const TokenMetadata = z
  .string()
  .refine(
    (s) => jsonBytes(s) <= TOKEN_METADATA_MAX_BYTES,
    `token metadata is at most ${TOKEN_METADATA_MAX_BYTES} bytes (JSON-encoded UTF-8)`,
  );

export const AccessToken = z.string().min(1).max(TOKEN_MAX_CHARS);

export const PublishSources = z.array(z.string().min(1).max(SOURCE_NAME_MAX)).max(PUBLISH_SOURCES_MAX);
