// Client locations the dev page offers; the launcher hands them to the Worker in the dev-only
// X-Meridian-Client-Location header (in production Cloudflare's request.cf says where a client is).
import type { GeoPoint } from "#shared/config.ts";

export const CLIENT_LOCATIONS = {
  "us-west": { label: "US West (Portland)", lat: 45.5152, lon: -122.6784 },
  "us-east": { label: "US East (New York)", lat: 40.7128, lon: -74.006 },
  europe: { label: "Europe (Frankfurt)", lat: 50.1109, lon: 8.6821 },
} as const satisfies Record<string, GeoPoint & { label: string }>;

export type ClientLocation = keyof typeof CLIENT_LOCATIONS;
export const CLIENT_LOCATION_NAMES = Object.keys(CLIENT_LOCATIONS) as [ClientLocation, ...ClientLocation[]];
