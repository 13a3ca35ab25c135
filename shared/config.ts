// Selector configuration, in LiveKit's shape (node_selector: {kind, sort_by, algorithm,
// sysload_limit, cpu_load_limit, regions: [{name, lat, lon}]}) so existing configs carry over.
import { z } from "zod";

export const Region = z.object({
  name: z.string().min(1).max(64),
  lat: z.number().min(-90).max(90),
  lon: z.number().min(-180).max(180),
  /** wss URL of the region's signal hostname (a Route 53 latency record / load balancer). When
   * absent, join hands out the chosen signal node's own URL. */
  signal_url: z.string().url().optional(),
});
export type Region = z.infer<typeof Region>;

export const SelectorKind = z.enum(["any", "random", "sysload", "cpuload", "regionaware"]);
export const SortBy = z.enum(["random", "sysload", "cpuload", "rooms", "clients", "tracks", "bytespersec"]);
export const Algorithm = z.enum(["lowest", "twochoice"]);

export const NodeSelectorConfig = z.object({
  kind: SelectorKind.default("regionaware"),
  sort_by: SortBy.default("sysload"),
  algorithm: Algorithm.default("lowest"),
  sysload_limit: z.number().positive().default(0.5),
  cpu_load_limit: z.number().positive().max(1).default(0.9),
  regions: z.array(Region).default([]),
});
export type NodeSelectorConfig = z.infer<typeof NodeSelectorConfig>;

export interface GeoPoint {
  lat: number;
  lon: number;
}
