// The burst: room creations as a Poisson process, each from a client in a weighted city, with a
// heavy-tailed size, participants trickling in, and a log-normal lifetime. Generated once per run
// from the seed and replayed identically against every algorithm.
import type { GeoPoint } from "#shared/config.ts";
import { exponential, logNormal, pickWeighted, seededRng } from "../lib/prng.ts";
import { CITIES, closestRegion } from "./world.ts";

export interface RoomSpec {
  id: string;
  /** Simulated ms. */
  createdAt: number;
  /** Where the creating client is (Cloudflare's request.cf lat/lon). */
  client: GeoPoint;
  closestRegion: string;
  /** ms after creation at which each participant joins; [0] = 0 (the creator). */
  joinOffsets: number[];
  lifetimeMs: number;
  /** Uniform draw reserved for the LiveKit DNS model (misrouting + which node answers), so all
   * algorithms see the same "network" for the same room. */
  dnsDraw: [number, number, number];
}

export interface WorkloadOptions {
  rooms: number;
  burstMs: number;
  seed: number;
}

/** Room sizes: mostly small meetings, some classes, a few large events (mean ≈ 7.8). */
function roomSize(u: number, v: number): number {
  if (u < 0.55) return 2 + Math.floor(v * 3); // 2–4
  if (u < 0.9) return 5 + Math.floor(v * 8); // 5–12
  return 13 + Math.floor(v * 38); // 13–50
}

export function generateWorkload(o: WorkloadOptions): RoomSpec[] {
  const rng = seededRng(o.seed);
  const rooms: RoomSpec[] = [];
  let t = 0;
  const meanGap = o.burstMs / o.rooms;
  for (let i = 0; i < o.rooms; i++) {
    t += exponential(rng, meanGap);
    const city = pickWeighted(rng, CITIES);
    // ± ~1° around the city centre: metro areas, not a single point.
    const client = { lat: city.lat + (rng() - 0.5) * 2, lon: city.lon + (rng() - 0.5) * 2 };
    const size = roomSize(rng(), rng());
    // Participants arrive over the first 30 s (link in a calendar invite), the creator first.
    const joinOffsets = [0];
    for (let k = 1; k < size; k++) joinOffsets.push(rng() * 30_000);
    rooms.push({
      id: `room-${i}`,
      createdAt: Math.round(t),
      client,
      closestRegion: closestRegion(client),
      joinOffsets,
      // Median 20 min, σ 1: some rooms end within the burst, most outlive it.
      lifetimeMs: Math.max(10_000, logNormal(rng, 20 * 60_000, 1)),
      dnsDraw: [rng(), rng(), rng()],
    });
  }
  return rooms;
}
