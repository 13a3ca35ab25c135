// pkg/routing/selector/regionaware.go: kind "regionaware". The reference point is the region of
// the node RUNNING the selector (the signaling node the client's WebSocket landed on), not the
// client's location: sysload filter (soft) → keep the nearest region among survivors (nodes of
// unknown regions are ignored; if none match, keep all) → sort_by / algorithm.
import { SystemLoadSelector } from "./sysload.ts";
import { selectSortedNode } from "./utils.ts";
import {
  ErrCurrentRegionNotSet,
  ErrCurrentRegionUnknownLatLon,
  LkSelectorError,
  type LkAlgorithm,
  type LkEnv,
  type LkNode,
  type LkNodeSelector,
  type LkRegionConfig,
  type LkSortBy,
} from "./types.ts";

/** Haversine distance in metres with LiveKit's Earth radius (6,378,100 m). */
export function distanceBetween(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const rad = Math.PI / 180;
  const hsin = (theta: number) => Math.sin(theta / 2) ** 2;
  const la1 = lat1 * rad;
  const la2 = lat2 * rad;
  const h = hsin(la2 - la1) + Math.cos(la1) * Math.cos(la2) * hsin((lon2 - lon1) * rad);
  return 2 * 6378100 * Math.asin(Math.sqrt(h));
}

export class RegionAwareSelector implements LkNodeSelector {
  readonly currentRegion: string;
  private readonly sysload: SystemLoadSelector;
  private readonly regionDistances = new Map<string, number>();

  constructor(
    currentRegion: string,
    regions: LkRegionConfig[],
    sysloadLimit: number,
    sortBy: LkSortBy,
    algorithm: LkAlgorithm,
    env: LkEnv,
  ) {
    if (!currentRegion) throw new LkSelectorError(ErrCurrentRegionNotSet);
    const current = regions.find((r) => r.name === currentRegion);
    if (!current && regions.length > 0) throw new LkSelectorError(ErrCurrentRegionUnknownLatLon);
    if (current) {
      for (const r of regions)
        this.regionDistances.set(r.name, distanceBetween(current.lat, current.lon, r.lat, r.lon));
    }
    this.currentRegion = currentRegion;
    this.sysload = new SystemLoadSelector(sysloadLimit, sortBy, algorithm, env);
  }

  selectNode(nodes: LkNode[]): LkNode {
    let candidates = this.sysload.filterNodes(nodes);
    const nearest: LkNode[] = [];
    let nearestRegion = "";
    let minDist = Number.MAX_VALUE;
    for (const node of candidates) {
      if (node.region === nearestRegion) {
        nearest.push(node);
        continue;
      }
      const dist = this.regionDistances.get(node.region);
      if (dist !== undefined && dist < minDist) {
        minDist = dist;
        nearestRegion = node.region;
        nearest.length = 0;
        nearest.push(node);
      }
    }
    if (nearest.length > 0) candidates = nearest;
    return selectSortedNode(candidates, this.sysload.sortBy, this.sysload.algorithm, this.sysload.env);
  }
}
