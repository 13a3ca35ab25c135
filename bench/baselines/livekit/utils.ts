// pkg/routing/selector/utils.go and nodesfilter.go: availability, sysload, soft-limit filter,
// sort_by and algorithm (lowest / twochoice).
import {
  ErrAlgorithmUnknown,
  ErrNoAvailableNodes,
  ErrSortByUnknown,
  LkSelectorError,
  type LkAlgorithm,
  type LkEnv,
  type LkNode,
  type LkSortBy,
} from "./types.ts";

/** AvailableSeconds: a node whose stats are this old (whole seconds) is skipped. */
export const AVAILABLE_SECONDS = 5;

export function isAvailable(node: LkNode, env: LkEnv): boolean {
  if (!node.stats) return true; // "available till stats are available"
  return env.nowUnix() - node.stats.updatedAt < AVAILABLE_SECONDS;
}

export function getAvailableNodes(nodes: LkNode[], env: LkEnv): LkNode[] {
  return nodes.filter((n) => isAvailable(n, env) && n.state === "SERVING");
}

export function getNodeSysload(node: LkNode): number {
  const s = node.stats;
  if (!s) return 0;
  return s.loadAvgLast1Min / (s.numCpus || 1);
}

/** FilterNodesByCriteria: available nodes under the threshold; a SOFT limit — if none is under it,
 * every available node stays eligible. */
export function filterNodesByCriteria(
  nodes: LkNode[],
  threshold: number,
  criteria: (n: LkNode) => number,
  env: LkEnv,
): LkNode[] {
  const available = getAvailableNodes(nodes, env);
  if (available.length === 0) throw new LkSelectorError(ErrNoAvailableNodes);
  const under = available.filter((n) => criteria(n) < threshold);
  return under.length > 0 ? under : available;
}

function sortKey(sortBy: Exclude<LkSortBy, "random">): (n: LkNode) => number {
  switch (sortBy) {
    case "sysload":
      return getNodeSysload;
    case "cpuload":
      return (n) => n.stats?.cpuLoad ?? 0;
    case "rooms":
      return (n) => n.stats?.numRooms ?? 0;
    case "clients":
      return (n) => n.stats?.numClients ?? 0;
    case "tracks":
      return (n) => (n.stats?.numTracksIn ?? 0) + (n.stats?.numTracksOut ?? 0);
    case "bytespersec":
      return (n) => n.stats?.bytesPerSec ?? 0;
    default:
      throw new LkSelectorError(ErrSortByUnknown);
  }
}

/** selectLowestSortedNode: sort.Slice by the key, take nodes[0]. Go's sort is deterministic for a
 * given input order, so ties go to the same node every time while stats are unchanged — the
 * herding LiveKit issue #3784 describes. We break ties by input order (the `nodes` hash order),
 * which reproduces that determinism. */
export function selectLowestSortedNode(nodes: LkNode[], sortBy: LkSortBy, env: LkEnv): LkNode {
  if (nodes.length === 0) throw new LkSelectorError(ErrNoAvailableNodes);
  if (sortBy === "random") return nodes[Math.floor(env.random() * nodes.length)] as LkNode;
  const key = sortKey(sortBy);
  let best = nodes[0] as LkNode;
  let bestKey = key(best);
  for (const n of nodes) {
    const k = key(n);
    if (k < bestKey) {
      best = n;
      bestKey = k;
    }
  }
  return best;
}

/** selectTwoRandomNodes: the first two entries of rand.Perm(len(nodes)). */
function selectTwoRandomNodes(nodes: LkNode[], env: LkEnv): [LkNode, LkNode] {
  const i = Math.floor(env.random() * nodes.length);
  let j = Math.floor(env.random() * (nodes.length - 1));
  if (j >= i) j++;
  return [nodes[i] as LkNode, nodes[j] as LkNode];
}

export function selectSortedNode(nodes: LkNode[], sortBy: LkSortBy, algorithm: LkAlgorithm, env: LkEnv): LkNode {
  switch (algorithm) {
    case "lowest":
      return selectLowestSortedNode(nodes, sortBy, env);
    case "twochoice":
      // "Power of Two Random Choices"; with ≤ 2 nodes it degenerates to lowest.
      if (nodes.length <= 2) return selectLowestSortedNode(nodes, sortBy, env);
      return selectLowestSortedNode(selectTwoRandomNodes(nodes, env), sortBy, env);
    default:
      throw new LkSelectorError(ErrAlgorithmUnknown);
  }
}
