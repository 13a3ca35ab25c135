// LiveKit OSS's node selectors (livekit/livekit pkg/routing/selector), re-implemented in TypeScript
// as benchmark baselines. One file per kind behind LkNodeSelector, built like LiveKit's
// CreateNodeSelector: kind, sort_by, algorithm, sysload_limit, regions, plus the CURRENT node's
// region (regionaware only).
import { AnySelector } from "./any.ts";
import { RegionAwareSelector } from "./regionaware.ts";
import { SystemLoadSelector } from "./sysload.ts";
import type { LkAlgorithm, LkEnv, LkNodeSelector, LkRegionConfig, LkSortBy } from "./types.ts";

export interface LkSelectorConfig {
  kind: "any" | "random" | "sysload" | "regionaware";
  sortBy: LkSortBy;
  algorithm: LkAlgorithm;
  /** LiveKit's default is 0.9. */
  sysloadLimit: number;
  regions: LkRegionConfig[];
}

export function createNodeSelector(cfg: LkSelectorConfig, currentRegion: string, env: LkEnv): LkNodeSelector {
  switch (cfg.kind) {
    case "any":
    case "random":
      return new AnySelector(cfg.sortBy, cfg.algorithm, env);
    case "sysload":
      return new SystemLoadSelector(cfg.sysloadLimit, cfg.sortBy, cfg.algorithm, env);
    case "regionaware":
      return new RegionAwareSelector(currentRegion, cfg.regions, cfg.sysloadLimit, cfg.sortBy, cfg.algorithm, env);
  }
}

export { distanceBetween } from "./regionaware.ts";
export type * from "./types.ts";
