// The media token's grants: the app token's join grants, optionally narrowed by the join request.
// A request can drop a permission but never add one (shared/grants.ts decides).
import { narrowGrant, type GrantRequest } from "#shared/grants.ts";
import type { VideoGrant } from "#shared/token.ts";
import { forbidden } from "./errors.ts";

export function mediaGrants(token: VideoGrant, room: string, req: GrantRequest = {}): VideoGrant {
  const r = narrowGrant(token, req);
  if ("widens" in r) throw forbidden(`token does not allow ${r.widens.join("; ")}`);
  return { roomJoin: true, room, ...r.grant };
}
