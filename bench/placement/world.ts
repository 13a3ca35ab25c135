// The simulated deployment: three real AWS-region coordinates, nodes provisioned in proportion to
// demand, and client cities weighted by population share of each region's catchment.
import type { Region } from "#shared/config.ts";
import { regionPreference } from "#shared/selector/index.ts";
import type { GeoPoint } from "#shared/config.ts";

export const REGIONS: Region[] = [
  { name: "us-east", lat: 39.04, lon: -77.49 }, // Ashburn (us-east-1)
  { name: "us-west", lat: 45.84, lon: -119.7 }, // Boardman (us-west-2)
  { name: "eu-central", lat: 50.11, lon: 8.68 }, // Frankfurt (eu-central-1)
];

/** Share of the fleet per region; matches the clients' catchment weights below. */
export const NODE_SHARE: Readonly<Record<string, number>> = { "us-east": 0.4, "us-west": 0.25, "eu-central": 0.35 };

export interface City extends GeoPoint {
  name: string;
  weight: number;
}

// Weights sum to 0.40 / 0.25 / 0.35 per nearest region.
export const CITIES: City[] = [
  { name: "New York", lat: 40.71, lon: -74.01, weight: 0.12 },
  { name: "Washington", lat: 38.9, lon: -77.04, weight: 0.05 },
  { name: "Boston", lat: 42.36, lon: -71.06, weight: 0.04 },
  { name: "Atlanta", lat: 33.75, lon: -84.39, weight: 0.04 },
  { name: "Chicago", lat: 41.88, lon: -87.63, weight: 0.06 },
  { name: "Toronto", lat: 43.65, lon: -79.38, weight: 0.04 },
  { name: "Miami", lat: 25.76, lon: -80.19, weight: 0.03 },
  { name: "São Paulo", lat: -23.55, lon: -46.63, weight: 0.02 },
  { name: "Los Angeles", lat: 34.05, lon: -118.24, weight: 0.08 },
  { name: "San Francisco", lat: 37.77, lon: -122.42, weight: 0.06 },
  { name: "Seattle", lat: 47.61, lon: -122.33, weight: 0.04 },
  { name: "Denver", lat: 39.74, lon: -104.99, weight: 0.03 },
  { name: "Phoenix", lat: 33.45, lon: -112.07, weight: 0.02 },
  { name: "Vancouver", lat: 49.28, lon: -123.12, weight: 0.02 },
  { name: "London", lat: 51.51, lon: -0.13, weight: 0.08 },
  { name: "Paris", lat: 48.86, lon: 2.35, weight: 0.06 },
  { name: "Berlin", lat: 52.52, lon: 13.4, weight: 0.05 },
  { name: "Madrid", lat: 40.42, lon: -3.7, weight: 0.04 },
  { name: "Warsaw", lat: 52.23, lon: 21.01, weight: 0.03 },
  { name: "Stockholm", lat: 59.33, lon: 18.07, weight: 0.03 },
  { name: "Milan", lat: 45.46, lon: 9.19, weight: 0.03 },
  { name: "Dublin", lat: 53.35, lon: -6.26, weight: 0.02 },
  { name: "Tel Aviv", lat: 32.08, lon: 34.78, weight: 0.01 },
];

export function closestRegion(p: GeoPoint): string {
  const r = regionPreference(REGIONS, p)[0];
  if (!r) throw new Error("no regions configured");
  return r;
}

export interface NodeSpec {
  id: string;
  region: string;
  numCpus: number;
}

/** `count` nodes split by NODE_SHARE (largest remainder), ids zero-padded so sorting by id is
 * sorting by creation. */
export function makeNodes(count: number, numCpus: number): NodeSpec[] {
  const exact = REGIONS.map((r) => ({ region: r.name, x: count * (NODE_SHARE[r.name] ?? 0) }));
  const alloc = exact.map((e) => ({ ...e, n: Math.floor(e.x) }));
  let left = count - alloc.reduce((s, a) => s + a.n, 0);
  for (const a of [...alloc].sort((p, q) => (q.x % 1) - (p.x % 1))) {
    if (left-- <= 0) break;
    a.n++;
  }
  const nodes: NodeSpec[] = [];
  for (const a of alloc) {
    for (let i = 0; i < a.n; i++)
      nodes.push({ id: `${a.region}-${String(i).padStart(3, "0")}`, region: a.region, numCpus });
  }
  return nodes;
}
