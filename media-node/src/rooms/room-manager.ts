// The rooms hosted on this node, and the local RoomSessionFactory: joins create the room on first
// use (unless the node is draining), its first router on the least-loaded worker (a room takes
// more workers as it grows: router-group.ts).
import type { types } from "mediasoup";
import { ErrorCode } from "#shared/errors.ts";
import { CloseCode, ProtocolError, type IceServer } from "#shared/protocol.ts";
import type { RoomOp } from "#shared/room-admin.ts";
import type { Logger } from "../log.ts";
import type { ParticipantSink } from "./participant.ts";
import { Room, type RoomCloseReason, type RoomObserver } from "./room.ts";
import { RouterGroup } from "./router-group.ts";
import type { Admission, JoinParams, RoomSession, RoomSessionFactory } from "./room-session.ts";
import type { WorkerPool } from "./worker-pool.ts";
import { roomSettingsOf, type RoomRecord } from "#shared/records.ts";

/** What a node found of a room in Redis: its record, undefined when Redis has none. */
export interface RoomLookup {
  record: RoomRecord | undefined;
}

export interface RoomManagerOptions {
  nodeId: string;
  region: string;
  pool: WorkerPool;
  emptyTimeoutMs: number;
  maxParticipantsPerRoom: number;
  maxTracks: number;
  /** Consumers per worker before a room takes another worker (0 = one router per room). */
  workerConsumerBudget: number;
  observer: RoomObserver;
  /** The room's record in Redis (owner, sid, settings), read once per join; undefined when Redis
   * is unreachable. Must not throw. */
  record: (room: string) => Promise<RoomLookup | undefined>;
  /** TURN servers with credentials for a participant (by sid); undefined without TURN. */
  iceServers?: (participantSid: string) => IceServer[] | undefined;
  /** Rooms that span nodes (cascade/cascade.ts); absent: a room lives on its host only. */
  cascade?: RoomCascadeHooks;
  log: Logger;
}

/** What the room manager needs from the cascade. */
export interface RoomCascadeHooks {
  mediaNodeFor(room: string, host: string, localParticipants: number): Promise<string>;
  isEdge(room: string): boolean;
  opened(room: Room): void;
  left(room: Room): void;
  closed(room: Room): void;
}

export interface NodeCounts {
  rooms: number;
  clients: number;
  tracksIn: number;
  tracksOut: number;
  /** mediasoup routers of the rooms (more than one per room once a room spans workers). */
  routers: number;
  /** Producers piped between routers of one room (router-group.ts). */
  pipedProducers: number;
}

export class RoomManager implements RoomSessionFactory {
  readonly rooms = new Map<string, Room>();
  /** Rooms whose router is being created: concurrent first joins share it. */
  private readonly opening = new Map<string, Promise<Room>>();
  private readonly o: RoomManagerOptions;
  private readonly emptyWaiters = new Set<() => void>();
  /** DRAINING: existing rooms keep accepting joins, new rooms are refused. */
  draining = false;

  constructor(o: RoomManagerOptions) {
    this.o = o;
  }

  /** Whether this node may serve the room. The mapping in Redis decides (it moves on failover, and
   * tokens minted before that still name the old node); the token's claim only when Redis has
   * none or cannot be reached. A token naming a room sid is only good for that incarnation of the
   * room: deleted (no record) or re-created (another sid) is NotFound, so a delete lasts for every
   * token minted before it. Standalone tokens (no claim) are always served here. */
  async check(params: JoinParams): Promise<Admission> {
    const lookup = await this.o.record(params.room);
    const admission = {
      params: { room: params.room, hostNode: params.hostNode, roomSid: params.roomSid },
      record: lookup?.record,
    };
    if (params.hostNode === undefined) return admission;
    const rec = lookup?.record;
    if (lookup !== undefined && params.roomSid !== undefined && rec?.sid !== params.roomSid)
      throw new ProtocolError(
        ErrorCode.NotFound,
        rec === undefined
          ? "room no longer exists (deleted)"
          : "room was deleted and created again since this token was minted: join through the control plane",
      );
    const host = rec?.node ?? params.hostNode;
    if (host !== this.o.nodeId && !this.o.cascade?.isEdge(params.room))
      throw new ProtocolError(ErrorCode.WrongNode, `room is hosted on node ${host}, not here`);
    if (this.draining && !this.rooms.has(params.room) && !this.opening.has(params.room))
      throw new ProtocolError(ErrorCode.Draining, "node is draining: no new rooms");
    return admission;
  }

  /** The node that serves this participant's media: the room's host, or with cascade this node
   * (an edge) or another serving node of its region. */
  async mediaNode(params: JoinParams): Promise<string> {
    const host = params.hostNode ?? this.o.nodeId;
    if (!this.o.cascade || this.draining) return host;
    return this.o.cascade.mediaNodeFor(params.room, host, this.rooms.get(params.room)?.participants.size ?? 0);
  }

  async open(params: JoinParams, sink: ParticipantSink, admission?: Admission): Promise<RoomSession> {
    const a = admission?.params;
    const checked =
      a !== undefined && a.room === params.room && a.hostNode === params.hostNode && a.roomSid === params.roomSid;
    const { record } = checked && admission ? admission : await this.check(params);
    const room = await this.roomFor(params.room, params.roomSid, record);
    const profile = { name: params.name, metadata: params.metadata, attributes: params.attributes };
    const p = await room.join(params.identity, profile, params.permissions, sink, params.signalNode);
    const node = { id: this.o.nodeId, region: this.o.region };
    const withTurn = <T extends object>(r: T): T & { iceServers?: IceServer[] } => {
      const iceServers = this.o.iceServers?.(p.sid);
      return iceServers ? { ...r, iceServers } : r;
    };
    return {
      joined: withTurn(room.joinResponse(p, node)),
      current: () => withTurn({ participant: p.info() }),
      request: (req) => room.handle(p, req),
      leave: () => {
        room.leave(p);
        this.o.cascade?.left(room);
      },
    };
  }

  /** The room, opened on first use (also for a cascade link from an edge). */
  async roomFor(name: string, sid: string | undefined, record: RoomRecord | undefined): Promise<Room> {
    const existing = this.rooms.get(name);
    if (existing) return existing;
    const pending = this.opening.get(name);
    if (pending) return pending;
    if (this.draining) throw new ProtocolError(ErrorCode.Draining, "node is draining: no new rooms");
    const opening = this.create(name, sid, record).finally(() => this.opening.delete(name));
    this.opening.set(name, opening);
    return opening;
  }

  private async create(name: string, sid: string | undefined, record: RoomRecord | undefined): Promise<Room> {
    const routers = await RouterGroup.open({
      pool: this.o.pool,
      consumerBudget: this.o.workerConsumerBudget,
      log: this.o.log,
    });
    const settings = roomSettingsOf(record);
    const room = new Room({
      name,
      sid,
      routers,
      emptyTimeoutMs: this.o.emptyTimeoutMs,
      maxParticipants: settings.maxParticipants ?? this.o.maxParticipantsPerRoom,
      settings,
      metadata: settings.metadata ?? "",
      createdAt: settings.createdAt ?? Date.now(),
      emptyTimeout: settings.emptyTimeout ?? 0,
      canAddTrack: () => this.o.maxTracks === 0 || this.counts().tracksIn < this.o.maxTracks,
      observer: this.o.observer,
      log: this.o.log,
      onClosed: (r) => this.closed(r),
    });
    this.rooms.set(name, room);
    this.o.cascade?.opened(room);
    this.o.log.info({ room: name, worker: routers.first().slot.index }, "room opened");
    return room;
  }

  private closed(room: Room): void {
    if (this.rooms.get(room.name) === room) this.rooms.delete(room.name);
    this.o.cascade?.closed(room);
    if (this.rooms.size === 0) for (const w of [...this.emptyWaiters]) w();
  }

  /** A RoomService operation (bus room.rpc) on a room of this node; `deadline`: when the caller
   * gives up (bounds the wait for another node of the room). */
  admin(name: string, op: RoomOp, deadline?: number): ReturnType<Room["admin"]> {
    const room = this.rooms.get(name);
    if (!room) throw new ProtocolError(ErrorCode.NotFound, `room ${name} is not open on node ${this.o.nodeId}`);
    return room.admin(op, deadline === undefined ? {} : { deadline });
  }

  /** Closes one room (room.delete from the control plane). Returns false if it is not here. */
  closeRoom(name: string, reason: RoomCloseReason): boolean {
    const room = this.rooms.get(name);
    if (!room) return false;
    room.close(reason);
    return true;
  }

  /**
   * The room is hosted on another node now: this node's re-claim failed (it was cut off from Redis
   * or stalled past its TTL and the room was re-placed meanwhile), or its first claim lost a race.
   * Two live halves of one room must not stay: its participants are told to rejoin through the
   * control plane (`reconnect` room_moved, and the WrongNode close code, which the client also
   * rejoins on) and the local room closes. The close writes nothing of the new host's: close_room
   * and remove_participant only touch a room's keys for its owner. Returns false if not here.
   */
  moveRoom(name: string): boolean {
    const room = this.rooms.get(name);
    if (!room) return false;
    for (const p of room.participants.values()) p.sink.notify("reconnect", { reason: "room_moved" });
    room.close("moved", CloseCode.WrongNode);
    return true;
  }

  /** Closes every room, telling clients to reconnect elsewhere first (drain deadline, shutdown). */
  closeAll(): void {
    for (const room of [...this.rooms.values()]) {
      for (const p of room.participants.values()) p.sink.notify("reconnect", { reason: "draining" });
      room.close("node_shutdown", CloseCode.Draining);
    }
  }

  /** Resolves once no room is left (or at once). */
  whenEmpty(signal: AbortSignal): Promise<void> {
    if (this.rooms.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.emptyWaiters.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.emptyWaiters.add(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  counts(): NodeCounts {
    const c: NodeCounts = {
      rooms: this.rooms.size,
      clients: 0,
      tracksIn: 0,
      tracksOut: 0,
      routers: 0,
      pipedProducers: 0,
    };
    for (const r of this.rooms.values()) {
      const rc = r.counts();
      c.clients += rc.clients;
      c.tracksIn += rc.tracksIn;
      c.tracksOut += rc.tracksOut;
      const g = r.routers.counts();
      c.routers += g.routers;
      c.pipedProducers += g.pipedProducers;
    }
    return c;
  }

  *transports(): Iterable<types.WebRtcTransport> {
    for (const r of this.rooms.values()) yield* r.transports();
  }
}
