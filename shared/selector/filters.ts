// Steps shared by the kinds: eligibility (SERVING + fresh stats) and LiveKit's soft limit.
import { STATS_FRESHNESS_MS } from "../node.ts";
import type { Metric } from "./metrics.ts";
import { effectiveMetric } from "./reservation.ts";
import type { Candidate } from "./types.ts";

export function isEligible(c: Candidate, now: number): boolean {
  return c.node.state === "SERVING" && now - c.node.updatedAt < STATS_FRESHNESS_MS;
}

/** Keeps candidates strictly under the limit; if none are, keeps all (the limit is soft: an
 * overloaded cluster still places rooms rather than failing joins). */
export function softLimit(cands: readonly Candidate[], m: Metric, limit: number): readonly Candidate[] {
  const under = cands.filter((c) => effectiveMetric(c, m) < limit);
  return under.length > 0 ? under : cands;
}
