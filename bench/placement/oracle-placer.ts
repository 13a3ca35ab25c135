// Not an algorithm anyone can deploy: reads every node's LIVE participant count (no report lag)
// and puts the room on the least loaded node of the client's nearest region. What it still gets
// wrong — rooms' final sizes are unknown at creation, participants arrive later, and per-region
// demand does not exactly match per-region capacity — is the floor for any region-strict placer.
import type { NodeView, Placer } from "./cluster.ts";

export function oraclePlacer(name: string): Placer {
  return {
    name,
    place(room, _now, nodes: readonly NodeView[]) {
      let best: NodeView | undefined;
      for (const n of nodes) {
        if (n.spec.region === room.closestRegion && (!best || n.clients < best.clients)) best = n;
      }
      if (!best) throw new Error(`${name}: no node in ${room.closestRegion}`);
      return best.spec.id;
    },
    onReport() {},
  };
}
