// kind "regionaware", LiveKit's order of steps with the CLIENT as reference point:
//  1. sysload_limit, soft: keep nodes under it; if none are, keep all eligible nodes;
//  2. of those, keep the nodes of the nearest configured region that has any (so a full nearest
//     region loses to a farther one with room; if all are over the limit, the nearest wins);
//     nodes in regions missing from the config only count when no configured region has a node;
//  3. the shared sort_by/algorithm step picks.
import { softLimit } from "./filters.ts";
import type { Candidate, NodeSelectorKind } from "./types.ts";

export const regionawareSelector: NodeSelectorKind = {
  narrow(eligible, ctx) {
    const survivors = softLimit(eligible, "sysload", ctx.config.sysload_limit);
    for (const region of ctx.regionOrder) {
      const inRegion: Candidate[] = survivors.filter((c) => c.node.region === region);
      if (inRegion.length > 0) return inRegion;
    }
    return survivors;
  },
};
