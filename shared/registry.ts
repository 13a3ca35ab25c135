// Node registry and room bookkeeping written by media nodes. Every write is one Lua script call
// (one round trip, atomic; shared/redis/scripts/*.lua). Layout: see keys.ts.
import { SEL_FIELDS, keys } from "./keys.ts";
import { NODE_TTL_MS, NodeRecord, REGISTRY_RESTART_UPTIME_MS, REGISTRY_WARMUP_MS } from "./node.ts";
import type { ScriptRunner } from "./redis/runner.ts";
import { SCRIPTS } from "./redis/scripts.ts";
import { METRICS, type Metric } from "./selector/metrics.ts";
import { REFLECT_TAU_MS, roomCost, settledMetric } from "./selector/reservation.ts";

const selKeys = (region: string) => SEL_FIELDS.map((f) => keys.sel(region, f));

/** Publishes a node's record with a TTL; a node that stops reporting disappears by itself. Also
 * (re)writes its entry in the selection index: its settled metrics plus the reservations they
 * cannot show yet (shared/selector/reservation.ts), and starts the registry's warm-up when Redis
 * came back empty under it (keys.ts registry:*). Returns false when the report (re-)registered
 * the node (first report, expired record, Redis restarted). */
export async function reportNode(redis: ScriptRunner, record: NodeRecord, now = Date.now()): Promise<boolean> {
  // Validated before anything is written: a record the selector cannot read (region "") must not
  // reach the selection index, where placement would choose it.
  NodeRecord.parse(record);
  const perMetric = (f: (m: Metric) => number) => Object.fromEntries(METRICS.map((m) => [m, f(m)]));
  const existed = await redis.run(
    SCRIPTS.report_node,
    [
      keys.node(record.id),
      keys.nodes(),
      keys.nodeReserved(record.id),
      keys.selRegions(),
      keys.sweepNodes(),
      keys.nodeReservation(record.id),
      keys.registrySince(),
      keys.registryWarming(),
      ...selKeys(record.region),
    ],
    {
      record: JSON.stringify(record),
      id: record.id,
      region: record.region,
      state: record.state,
      updated_at: record.updatedAt,
      now,
      ttl_ms: NODE_TTL_MS,
      settled: perMetric((m) => settledMetric(record, m)),
      cost: perMetric((m) => roomCost(record, m)),
      reflect_tau_ms: REFLECT_TAU_MS,
      started_at: record.startedAt,
      warmup_ms: REGISTRY_WARMUP_MS,
      restart_uptime_ms: REGISTRY_RESTART_UPTIME_MS,
    },
  );
  return existed === 1;
}

/** Removes a node and its room set at clean shutdown (the TTL and the sweep cover crashes). */
export async function removeNode(redis: ScriptRunner, nodeId: string): Promise<void> {
  await redis.run(SCRIPTS.remove_node, [keys.node(nodeId), keys.nodes(), keys.nodeReserved(nodeId), keys.sweepNodes()], { id: nodeId });
}

export interface ParticipantRecord {
  identity: string;
  name?: string;
  sid: string;
  joinedAt: number;
  /** Node the participant's signaling connection is on (may differ from the hosting node). */
  signalNode: string;
  tracks: { sid: string; kind: "audio" | "video" | "data"; source?: string; muted: boolean }[];
}

/** Returns false when another node owns the room (nothing written). */
export async function upsertParticipant(redis: ScriptRunner, room: string, p: ParticipantRecord, nodeId: string): Promise<boolean> {
  const args = { identity: p.identity, record: JSON.stringify(p), node_id: nodeId };
  return (await redis.run(SCRIPTS.upsert_participant, [keys.room(room), keys.roomParticipants(room), keys.roomNodes(room)], args)) === 1;
}

export async function removeParticipant(redis: ScriptRunner, room: string, identity: string, nodeId: string): Promise<void> {
  await redis.run(SCRIPTS.remove_participant, [keys.room(room), keys.roomParticipants(room), keys.roomNodes(room)], { identity, node_id: nodeId });
}

/** Called by the hosting node when a room ends (empty timeout, delete, drain). */
export async function closeRoom(redis: ScriptRunner, room: string, nodeId: string): Promise<boolean> {
  const r = await redis.run(
    SCRIPTS.close_room,
    [keys.room(room), keys.rooms(), keys.roomParticipants(room), keys.nodeRooms(nodeId), keys.unclaimedRooms()],
    { room, node_id: nodeId },
  );
  return r === 1;
}

/** The hosting node records that it serves `room` (on open, and again after re-registering, since
 * an expired record or a restarted Redis lost the mapping). False if another live node owns it. */
export async function claimRoom(
  redis: ScriptRunner,
  room: string,
  node: { id: string; region: string },
  fresh: boolean,
  now = Date.now(),
): Promise<boolean> {
  const r = await redis.run(
    SCRIPTS.claim_room,
    [keys.room(room), keys.rooms(), keys.roomParticipants(room), keys.nodeRooms(node.id), keys.unclaimedRooms()],
    { room, node_id: node.id, region: node.region, now, fresh },
  );
  return r === 1;
}

/** Removes everything left behind by nodes whose registry entry expired (crashed, partitioned),
 * and rooms placed but never opened by their node before their deadline: no ghost nodes, rooms
 * or participants. Every live node runs it each report tick. Returns the node ids swept. */
export async function sweepDeadNodes(redis: ScriptRunner, now = Date.now(), limit = 100): Promise<string[]> {
  const r = await redis.run(
    SCRIPTS.sweep_dead_nodes,
    [keys.sweepNodes(), keys.nodes(), keys.selRegions(), keys.unclaimedRooms()],
    { now, limit },
  );
  return (r as unknown[]).map(String);
}
