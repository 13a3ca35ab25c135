// Node registry and room bookkeeping written by media nodes. Every write is one Lua script call
// (one round trip, atomic; shared/redis/scripts/*.lua). Layout: see keys.ts.
import { SEL_FIELDS, keys } from "./keys.ts";
import {
  NODE_TTL_MS,
  NodeRecord,
  REGISTRY_RESTART_UPTIME_MS,
  REGISTRY_WARMUP_MS,
  REPORT_INTERVAL_MS,
  REPORT_LATE_MS,
} from "./node.ts";
import type { ScriptRunner } from "./redis/runner.ts";
import { SCRIPTS } from "./redis/scripts.ts";
import type { ParticipantRecord, StoredRoomSettings } from "./records.ts";
import { METRICS, type Metric } from "./selector/metrics.ts";
import { REFLECT_TAU_MS, roomCost, settledMetric } from "./selector/reservation.ts";

const selKeys = (region: string) => SEL_FIELDS.map((f) => keys.sel(region, f));

/** The scripts a node runs for itself. NodeWriteLog numbers each call (write_no) and Redis keeps
 * the highest number it executed for the node (node:<id>:writes; includes/node_writes.lua,
 * report_node), so the node can tell when Redis lost writes it had acknowledged. */
export const NODE_WRITE_SCRIPTS: ReadonlySet<string> = new Set([
  SCRIPTS.report_node.name,
  SCRIPTS.claim_room.name,
  SCRIPTS.close_room.name,
  SCRIPTS.upsert_participant.name,
  SCRIPTS.remove_participant.name,
  SCRIPTS.release_rooms.name,
]);

/** What a node knows of its own writes, for report_node's check that Redis did not lose any. */
export interface WriteHistory {
  /** The highest write number Redis acknowledged since the node's first report (0: none). */
  ackedMax: number;
  /** ms since the node sent its last acknowledged report; -1: none yet. */
  quietMs: number;
}

export const NO_WRITE_HISTORY: WriteHistory = { ackedMax: 0, quietMs: -1 };

/** A node process's write log: `runner` numbers every NODE_WRITE_SCRIPTS call and remembers the
 * highest number Redis acknowledged; `report` sends that along. Calls go out on one connection,
 * so Redis runs them in number order. */
export class NodeWriteLog {
  readonly runner: ScriptRunner;
  private sent = 0;
  private ackedMax = 0;
  private lastReportSentAt: number | undefined;
  private readonly clock: () => number;

  constructor(redis: ScriptRunner, clock: () => number = () => performance.now()) {
    this.clock = clock;
    this.runner = {
      run: async (script, k, args) => {
        if (!NODE_WRITE_SCRIPTS.has(script.name)) return redis.run(script, k, args);
        const writeNo = ++this.sent;
        const r = await redis.run(script, k, { ...args, write_no: writeNo });
        this.ackedMax = Math.max(this.ackedMax, writeNo);
        return r;
      },
    };
  }

  async report(record: NodeRecord, now = Date.now()): Promise<ReportOutcome> {
    const sentAt = this.clock();
    const last = this.lastReportSentAt;
    const history =
      last === undefined ? NO_WRITE_HISTORY : { ackedMax: this.ackedMax, quietMs: Math.round(sentAt - last) };
    const outcome = await reportNode(this.runner, record, now, history);
    this.lastReportSentAt = sentAt;
    return outcome;
  }
}

/** How long a node's write log outlives its last write: far longer than its record, so a Redis
 * restored from a snapshot up to this old still holds the node's older log (and gives the loss
 * away) even when the restore took longer than the record's TTL. Swept with the node. */
export const WRITE_LOG_TTL_MS = 60_000;

/** A node whose last acknowledged report was sent less than this ago still has its record: if
 * Redis has none, Redis lost it (the TTL counts from the report's arrival; half an interval of
 * margin for transit). */
export const RECORD_CANNOT_EXPIRE_MS = NODE_TTL_MS - REPORT_INTERVAL_MS / 2;

export interface ReportOutcome {
  /** The node's own record was there (false: first report, expired, or a predecessor's record). */
  registered: boolean;
  /** Redis lost writes it had acknowledged to this node (restored from an older snapshot,
   * failover to a lagging replica): the report started a warm-up. */
  lost: boolean;
  /** registry:epoch: changes whenever a warm-up starts (any node's report); the node re-syncs. */
  epoch: number;
}

/** Publishes a node's record with a TTL; a node that stops reporting disappears by itself. Also
 * (re)writes its entry in the selection index: its settled metrics plus the reservations they
 * cannot show yet (shared/selector/reservation.ts), and starts the registry's warm-up when Redis
 * came back empty under it or lost writes it had acknowledged to it (keys.ts registry:*). */
export async function reportNode(
  redis: ScriptRunner,
  record: NodeRecord,
  now = Date.now(),
  writes: WriteHistory = NO_WRITE_HISTORY,
): Promise<ReportOutcome> {
  // Validated before anything is written: a record the selector cannot read (region "") must not
  // reach the selection index, where placement would choose it.
  NodeRecord.parse(record);
  const perMetric = (f: (m: Metric) => number) => Object.fromEntries(METRICS.map((m) => [m, f(m)]));
  const r = await redis.run(
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
      keys.nodeWrites(record.id),
      keys.registryEpoch(),
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
      acked_max: writes.ackedMax,
      quiet_ms: writes.quietMs,
      lost_after_ms: RECORD_CANNOT_EXPIRE_MS,
      log_ttl_ms: WRITE_LOG_TTL_MS,
    },
  );
  const [status, epoch] = r as [number, number];
  return { registered: status === 1, lost: status === 2, epoch: Number(epoch) };
}

/** Removes a node and its room set at clean shutdown (the TTL and the sweep cover crashes). */
export async function removeNode(redis: ScriptRunner, nodeId: string): Promise<void> {
  await redis.run(
    SCRIPTS.remove_node,
    [keys.node(nodeId), keys.nodes(), keys.nodeReserved(nodeId), keys.sweepNodes()],
    { id: nodeId },
  );
}

/** Returns false when another node owns the room (nothing written). */
export async function upsertParticipant(
  redis: ScriptRunner,
  room: string,
  p: ParticipantRecord,
  nodeId: string,
): Promise<boolean> {
  const args = { identity: p.identity, record: JSON.stringify(p), node_id: nodeId, ttl_ms: WRITE_LOG_TTL_MS };
  return (
    (await redis.run(
      SCRIPTS.upsert_participant,
      [keys.room(room), keys.roomParticipants(room), keys.roomNodes(room)],
      args,
    )) === 1
  );
}

export async function removeParticipant(
  redis: ScriptRunner,
  room: string,
  identity: string,
  nodeId: string,
  sid?: string,
): Promise<void> {
  await redis.run(SCRIPTS.remove_participant, [keys.room(room), keys.roomParticipants(room), keys.roomNodes(room)], {
    identity,
    ...(sid !== undefined ? { sid } : {}),
    node_id: nodeId,
    ttl_ms: WRITE_LOG_TTL_MS,
  });
}

/** Called by the hosting node when a room ends (empty timeout, delete, drain). */
export async function closeRoom(redis: ScriptRunner, room: string, nodeId: string): Promise<boolean> {
  const r = await redis.run(
    SCRIPTS.close_room,
    [keys.room(room), keys.rooms(), keys.roomParticipants(room), keys.nodeRooms(nodeId), keys.unclaimedRooms()],
    { room, node_id: nodeId, ttl_ms: WRITE_LOG_TTL_MS },
  );
  return r === 1;
}

/** What a re-syncing node holds of a room: its participants replace the recorded ones, its copy
 * of the settings (records.ts StoredRoomSettings; absent fields: unknown) fills in what Redis lost,
 * so the participant limit survives a Redis restart and a later failover. */
export interface HeldRoom {
  participants: ParticipantRecord[];
  settings: StoredRoomSettings;
}

/** The hosting node records that it serves `room`: on open (fresh), and again on a re-sync with
 * what it holds (after re-registering, or when Redis lost data). False if another live node owns
 * it (confirmed since the last warm-up: keys.ts registry:epoch), or, with `sid`, if the room has
 * no record with that sid (deleted since the token was minted, or never placed). */
export async function claimRoom(
  redis: ScriptRunner,
  room: string,
  node: { id: string; region: string },
  fresh: boolean,
  now = Date.now(),
  held?: HeldRoom,
  /** The room sid of the media token that opened the room (fresh claims): the record must have
   * it, and none is created (a deleted room stays deleted; shared/keys.ts room:<name>). */
  sid?: string,
): Promise<boolean> {
  const r = await redis.run(
    SCRIPTS.claim_room,
    [
      keys.room(room),
      keys.rooms(),
      keys.roomParticipants(room),
      keys.nodeRooms(node.id),
      keys.unclaimedRooms(),
      keys.registryEpoch(),
    ],
    {
      room,
      node_id: node.id,
      region: node.region,
      now,
      fresh,
      ttl_ms: WRITE_LOG_TTL_MS,
      ...(sid === undefined ? {} : { sid }),
      ...(held
        ? {
            participants: held.participants.map((p) => ({ identity: p.identity, record: JSON.stringify(p) })),
            settings: held.settings,
          }
        : {}),
    },
  );
  return r === 1;
}

/** A re-syncing node's room set becomes the rooms it hosts: the others Redis lists for it (a
 * restored snapshot's, a predecessor's under the same id) go, and are deleted while still mapped
 * to it. Returns the rooms released. */
export async function releaseRooms(redis: ScriptRunner, nodeId: string, hosted: readonly string[]): Promise<string[]> {
  const r = await redis.run(SCRIPTS.release_rooms, [keys.nodeRooms(nodeId), keys.rooms(), keys.unclaimedRooms()], {
    node_id: nodeId,
    hosted,
    ttl_ms: WRITE_LOG_TTL_MS,
  });
  return (r as unknown[]).map(String);
}

/** A node its bus peers found silent: dead when it has no record, or its last report is late
 * (REPORT_LATE_MS; its record is deleted then, as its expiry would). declare_node_dead.lua. */
export async function declareNodeDeadIfLate(redis: ScriptRunner, id: string): Promise<boolean> {
  const r = await redis.run(SCRIPTS.declare_node_dead, [keys.node(id)], {
    ttl_ms: NODE_TTL_MS,
    late_ms: REPORT_LATE_MS,
  });
  return Number(r) === 1;
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
