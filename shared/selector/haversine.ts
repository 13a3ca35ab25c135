// Great-circle distance and the region preference order derived from it. LiveKit uses the same
// radius, so distances (and therefore region choices) match its regionaware selector.
import type { GeoPoint, Region } from "../config.ts";

export const EARTH_RADIUS_M = 6_378_100;

const rad = (deg: number) => (deg * Math.PI) / 180;

export function haversineMeters(a: GeoPoint, b: GeoPoint): number {
  const dLat = rad(b.lat - a.lat);
  const dLon = rad(b.lon - a.lon);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Configured region names, nearest first (ties: by name, so the order is deterministic).
 * No reference point → no preference (empty list). */
export function regionPreference(regions: readonly Region[], point: GeoPoint | undefined): string[] {
  if (!point) return [];
  return regions
    .map((r) => ({ name: r.name, d: haversineMeters(point, r) }))
    .sort((x, y) => x.d - y.d || (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))
    .map((r) => r.name);
}
