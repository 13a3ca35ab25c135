// The point the regionaware selector measures from: the CLIENT (Cloudflare's request.cf
// latitude/longitude, which arrive as strings), falling back to the configured default region.
import type { GeoPoint, Region } from "../config.ts";

export interface CfLocation {
  latitude?: unknown;
  longitude?: unknown;
}

function coordinate(v: unknown, bound: number): number | undefined {
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
  return Number.isFinite(n) && Math.abs(n) <= bound ? n : undefined;
}

export function clientLocation(cf: CfLocation | undefined): GeoPoint | undefined {
  const lat = coordinate(cf?.latitude, 90);
  const lon = coordinate(cf?.longitude, 180);
  return lat === undefined || lon === undefined ? undefined : { lat, lon };
}

export function referencePoint(
  cf: CfLocation | undefined,
  regions: readonly Region[],
  defaultRegion: string | undefined,
): GeoPoint | undefined {
  const client = clientLocation(cf);
  if (client) return client;
  const r = regions.find((x) => x.name === defaultRegion);
  return r ? { lat: r.lat, lon: r.lon } : undefined;
}
