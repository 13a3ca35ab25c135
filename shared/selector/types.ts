import type { NodeSelectorConfig } from "../config.ts";
import type { Candidate } from "./reservation.ts";
import type { Rng } from "./random.ts";

export type { Candidate } from "./reservation.ts";

export interface SelectionContext {
  config: NodeSelectorConfig;
  /** ms since epoch; stats older than STATS_FRESHNESS_MS are not eligible. */
  now: number;
  /** Configured region names nearest-first from the reference point (regionPreference()). */
  regionOrder: readonly string[];
  rng: Rng;
}

/** One selector kind: narrows the eligible candidates; the shared sort/algorithm step picks. */
export interface NodeSelectorKind {
  narrow(eligible: readonly Candidate[], ctx: Omit<SelectionContext, "rng">): readonly Candidate[];
}
