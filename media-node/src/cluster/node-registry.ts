// The node's presence in Redis (cluster mode only): a NodeRecord every REPORT_INTERVAL_MS with a
// TTL, room and participant bookkeeping, and the sweep of nodes that died. Redis is never on the
// media path: every failure is logged and counted, the node keeps serving, the next report
// retries and re-syncs the bookkeeping it may have missed (or all of it, when the report finds
// the node had dropped out of Redis: its record expired, Redis restarted empty, or Redis went back
// in time and lost writes it had acknowledged, which the node tells by counting them: shared/
// registry.ts WriteHistory). A room this node serves that another live node owns now (its claim
// failed) is handed to roomLost, which moves its participants there. A stalled event loop (a
// SIGSTOP, a long GC pause, a busy loop) is noticed when it comes back and reported at once, so
// that hand-over happens before the node serves much more. The node's bus inbox is the bridge
// endpoint's (media-node.ts).
import { cpus, loadavg } from "node:os";
import { Redis } from "ioredis";
import { keys } from "#shared/keys.ts";
import { REPORT_INTERVAL_MS, type NodeRecord, type NodeState } from "#shared/node.ts";
import { ioredisRunner } from "#shared/redis/ioredis.ts";
import type { ScriptRunner } from "#shared/redis/runner.ts";
import {
  NodeWriteLog,
  claimRoom,
  closeRoom,
  declareNodeDeadIfLate,
  releaseRooms,
  removeNode,
  removeParticipant,
  sweepDeadNodes,
  upsertParticipant,
} from "#shared/registry.ts";
import { readRoomRecord, type ParticipantRecord } from "#shared/records.ts";
import { RPC_REPLY_TTL_MS, type RoomRpcReply } from "#shared/room-admin.ts";
import type { Logger } from "../log.ts";
import type { NodeMetrics } from "../metrics.ts";
import { byteRate, cpuLoad, cpuTimes, sysload, type CpuTimes } from "./node-stats.ts";
import type { RoomObserver } from "../rooms/room.ts";
import type { RoomLookup, RoomManager } from "../rooms/room-manager.ts";

/** The stall watch ticks this often; a gap of STALL_MS between ticks is a stall worth a report. */
const STALL_TICK_MS = 250;
const STALL_MS = REPORT_INTERVAL_MS;

export interface RegistryOptions {
  redisUrl: string;
  nodeId: string;
  region: string;
  signalUrl: string;
  rtcAddress: string;
  rooms: () => RoomManager;
  state: () => NodeState;
  /** A room this node serves is mapped to another live node (its claim failed): the caller moves
   *  the room's participants there (RoomManager.moveRoom). */
  roomLost: (room: string) => void;
  metrics: NodeMetrics;
  /** Rooms this node serves as a cascade edge: another node owns them (no claim). */
  isEdge?: (room: string) => boolean;
  log: Logger;
}

export class NodeRegistry implements RoomObserver {
  private readonly redis: Redis;
  private readonly runner: ScriptRunner;
  private readonly o: RegistryOptions;
  private readonly startedAt = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private stallWatch: NodeJS.Timeout | undefined;
  /** Writes run one at a time, in order (a leave never overtakes its join). */
  private queue: Promise<void> = Promise.resolve();
  private needsResync = false;
  private reporting: Promise<void> | undefined;
  private lastCpu: CpuTimes = cpuTimes(cpus());
  private lastSampleAt = Date.now();
  private lastBytesIn = new Map<string, number>();
  private lastBytesOut = new Map<string, number>();
  private stopped = false;
  /** Counts this process's writes Redis acknowledged, to tell when Redis lost some. */
  private readonly writes: NodeWriteLog;
  /** registry:epoch as of the last report: it changes when a warm-up starts (re-sync then). */
  private epoch: number | undefined;

  constructor(o: RegistryOptions) {
    this.o = o;
    // Fail fast instead of queueing while disconnected: a stale write is worse than a retried one.
    const opts = {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      connectTimeout: 2_000,
      lazyConnect: true,
    } as const;
    this.redis = new Redis(o.redisUrl, opts);
    this.redis.on("error", (err) => o.log.debug({ err: err.message }, "redis connection error"));
    this.writes = new NodeWriteLog(ioredisRunner(this.redis));
    this.runner = this.writes.runner;
  }

  /** Connects, reports once and starts the report loop. Never throws on Redis being down: the
   * loop keeps retrying. */
  async start(): Promise<void> {
    await this.redis.connect().catch(() => undefined);
    await this.reportNow();
    this.timer = setInterval(() => void this.reportNow(), REPORT_INTERVAL_MS);
    this.watchStalls();
  }

  /** The event loop did not run for a while: the record may have expired meanwhile and the node's
   * rooms been placed elsewhere. Reports at once (re-register, re-claim, hand lost rooms over)
   * instead of at the next interval. */
  private watchStalls(): void {
    let last = Date.now();
    this.stallWatch = setInterval(() => {
      const now = Date.now();
      const gap = now - last;
      last = now;
      if (gap < STALL_MS) return;
      this.o.metrics.eventLoopStalls.inc();
      this.o.log.warn({ stalledMs: gap }, "event loop stalled; reporting to the registry at once");
      void this.reportNow();
    }, STALL_TICK_MS);
    this.stallWatch.unref();
  }

  private fail(op: string, err: unknown): void {
    this.o.metrics.redisErrors.inc({ op });
    this.o.log.warn({ op, err: (err as Error).message }, "redis write failed; will retry");
  }

  private write(op: string, fn: () => Promise<unknown>): void {
    if (this.stopped) return;
    this.queue = this.queue.then(fn).then(
      () => undefined,
      (err) => {
        this.needsResync = true;
        this.fail(op, err);
      },
    );
  }

  /** Runs this node's scripts (cascade decisions share the registry's connection). */
  get scripts(): ScriptRunner {
    return this.runner;
  }

  /** Writes a room's local participants again (this node just took the room's origin role). */
  rewriteParticipants(room: string, ps: ParticipantRecord[]): void {
    this.write("participant_upsert", async () => {
      for (const p of ps) await upsertParticipant(this.runner, room, p, this.o.nodeId);
    });
  }

  roomOpened(room: string, sid?: string): void {
    if (this.o.isEdge?.(room)) return;
    this.write("room_opened", async () => {
      if (await claimRoom(this.runner, room, this.node, true, Date.now(), undefined, sid)) return;
      const rec = await this.roomRecord(room);
      if (sid !== undefined && rec !== undefined && rec.record?.sid !== sid) {
        // Deleted (or deleted and re-created) between the join's check and this claim.
        this.o.log.info({ room }, "room was deleted while it opened here; closing it");
        this.o.rooms().closeRoom(room, "deleted");
      } else {
        this.o.log.warn(
          { room },
          "room opened here but Redis maps it to another live node; moving its participants there",
        );
        this.o.roomLost(room);
      }
    });
  }
  roomClosed(room: string): void {
    this.write("room_closed", () => closeRoom(this.runner, room, this.o.nodeId));
  }
  participantUpdated(room: string, p: ParticipantRecord): void {
    this.write("participant_upsert", () => upsertParticipant(this.runner, room, p, this.o.nodeId));
  }
  participantLeft(room: string, identity: string, sid?: string): void {
    this.write("participant_remove", () => removeParticipant(this.runner, room, identity, this.o.nodeId, sid));
  }

  private get node(): { id: string; region: string } {
    return { id: this.o.nodeId, region: this.o.region };
  }

  /** Resolves once every write queued so far is done (or failed). */
  flushed(): Promise<void> {
    return this.queue;
  }

  /** A room.rpc reply for the control plane, waiting in BLPOP on keys.rpcReply(id). */
  async reply(id: string, reply: RoomRpcReply): Promise<void> {
    const key = keys.rpcReply(id);
    await this.redis.multi().rpush(key, JSON.stringify(reply)).pexpire(key, RPC_REPLY_TTL_MS).exec();
  }

  /** The room's record in Redis, read once per join (its owner decides who serves it, its sid
   * which incarnation it is, its settings are the new room's; records.ts): `record` undefined when
   * Redis has none (or it cannot be read); undefined as a whole when Redis is unreachable. The
   * node enforces maxParticipants and keeps the other settings to write them back if Redis loses
   * them (re-sync). The record's `emptyTimeout` is LiveKit's "close if nobody joins" and is
   * enforced by the sweeper (rooms:unclaimed); once people have been in the room, the node's
   * departure timeout (empty_room_timeout_ms) applies instead, so a finished call frees its
   * router in seconds, not after the 300 s default. */
  /** Whether the node serves the room per its cascade list (room:<name>:nodes); false when Redis
   * cannot be reached. */
  async servesRoom(room: string, node: string): Promise<boolean> {
    try {
      return (await this.redis.hexists(keys.roomNodes(room), node)) === 1;
    } catch (err) {
      this.fail("room_nodes", err);
      return false;
    }
  }

  async roomRecord(room: string): Promise<RoomLookup | undefined> {
    try {
      return { record: readRoomRecord(await this.redis.hgetall(keys.room(room))) };
    } catch (err) {
      this.fail("room_record", err);
      return undefined;
    }
  }

  /** Whether a node is registered (undefined: Redis unreachable). */
  async nodeRegistered(nodeId: string): Promise<boolean | undefined> {
    try {
      return (await this.redis.exists(keys.node(nodeId))) === 1;
    } catch (err) {
      this.fail("node_registered", err);
      return undefined;
    }
  }

  /** A peer node went silent on the bus: whether it is dead (no record, or its report late: its
   * record is deleted then, declare_node_dead.lua). False when Redis cannot be reached. */
  async declareDeadIfLate(nodeId: string): Promise<boolean> {
    try {
      return await declareNodeDeadIfLate(this.runner, nodeId);
    } catch (err) {
      this.fail("declare_dead", err);
      return false;
    }
  }

  /** Reports at once (state changes: DRAINING must leave the eligible set now, not in 2 s). */
  reportNow(): Promise<void> {
    // One report in flight at a time; a caller arriving meanwhile waits for the next one.
    const run = (this.reporting ?? Promise.resolve()).then(() => this.report());
    this.reporting = run;
    return run;
  }

  private async report(): Promise<void> {
    if (this.stopped) return;
    try {
      const record = await this.sample();
      const outcome = await this.writes.report(record);
      let reason = this.needsResync ? "write_failed" : undefined;
      if (outcome.lost) {
        this.o.log.warn(
          "Redis lost writes it had acknowledged (restored from an older snapshot?): warm-up started, re-syncing rooms and participants",
        );
        reason = "redis_lost_writes";
      } else if (!outcome.registered) {
        // (Re-)registered: whatever this node had in Redis may be gone (expired, swept, Redis restarted).
        if (this.o.rooms().rooms.size > 0) this.o.log.warn("re-registered in Redis; re-syncing rooms and participants");
        reason = "reregistered";
      } else if (this.epoch !== undefined && outcome.epoch !== this.epoch) {
        // Another node found Redis had lost data: mappings from before are unconfirmed until re-claimed.
        reason = "warmup";
      }
      this.epoch = outcome.epoch;
      if (reason) {
        this.o.metrics.registryResyncs.inc({ reason });
        // Queued behind the client-driven writes; the next report must not wait for them.
        void this.resync();
      }
      const swept = await sweepDeadNodes(this.runner);
      if (swept.length > 0) this.o.log.info({ nodes: swept }, "swept dead nodes from Redis");
    } catch (err) {
      this.fail("report", err);
    }
  }

  /** Makes Redis match what the node hosts: its room set, each room's mapping, participants and
   * settings (claimRoom with what it holds). */
  private async resync(): Promise<void> {
    this.needsResync = false;
    this.write("resync", async () => {
      // Taken when the write runs, in order with the opens and closes queued before it.
      const rooms = [...this.o.rooms().rooms.values()];
      const released = await releaseRooms(
        this.runner,
        this.o.nodeId,
        rooms.map((r) => r.name),
      );
      if (released.length > 0)
        this.o.log.info({ rooms: released }, "Redis listed rooms this node does not host; released");
      for (const room of rooms) {
        const held = { participants: [...room.participants.values()].map((p) => p.record()), settings: room.settings };
        if (this.o.isEdge?.(room.name)) {
          // A cascade edge owns no room: it writes its own participants only.
          for (const p of held.participants) await upsertParticipant(this.runner, room.name, p, this.o.nodeId);
          continue;
        }
        if (!(await claimRoom(this.runner, room.name, this.node, false, Date.now(), held))) {
          this.o.log.warn(
            { room: room.name },
            "room moved to another live node while this node was out of Redis; moving its participants there",
          );
          this.o.roomLost(room.name);
        }
      }
    });
    await this.queue;
  }

  private async sample(): Promise<NodeRecord> {
    const now = Date.now();
    const cpuList = cpus();
    const cpuNow = cpuTimes(cpuList);
    const bytesIn = new Map<string, number>();
    const bytesOut = new Map<string, number>();
    await Promise.all(
      [...this.o.rooms().transports()].map(async (t) => {
        try {
          const [s] = await t.getStats();
          if (s) {
            bytesIn.set(t.id, s.bytesReceived);
            bytesOut.set(t.id, s.bytesSent);
          }
        } catch {
          /* closed meanwhile */
        }
      }),
    );
    const elapsed = now - this.lastSampleAt;
    const numCpus = cpuList.length;
    const load1 = loadavg()[0] ?? 0;
    const c = this.o.rooms().counts();
    const record: NodeRecord = {
      id: this.o.nodeId,
      region: this.o.region,
      state: this.o.state(),
      signalUrl: this.o.signalUrl,
      rtcAddress: this.o.rtcAddress,
      startedAt: this.startedAt,
      updatedAt: now,
      stats: {
        numCpus,
        loadAvg1: load1,
        sysload: sysload(load1, numCpus),
        cpuLoad: cpuLoad(this.lastCpu, cpuNow),
        rooms: c.rooms,
        clients: c.clients,
        tracksIn: c.tracksIn,
        tracksOut: c.tracksOut,
        bytesInPerSec: byteRate(this.lastBytesIn, bytesIn, elapsed),
        bytesOutPerSec: byteRate(this.lastBytesOut, bytesOut, elapsed),
      },
    };
    // A report within a few ms of the previous one (reportNow on drain) keeps the old baseline.
    if (elapsed >= 500) {
      this.lastCpu = cpuNow;
      this.lastSampleAt = now;
      this.lastBytesIn = bytesIn;
      this.lastBytesOut = bytesOut;
    }
    return record;
  }

  /** Stops reporting, flushes pending writes and deletes the node's record. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.stallWatch);
    await this.reporting?.catch(() => undefined);
    await this.queue;
    this.stopped = true;
    try {
      await removeNode(this.runner, this.o.nodeId);
    } catch (err) {
      this.fail("remove_node", err);
    }
    this.redis.disconnect();
  }
}
