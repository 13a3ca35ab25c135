// pkg/routing/selector/sysload.go: kind "sysload" — soft sysload limit, then sort_by.
import { filterNodesByCriteria, getNodeSysload, selectSortedNode } from "./utils.ts";
import type { LkAlgorithm, LkEnv, LkNode, LkNodeSelector, LkSortBy } from "./types.ts";

export class SystemLoadSelector implements LkNodeSelector {
  readonly sysloadLimit: number;
  readonly sortBy: LkSortBy;
  readonly algorithm: LkAlgorithm;
  readonly env: LkEnv;

  constructor(sysloadLimit: number, sortBy: LkSortBy, algorithm: LkAlgorithm, env: LkEnv) {
    this.sysloadLimit = sysloadLimit;
    this.sortBy = sortBy;
    this.algorithm = algorithm;
    this.env = env;
  }

  filterNodes(nodes: LkNode[]): LkNode[] {
    return filterNodesByCriteria(nodes, this.sysloadLimit, getNodeSysload, this.env);
  }

  selectNode(nodes: LkNode[]): LkNode {
    return selectSortedNode(this.filterNodes(nodes), this.sortBy, this.algorithm, this.env);
  }
}
