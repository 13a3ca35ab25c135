// The slice of livekit.Node / livekit.NodeStats (livekit/protocol) that LiveKit's selectors read.
// Field names follow the protobuf so the selector files read like pkg/routing/selector.

export type LkNodeState = "SERVING" | "SHUTTING_DOWN";

export interface LkNodeStats {
  /** Unix SECONDS of the last report (LiveKit compares whole seconds). */
  updatedAt: number;
  numCpus: number;
  loadAvgLast1Min: number;
  cpuLoad: number;
  numRooms: number;
  numClients: number;
  numTracksIn: number;
  numTracksOut: number;
  /** rates[0].bytesIn + bytesOut in LiveKit; flattened here. */
  bytesPerSec: number;
}

export interface LkNode {
  id: string;
  region: string;
  state: LkNodeState;
  stats: LkNodeStats | undefined;
}

export interface LkRegionConfig {
  name: string;
  lat: number;
  lon: number;
}

export type LkSortBy = "random" | "sysload" | "cpuload" | "rooms" | "clients" | "tracks" | "bytespersec";
export type LkAlgorithm = "lowest" | "twochoice";

/** pkg/routing/selector/interfaces.go: NodeSelector. */
export interface LkNodeSelector {
  selectNode(nodes: LkNode[]): LkNode;
}

/** What the selectors need from the outside world: a clock and a random source, both injectable so
 * the simulation can run in simulated time with a seeded PRNG. */
export interface LkEnv {
  /** Unix seconds (LiveKit: time.Now().Unix()). */
  nowUnix: () => number;
  /** [0, 1) (LiveKit: funk.RandomInt / rand.Perm). */
  random: () => number;
}

/** pkg/routing/selector/errors.go */
export class LkSelectorError extends Error {}
export const ErrNoAvailableNodes = "could not find any available nodes";
export const ErrSortByUnknown = "unknown sort by option";
export const ErrAlgorithmUnknown = "unknown node selector algorithm option";
export const ErrCurrentRegionNotSet = "current region cannot be blank";
export const ErrCurrentRegionUnknownLatLon = "unknown lat and lon for the current region";
