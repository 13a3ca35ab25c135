// The sort_by/algorithm step every kind ends with.
import type { Algorithm, SortBy } from "../config.ts";
import { effectiveMetric } from "./reservation.ts";
import { randomIndex, type Rng } from "./random.ts";
import type { Candidate } from "./types.ts";
import type { z } from "zod";

type SortKey = z.infer<typeof SortBy>;
type Algo = z.infer<typeof Algorithm>;

/** a before b (lowest)? Lower effective metric wins; ties go to the smaller node id (deterministic,
 * and the same rule the placement Lua applies). */
function better(a: Candidate, b: Candidate, sortBy: Exclude<SortKey, "random">): boolean {
  const va = effectiveMetric(a, sortBy);
  const vb = effectiveMetric(b, sortBy);
  return va < vb || (va === vb && a.node.id < b.node.id);
}

export function pick(cands: readonly Candidate[], sortBy: SortKey, algorithm: Algo, rng: Rng): Candidate | undefined {
  if (cands.length === 0) return undefined;
  if (sortBy === "random") {
    const byId = [...cands].sort((a, b) => (a.node.id < b.node.id ? -1 : 1));
    return byId[randomIndex(rng, byId.length)];
  }
  if (algorithm === "twochoice" && cands.length >= 2) {
    // Two distinct candidates at random; the less loaded wins, a tie goes to the first drawn
    // (itself uniformly random): breaking it by id would starve the highest id of equal nodes.
    const i = randomIndex(rng, cands.length);
    let j = randomIndex(rng, cands.length - 1);
    if (j >= i) j++;
    const a = cands[i]!;
    const b = cands[j]!;
    return effectiveMetric(b, sortBy) < effectiveMetric(a, sortBy) ? b : a;
  }
  let best = cands[0]!;
  for (const c of cands) if (better(c, best, sortBy)) best = c;
  return best;
}
