// LiveKit's grant rules, written once: how a token's video grant reads as permissions, and when
// one grant narrows another. The control plane narrows an app token's grant by the join request
// (control-plane/src/grants.ts); the node reads the media token's grant (signaling) and enforces it
// (rooms/room.ts).
import type { Responses } from "./protocol.ts";
import type { z } from "zod";
import { VideoGrant } from "./token.ts";

export type Permissions = Responses["join"]["permissions"];

/** LiveKit's reading of a grant: absent canPublish/canSubscribe are granted; absent
 * canPublishData follows canPublish (a listen-only token must not publish data by omission); an
 * absent or EMPTY canPublishSources allows every source, so it is kept out of the permissions:
 * "absent" is the only "unlimited". */
export function permissionsOf(v: VideoGrant): Permissions {
  const canPublish = v.canPublish ?? true;
  const p: Permissions = {
    canPublish,
    canSubscribe: v.canSubscribe ?? true,
    canPublishData: v.canPublishData ?? canPublish,
    hidden: v.hidden ?? false,
  };
  if (v.canPublishSources && v.canPublishSources.length > 0) p.canPublishSources = [...v.canPublishSources];
  return p;
}

/** The sources `p` is limited to; undefined = every source (absent or empty list, LiveKit). */
function sourceLimit(p: Permissions): readonly string[] | undefined {
  return p.canPublishSources && p.canPublishSources.length > 0 ? p.canPublishSources : undefined;
}

/** Whether these permissions allow publishing a track from this source (LiveKit's
 * GetCanPublishSource). */
export function canPublishSource(p: Permissions, source: string): boolean {
  const allowed = sourceLimit(p);
  return p.canPublish && (allowed === undefined || allowed.includes(source));
}

const FLAGS = ["canPublish", "canSubscribe", "canPublishData", "hidden"] as const;

/** What `next` allows that `base` does not ([] = `next` only narrows `base`), in words. */
export function widenings(base: Permissions, next: Permissions): string[] {
  const out: string[] = FLAGS.filter((k) => next[k] && !base[k]);
  const allowed = sourceLimit(base);
  if (allowed !== undefined) {
    const wanted = sourceLimit(next);
    if (wanted === undefined) out.push("publishing every source");
    else {
      const extra = wanted.filter((s) => !allowed.includes(s));
      if (extra.length > 0) out.push(`publishing ${extra.join(", ")}`);
    }
  }
  return out;
}

/** The grant fields a join request may restate (each only to narrow). */
export const GrantRequest = VideoGrant.pick({
  canPublish: true,
  canSubscribe: true,
  canPublishData: true,
  canPublishSources: true,
  hidden: true,
});
export type GrantRequest = z.infer<typeof GrantRequest>;

/** The token's grant with the request's fields in place of its own, or what the request would
 * widen. Only the fields present in either are written, so an absent one keeps LiveKit's default. */
export function narrowGrant(token: VideoGrant, req: GrantRequest): { grant: GrantRequest } | { widens: string[] } {
  const grant: GrantRequest = {};
  for (const k of [...FLAGS, "canPublishSources"] as const) {
    const v = req[k] ?? token[k];
    if (v !== undefined) (grant as Record<string, unknown>)[k] = v;
  }
  const widens = widenings(permissionsOf(token), permissionsOf(grant));
  return widens.length > 0 ? { widens } : { grant };
}
