// kind "cpuload": nodes under cpu_load_limit (soft).
import { softLimit } from "./filters.ts";
import type { NodeSelectorKind } from "./types.ts";

export const cpuloadSelector: NodeSelectorKind = {
  narrow: (eligible, ctx) => softLimit(eligible, "cpuload", ctx.config.cpu_load_limit),
};
