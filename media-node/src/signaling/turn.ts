// TURN servers handed to clients in the join response, with time-limited credentials (the TURN
// REST scheme coturn implements with `use-auth-secret` / `static-auth-secret`): the username is
// `<unix expiry>:<user>`, the credential base64(HMAC-SHA1(secret, username)). The node and the TURN
// server share the secret; a client never sees it, and its credentials stop working at the expiry.
import { createHmac } from "node:crypto";
import type { IceServer } from "#shared/protocol.ts";

export interface TurnConfig {
  /** turn:/turns: URIs, e.g. `turn:turn.example.com:3478?transport=udp`. */
  urls: string[];
  secret: string;
  ttlSec: number;
}

/** Pure: the TURN REST credentials of `user`, valid until now + ttl. */
export function turnCredentials(
  secret: string,
  user: string,
  ttlSec: number,
  nowMs = Date.now(),
): { username: string; credential: string } {
  const username = `${Math.floor(nowMs / 1000) + ttlSec}:${user}`;
  return { username, credential: createHmac("sha1", secret).update(username).digest("base64") };
}

/** Pure: the join response's `iceServers` for a participant (its sid names it to the TURN server:
 * no user-chosen string, and no identity in the TURN server's logs). */
export function iceServersFor(
  turn: TurnConfig | undefined,
  participantSid: string,
  nowMs = Date.now(),
): IceServer[] | undefined {
  if (!turn || turn.urls.length === 0) return undefined;
  return [{ urls: turn.urls, ...turnCredentials(turn.secret, participantSid, turn.ttlSec, nowMs) }];
}
