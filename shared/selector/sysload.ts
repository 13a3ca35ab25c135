// kind "sysload": nodes under sysload_limit (soft).
import { softLimit } from "./filters.ts";
import type { NodeSelectorKind } from "./types.ts";

export const sysloadSelector: NodeSelectorKind = {
  narrow: (eligible, ctx) => softLimit(eligible, "sysload", ctx.config.sysload_limit),
};
