// The node selector: pure, one file per kind behind NodeSelectorKind, LiveKit's config shape.
// shared/placement.ts re-implements the same steps in Lua (one Redis round trip); a differential
// test keeps the two in step.
import type { z } from "zod";
import type { SelectorKind } from "../config.ts";
import { anySelector } from "./any.ts";
import { cpuloadSelector } from "./cpuload.ts";
import { isEligible } from "./filters.ts";
import { pick } from "./pick.ts";
import { regionawareSelector } from "./regionaware.ts";
import { sysloadSelector } from "./sysload.ts";
import type { Candidate, NodeSelectorKind, SelectionContext } from "./types.ts";

export type { Candidate, SelectionContext, NodeSelectorKind } from "./types.ts";
export { regionPreference, haversineMeters } from "./haversine.ts";
export { referencePoint, clientLocation } from "./reference.ts";
export { seededRng } from "./random.ts";
export { isEligible } from "./filters.ts";
export { METRICS, reportedMetric, type Metric } from "./metrics.ts";
export {
  ARRIVAL_TAU_MS,
  DEFAULT_ROOM_COST,
  REFLECT_TAU_MS,
  afterReport,
  decayFactor,
  effectiveMetric,
  roomCost,
  settledMetric,
  type Carried,
} from "./reservation.ts";

const KINDS: Readonly<Record<z.infer<typeof SelectorKind>, NodeSelectorKind>> = {
  any: anySelector,
  random: anySelector,
  sysload: sysloadSelector,
  cpuload: cpuloadSelector,
  regionaware: regionawareSelector,
};

/** The candidates the sort_by/algorithm step chooses among: eligible, narrowed by the kind. */
export function finalists(cands: readonly Candidate[], ctx: Omit<SelectionContext, "rng">): readonly Candidate[] {
  const eligible = cands.filter((c) => isEligible(c, ctx.now));
  return KINDS[ctx.config.kind].narrow(eligible, ctx);
}

/** The node a new room should go to, or undefined when no node is eligible. */
export function selectNode(cands: readonly Candidate[], ctx: SelectionContext): Candidate | undefined {
  return pick(finalists(cands, ctx), ctx.config.sort_by, ctx.config.algorithm, ctx.rng);
}
export { pick } from "./pick.ts";
