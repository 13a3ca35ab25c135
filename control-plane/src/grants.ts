// The media token's grants: the app token's join grants, optionally narrowed by the join request.
// A request can drop a permission but never add one.
import type { VideoGrant } from "#shared/token.ts";
import { forbidden } from "./errors.ts";

export interface RequestedGrants {
  canPublish?: boolean | undefined;
  canSubscribe?: boolean | undefined;
  canPublishData?: boolean | undefined;
  canPublishSources?: string[] | undefined;
  hidden?: boolean | undefined;
}

// LiveKit: an absent canPublish/canSubscribe means allowed; an absent canPublishData follows canPublish.
const DEFAULT_ON = ["canPublish", "canSubscribe", "canPublishData"] as const;

function granted(token: VideoGrant, k: (typeof DEFAULT_ON)[number]): boolean | undefined {
  return k === "canPublishData" ? (token.canPublishData ?? token.canPublish) : token[k];
}

export function mediaGrants(token: VideoGrant, room: string, req: RequestedGrants = {}): VideoGrant {
  const out: VideoGrant = { roomJoin: true, room };
  for (const k of DEFAULT_ON) {
    if (req[k] === true && granted(token, k) === false) throw forbidden(`token does not allow ${k}`);
    const v = req[k] ?? token[k];
    if (v !== undefined) out[k] = v;
  }
  if (req.hidden === true && token.hidden !== true) throw forbidden("token does not allow hidden");
  const hidden = req.hidden ?? token.hidden;
  if (hidden !== undefined) out.hidden = hidden;
  if (req.canPublishSources !== undefined) {
    const allowed = token.canPublishSources;
    const extra = allowed ? req.canPublishSources.filter((s) => !allowed.includes(s)) : [];
    if (extra.length > 0) throw forbidden(`token does not allow publishing ${extra.join(", ")}`);
    out.canPublishSources = req.canPublishSources;
  } else if (token.canPublishSources !== undefined) {
    out.canPublishSources = token.canPublishSources;
  }
  return out;
}
