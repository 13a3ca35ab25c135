// Not deployable either: knows every room's FINAL size at creation (no placer does) and puts the
// room on the node of the client's nearest region with the fewest participants committed so far
// (greedy, live). What it still gets wrong — per-region demand ≠ per-region capacity, and greedy
// packing of sizes up to 50 — bounds what any region-strict placer can reach on this workload.
import type { Placer } from "./cluster.ts";

export function clairvoyantPlacer(name: string): Placer {
  const committed = new Map<string, number>();
  return {
    name,
    place(room, _now, nodes) {
      let best: string | undefined;
      for (const n of nodes) {
        if (n.spec.region !== room.closestRegion) continue;
        const id = n.spec.id;
        if (best === undefined || (committed.get(id) ?? 0) < (committed.get(best) ?? 0)) best = id;
      }
      if (best === undefined) throw new Error(`${name}: no node in ${room.closestRegion}`);
      committed.set(best, (committed.get(best) ?? 0) + room.joinOffsets.length);
      return best;
    },
    onReport() {},
  };
}
