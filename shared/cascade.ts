// Rooms that span nodes (issue 9): the `cascade:` settings, and the one Redis step that decides
// which node serves whom (shared/redis/scripts/cascade_room.lua). A room keeps one origin (its
// placement, room:<name>.node) and gains edges: a participant's media goes to the node it
// signals through when that node may serve the room, so each published track crosses a node pair
// once (over a PipeTransport) instead of every subscriber's media crossing regions.
import { z } from "zod";
import { keys } from "./keys.ts";
import { SCRIPTS } from "./redis/scripts.ts";
import type { ScriptRunner } from "./redis/runner.ts";

const bool = z.union([z.boolean(), z.enum(["true", "false", "1", "0"]).transform((s) => s === "true" || s === "1")]);

/** `cascade:` (config file) / CASCADE_* (environment). Disabled by default: today's behaviour, a
 * room lives on its one node and other nodes relay signaling to it. */
export const CascadeConfig = z.object({
  enabled: bool.default(false),
  /** Nodes serving one room, origin included. */
  max_nodes_per_room: z.coerce.number().int().min(1).max(64).default(8),
  /** Participants of one room a node serves before the room spills to another node of the
   * region (0 = no limit). 200 all-audio+video participants already cost ~80,000 consumers on
   * the node; rooms that large are webinars, where most participants only subscribe. */
  participants_per_node: z.coerce.number().int().min(0).max(100_000).default(200),
});
export type CascadeConfig = z.infer<typeof CascadeConfig>;

export type CascadeRole =
  | { role: "origin"; node: string }
  | { role: "edge"; origin: string }
  | { role: "spill"; node: string }
  | { role: "full"; origin: string }
  | { role: "unmapped" };

const Reply = z.union([
  z.tuple([z.literal("origin"), z.string()]).transform(([, node]) => ({ role: "origin" as const, node })),
  z.tuple([z.literal("edge"), z.string()]).transform(([, origin]) => ({ role: "edge" as const, origin })),
  z.tuple([z.literal("spill"), z.string()]).transform(([, node]) => ({ role: "spill" as const, node })),
  z.tuple([z.literal("full"), z.string()]).transform(([, origin]) => ({ role: "full" as const, origin })),
  z.tuple([z.literal("unmapped")]).transform(() => ({ role: "unmapped" as const })),
]);

export interface CascadeCall {
  room: string;
  node: { id: string; region: string };
  /** The room's participants on the calling node after the change (the joiner included). */
  participants: number;
  config: Pick<CascadeConfig, "max_nodes_per_room" | "participants_per_node">;
}

/** A participant's media is to be served by the calling node: may it, and in which role? */
export async function cascadeJoin(redis: ScriptRunner, c: CascadeCall): Promise<CascadeRole> {
  const r = await redis.run(SCRIPTS.cascade_room, [keys.room(c.room), keys.roomNodes(c.room)], {
    op: "join",
    room: c.room,
    node_id: c.node.id,
    region: c.node.region,
    participants: c.participants,
    max_nodes: c.config.max_nodes_per_room,
    budget: c.config.participants_per_node,
  });
  return Reply.parse(r);
}

/** The calling node's share of the room shrank (participants > 0) or ended (0: an edge leaves). */
export async function cascadeLeave(redis: ScriptRunner, c: Omit<CascadeCall, "config">): Promise<void> {
  await redis.run(SCRIPTS.cascade_room, [keys.room(c.room), keys.roomNodes(c.room)], {
    op: "leave",
    room: c.room,
    node_id: c.node.id,
    region: c.node.region,
    participants: c.participants,
    max_nodes: 1,
    budget: 0,
  });
}
