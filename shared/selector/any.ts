// kind "any" (alias "random"): every eligible node; sort_by/algorithm decide.
import type { NodeSelectorKind } from "./types.ts";

export const anySelector: NodeSelectorKind = {
  narrow: (eligible) => eligible,
};
