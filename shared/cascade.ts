// Rooms that span nodes (issue 9): the `cascade:` settings, and the Redis steps that decide which
// node serves whom. A room keeps one origin (its placement, room:<name>.node) and gains edges: a
// participant's media goes to a node of its region, so each published track crosses a node pair
// once (over a PipeTransport) instead of every subscriber's media crossing regions. The control
// plane names that node at join (place_room.lua, shared/placement.ts) and reserves it; the node
// the client then connects to confirms it (cascade_room.lua, below). Both scripts choose with
// shared/redis/scripts/includes/cascade_serving.lua, so the rules are written once.
import { z } from "zod";
import { keys } from "./keys.ts";
import { SCRIPTS } from "./redis/scripts.ts";
import type { ScriptRunner } from "./redis/runner.ts";

/** The most nodes one room may span (origin included): the ceiling of max_nodes_per_room, and
 * what a room listing reads of room:<name>:nodes (includes/room_nodes.lua says 64 too). */
export const MAX_NODES_PER_ROOM = 64;

const bool = z.union([z.boolean(), z.enum(["true", "false", "1", "0"]).transform((s) => s === "true" || s === "1")]);

/** `cascade:` (config file) / CASCADE_* (environment). Disabled by default: today's behaviour, a
 * room lives on its one node and other nodes relay signaling to it. */
export const CascadeConfig = z.object({
  enabled: bool.default(false),
  /** Nodes serving one room, origin included. */
  max_nodes_per_room: z.coerce.number().int().min(1).max(MAX_NODES_PER_ROOM).default(8),
  /** Participants of one room a node serves before the room spills to another node of the
   * region (0 = no limit). 200 all-audio+video participants already cost ~80,000 consumers on
   * the node; rooms that large are webinars, where most participants only subscribe. */
  participants_per_node: z.coerce.number().int().min(0).max(100_000).default(200),
});
export type CascadeConfig = z.infer<typeof CascadeConfig>;

/** How long the control plane's reservation of a node for a room (room:<name>:nodes, written by
 * place_room when it names the node as a joining client's media node) stands in for the node
 * serving the room before the node's own join replaces it. A client connects within seconds of
 * its join answer; one that never does must not hold one of the room's max_nodes_per_room slots
 * (and steer its region's later joins to a node without the room) for longer than this. Each
 * join answered with the node renews it. A client arriving later is simply placed again by the
 * node it connects to (cascade_room). */
export const CASCADE_RESERVATION_MS = 30_000;

/** The settings both scripts take, as their ARGV names them. */
export function cascadeLimits(c: Pick<CascadeConfig, "max_nodes_per_room" | "participants_per_node">) {
  return {
    max_nodes: c.max_nodes_per_room,
    budget: c.participants_per_node,
    reservation_ms: CASCADE_RESERVATION_MS,
  };
}

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
  /** ms, the caller's clock (default Date.now()). */
  now?: number;
}

/** A participant's media is to be served by the calling node: may it, and in which role? */
export async function cascadeJoin(redis: ScriptRunner, c: CascadeCall): Promise<CascadeRole> {
  return Reply.parse(await runCascadeRoom(redis, "join", c));
}

/** The calling node's share of the room shrank (participants > 0) or ended (0: an edge leaves). */
export async function cascadeLeave(redis: ScriptRunner, c: Omit<CascadeCall, "config">): Promise<void> {
  await runCascadeRoom(redis, "leave", { ...c, config: { max_nodes_per_room: 1, participants_per_node: 0 } });
}

function runCascadeRoom(
  redis: ScriptRunner,
  op: "join" | "leave" | "pipes",
  c: CascadeCall,
  extra: Record<string, number> = {},
): Promise<unknown> {
  return redis.run(SCRIPTS.cascade_room, [keys.room(c.room), keys.roomNodes(c.room)], {
    ...extra,
    op,
    now: c.now ?? Date.now(),
    room: c.room,
    node_id: c.node.id,
    region: c.node.region,
    participants: c.participants,
    ...cascadeLimits(c.config),
  });
}

/** What the calling node's pipes for the room are now (the dashboard shows them per node): pipe
 * transports (one per linked node) and tracks produced here from another node over them. Written
 * into the node's own entry of room:<name>:nodes when it has one; never creates it, never
 * touches a reservation. */
export async function cascadePipes(
  redis: ScriptRunner,
  c: Omit<CascadeCall, "config" | "participants"> & { pipes: number; pipedIn: number },
): Promise<void> {
  await runCascadeRoom(
    redis,
    "pipes",
    { ...c, participants: 0, config: { max_nodes_per_room: 1, participants_per_node: 0 } },
    { pipes: c.pipes, piped_in: c.pipedIn },
  );
}
