import type { NodeSelectorConfig } from "../config.ts";
import type { NodeRecord } from "../node.ts";
import type { Rng } from "./random.ts";

/** A node as the selector sees it: its last report plus placements made since (anti-herding). */
export interface Candidate {
  node: NodeRecord;
  reserved: number;
}

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
  narrow(eligible: readonly Candidate[], ctx: SelectionContext): readonly Candidate[];
}
