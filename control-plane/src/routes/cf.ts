import type { Context } from "hono";
import type { CfLocation } from "#shared/selector/reference.ts";
import type { Settings } from "../env.ts";
import { badRequest } from "../errors.ts";

/** Dev-only way for any HTTP client (an app server, curl) to state where its user is. */
export const CLIENT_LOCATION_HEADER = "x-meridian-client-location";

/** "lat,lon" in decimal degrees → request.cf's shape (strings); undefined when malformed. */
export function parseClientLocation(value: string): CfLocation | undefined {
  const m = /^\s*(-?\d{1,3}(?:\.\d{1,20})?)\s*,\s*(-?\d{1,3}(?:\.\d{1,20})?)\s*$/.exec(value);
  if (!m || Math.abs(Number(m[1])) > 90 || Math.abs(Number(m[2])) > 180) return undefined;
  return { latitude: m[1], longitude: m[2] };
}

/** The client's location: Cloudflare's request.cf, or — only where TRUST_CLIENT_LOCATION=true —
 * the X-Meridian-Client-Location header (a malformed value is the caller's 400). */
export function cfOf(c: Context, s: Pick<Settings, "trustClientLocation">): CfLocation | undefined {
  const header = s.trustClientLocation ? c.req.header(CLIENT_LOCATION_HEADER) : undefined;
  if (header !== undefined) {
    const loc = parseClientLocation(header);
    if (!loc)
      throw badRequest(
        `${CLIENT_LOCATION_HEADER} must be "<lat>,<lon>" in decimal degrees (lat -90..90, lon -180..180)`,
      );
    return loc;
  }
  return (c.req.raw as Request & { cf?: CfLocation }).cf;
}
