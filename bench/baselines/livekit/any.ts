// pkg/routing/selector/any.go: kind "any" (alias "random") — every available node, then sort_by.
import { getAvailableNodes, selectSortedNode } from "./utils.ts";
import {
  ErrNoAvailableNodes,
  LkSelectorError,
  type LkAlgorithm,
  type LkEnv,
  type LkNode,
  type LkNodeSelector,
  type LkSortBy,
} from "./types.ts";

export class AnySelector implements LkNodeSelector {
  readonly sortBy: LkSortBy;
  readonly algorithm: LkAlgorithm;
  readonly env: LkEnv;

  constructor(sortBy: LkSortBy, algorithm: LkAlgorithm, env: LkEnv) {
    this.sortBy = sortBy;
    this.algorithm = algorithm;
    this.env = env;
  }

  selectNode(nodes: LkNode[]): LkNode {
    const available = getAvailableNodes(nodes, this.env);
    if (available.length === 0) throw new LkSelectorError(ErrNoAvailableNodes);
    return selectSortedNode(available, this.sortBy, this.algorithm, this.env);
  }
}
