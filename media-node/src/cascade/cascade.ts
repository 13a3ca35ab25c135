// This node's part in rooms that span nodes (issue 9). A participant whose token names another
// node as the room's host (the origin) gets its media served here when cascade_room.lua says this
// node may serve the room (an edge in the participant's region); the edge then links to the origin
// (room-cascade.ts) over a signaling-bridge session. The bus authenticates every envelope as from
// its node (shared/bus.ts); the origin also checks in Redis that the peer serves the room (a node
// cascade_room made an edge), so no other node can attach to a room. When the origin dies, the edge's
// link closes (the bridge closes a silent peer's sessions once Redis confirms it missed its report:
// declare_node_dead.lua); the edge asks Redis again and either takes the origin role (cascade_room
// promotes a serving node atomically) or links to the new origin.
import { z } from "zod";
import { type CascadeConfig, type CascadeRole, cascadeJoin, cascadeLeave, cascadePipes } from "#shared/cascade.ts";
import { REPORT_INTERVAL_MS } from "#shared/node.ts";
import { ErrorCode } from "#shared/errors.ts";
import { ProtocolError } from "#shared/protocol.ts";
import type { ScriptRunner } from "#shared/redis/runner.ts";
import { BridgeCloseCode, type BridgeEndpoint, type BridgeInit, type BridgeSession } from "../bridge/index.ts";
import type { Logger } from "../log.ts";
import type { Room } from "../rooms/room.ts";
import { CASCADE_QUERY, parseLinkMessage } from "./link-protocol.ts";
import type { NodePipeOptions } from "./node-pipe.ts";
import { type CascadeCounters, type Link, type PipeFigures, RoomCascade } from "./room-cascade.ts";

/** What an edge asserts when it opens a link (the session's init; the bus vouches for the sender). */
const LinkAssertion = z.object({ cascade: z.string().min(1).max(256) }).strict();
/** How often an edge asks Redis who the origin is after losing its link. */
const RELINK_EVERY_MS = 250;
/** After a link to the origin closed: how long the edge asks Redis who the origin is (and links
 * again to the same origin once it is alive after RELINK_SAME_AFTER_MS) before it gives up its
 * share of the room. */
const RELINK_FOR_MS = 20_000;
const RELINK_SAME_AFTER_MS = 1_000;
/** Pipe figures are written this long after a change, so a join's burst of piped tracks is one
 * write per room; a failed write is retried after a report interval. */
const PIPES_WRITE_DELAY_MS = 500;

export interface CascadeOptions {
  nodeId: string;
  region: string;
  config: CascadeConfig;
  pipe: NodePipeOptions;
  redis: () => ScriptRunner | undefined;
  bridge: () => BridgeEndpoint | undefined;
  /** Whether Redis lists the node as serving the room (room:<name>:nodes); false when unreachable. */
  serves: (room: string, node: string) => Promise<boolean>;
  /** Opens (or finds) a room here, for a link from an edge when this node is the origin. */
  openRoom: (room: string) => Promise<Room>;
  /** The room's origin per Redis (undefined: unmapped or unreachable). */
  owner: (room: string) => Promise<string | undefined>;
  /** Writes the room's local participants to Redis again (after this node took the origin role). */
  resync: (room: Room) => void;
  /** Resolves once this node's pending Redis writes are done. */
  flushed: () => Promise<void>;
  log: Logger;
}

/** Figures by peer node, each way. */
export type PerPeer = Map<string, { sent: number; received: number }>;

export class Cascade {
  /** Rooms this node serves as an edge, with their origin (decided before the room opens here). */
  private readonly edgeOf = new Map<string, string>();
  readonly rooms = new Map<string, RoomCascade>();
  /** Rooms whose origin is being asked about (one question in flight per room). */
  private readonly asking = new Set<string>();
  readonly counters: CascadeCounters & { linksRefused: number; takeovers: number } = {
    linkMessagesDropped: 0,
    linkMessagesOversize: 0,
    dataMessagesDropped: 0,
    linksRefused: 0,
    pipesUnanswered: 0,
    takeovers: 0,
  };
  private readonly o: CascadeOptions;
  /** Rooms whose pipe figures may differ from what Redis has (a subset of `rooms`: bounded). */
  private readonly pipesChanged = new Set<RoomCascade>();
  private readonly pipesWritten = new WeakMap<RoomCascade, string>();
  private pipesTimer: NodeJS.Timeout | undefined;

  constructor(o: CascadeOptions) {
    this.o = o;
  }

  private get me(): { id: string; region: string } {
    return { id: this.o.nodeId, region: this.o.region };
  }

  /** The node that serves a joining participant's media: this one (origin, or an edge of the
   * room), or another (the region's serving node, or the origin). Redis unreachable: the token's
   * host, as without cascade. */
  async mediaNodeFor(room: string, host: string, localParticipants: number): Promise<string> {
    const redis = this.o.redis();
    if (!redis) return host;
    try {
      const r = await cascadeJoin(redis, {
        room,
        node: this.me,
        participants: localParticipants + 1,
        config: this.o.config,
      });
      // The host itself only records its share (the token names it; check() decides as today).
      if (host === this.o.nodeId) return host;
      switch (r.role) {
        case "origin":
          return this.o.nodeId;
        case "edge":
          this.edgeOf.set(room, r.origin);
          return this.o.nodeId;
        case "spill":
          return r.node;
        case "full":
          return r.origin;
        case "unmapped":
          return host;
      }
    } catch (err) {
      this.o.log.warn(
        { room, err: (err as Error).message },
        "cascade: Redis unreachable; media goes to the room's host",
      );
      return host;
    }
  }

  /** Whether this node serves the room as an edge (a participant relayed here may join it). */
  isEdge(room: string): boolean {
    return this.edgeOf.has(room);
  }

  /** A room opened here: an edge links to its origin; an origin waits for its edges. */
  opened(room: Room): void {
    const origin = this.edgeOf.get(room.name);
    const rc = new RoomCascade({
      room,
      role: origin ? "edge" : "origin",
      pipe: this.o.pipe,
      counters: this.counters,
      flushed: this.o.flushed,
      log: this.o.log,
      onLinkClosed: (c, link) => this.linkClosed(c, link),
      onPipesChanged: (c) => this.writePipesSoon(c),
    });
    this.rooms.set(room.name, rc);
    if (origin) void this.linkTo(rc, origin);
  }

  /** A participant left this node's share of the room: Redis keeps its count for the budget.
   * After this node's queued writes: an edge whose share ends stops serving the room in Redis,
   * and a participant record removed after that would be refused (left behind as a ghost). */
  left(room: Room): void {
    const redis = this.o.redis();
    if (!redis || room.closed) return;
    void this.o
      .flushed()
      .then(() => {
        if (!room.closed)
          return cascadeLeave(redis, { room: room.name, node: this.me, participants: room.participants.size });
      })
      .catch(() => {});
  }

  closed(room: Room): void {
    const rc = this.rooms.get(room.name);
    if (rc?.room !== room) return;
    this.rooms.delete(room.name);
    const wasEdge = this.edgeOf.delete(room.name);
    const redis = this.o.redis();
    if (wasEdge && redis)
      void this.o
        .flushed()
        .then(() => cascadeLeave(redis, { room: room.name, node: this.me, participants: 0 }))
        .catch(() => {});
  }

  private writePipesSoon(rc: RoomCascade, delay = PIPES_WRITE_DELAY_MS): void {
    this.pipesChanged.add(rc);
    if (this.pipesTimer) return;
    this.pipesTimer = setTimeout(() => void this.writePipes(), delay);
    this.pipesTimer.unref();
  }

  /** Writes the changed rooms' pipe figures into this node's entries of room:<name>:nodes. */
  private async writePipes(): Promise<void> {
    const rooms = [...this.pipesChanged];
    this.pipesChanged.clear();
    const failed: RoomCascade[] = [];
    for (const rc of rooms) {
      if (rc.closed || this.rooms.get(rc.room.name) !== rc) continue;
      const f: PipeFigures = rc.pipeFigures();
      const key = `${f.pipes}/${f.pipedIn}`;
      if (this.pipesWritten.get(rc) === key) continue;
      try {
        const redis = this.o.redis();
        if (!redis) throw new Error("no Redis yet");
        await cascadePipes(redis, { room: rc.room.name, node: this.me, ...f });
        this.pipesWritten.set(rc, key);
      } catch (err) {
        this.o.log.debug({ room: rc.room.name, err: (err as Error).message }, "cascade: pipe figures not written");
        failed.push(rc);
      }
    }
    this.pipesTimer = undefined;
    const changedMeanwhile = [...this.pipesChanged];
    this.pipesChanged.clear();
    for (const rc of changedMeanwhile) this.writePipesSoon(rc);
    for (const rc of failed) this.writePipesSoon(rc, REPORT_INTERVAL_MS);
  }

  private async linkTo(rc: RoomCascade, origin: string): Promise<void> {
    const bridge = this.o.bridge();
    if (!bridge) {
      this.o.log.warn({ room: rc.room.name, origin }, "cascade: no bridge yet; cannot link to the origin");
      return this.linkClosed(rc, undefined);
    }
    if (rc.closed) return;
    const assertion = JSON.stringify({ cascade: rc.room.name });
    const session = bridge.open(origin, { assertion, query: { [CASCADE_QUERY]: rc.room.name } });
    const link = await rc.addLink(origin, session);
    session.on("message", (f) => {
      const m = parseLinkMessage(f);
      if (m?.t !== "welcome") return;
      void rc.connect(link, m.endpoint).catch((err) => {
        this.o.log.warn(
          { room: rc.room.name, origin, err: (err as Error).message },
          "cascade: pipe to the origin failed",
        );
        session.close(BridgeCloseCode.Refused, "pipe failed");
      });
      rc.remoteJoined(link, m.participants);
    });
    const own = rc.room.infos().filter((i) => rc.room.nodeOf(i) === undefined);
    rc.announce(link, own, (participants) => ({
      t: "hello",
      room: rc.room.name,
      endpoint: link.pipe.local,
      participants,
    }));
    this.o.log.info({ room: rc.room.name, origin }, "cascade: edge linking to the origin");
  }

  /** A link ended. The origin forgot the edge's participants already (room-cascade.ts); an edge
   * finds out who the origin is now and takes over or links again. A link to a former origin (the
   * edge moved on already) is no news. */
  private linkClosed(rc: RoomCascade, link: Link | undefined): void {
    if (rc.closed || rc.role === "origin" || (link && rc.links.has(link.peer))) return;
    if (link && this.edgeOf.get(rc.room.name) !== link.peer) return;
    void this.relink(rc);
  }

  /** Asks Redis who the room's origin is now that the link to `origin` closed, and follows the
   * answer: this node took over, or another node is the origin now (link to it). Returns the answer
   * (undefined: Redis unreachable, or a question already in flight). */
  private async askOrigin(rc: RoomCascade, origin: string): Promise<CascadeRole | undefined> {
    const redis = this.o.redis();
    if (!redis || rc.closed || this.asking.has(rc.room.name)) return undefined;
    this.asking.add(rc.room.name);
    try {
      const r = await cascadeJoin(redis, {
        room: rc.room.name,
        node: this.me,
        participants: rc.room.participants.size,
        config: this.o.config,
      });
      if (rc.closed || rc.role !== "edge" || this.edgeOf.get(rc.room.name) !== origin) return r;
      if (r.role === "origin") this.takeOver(rc, origin);
      else if (r.role === "edge" && r.origin !== origin) this.moveTo(rc, origin, r.origin);
      return r;
    } catch (err) {
      this.o.log.warn(
        { room: rc.room.name, err: (err as Error).message },
        "cascade: cannot reach Redis about the origin",
      );
      return undefined;
    } finally {
      this.asking.delete(rc.room.name);
    }
  }

  /** Redis made this node the origin (the old one is dead): its link goes, with what the old origin
   * served; this node's participants are written again (the promotion dropped the records). */
  private takeOver(rc: RoomCascade, old: string): void {
    rc.role = "origin";
    this.edgeOf.delete(rc.room.name);
    this.counters.takeovers++;
    this.o.log.warn({ room: rc.room.name, old }, "cascade: the origin is gone; this node took the origin role");
    rc.links.get(old)?.session.close(BridgeCloseCode.PeerTimeout, "origin replaced");
    this.o.resync(rc.room);
  }

  /** Another node is the origin now: link to it instead; this node's participants are written again. */
  private moveTo(rc: RoomCascade, old: string, next: string): void {
    this.edgeOf.set(rc.room.name, next);
    this.o.log.warn({ room: rc.room.name, old, origin: next }, "cascade: the room has a new origin; linking to it");
    rc.links.get(old)?.session.close(BridgeCloseCode.PeerTimeout, "origin replaced");
    void this.linkTo(rc, next);
    this.o.resync(rc.room);
  }

  private async relink(rc: RoomCascade): Promise<void> {
    const since = Date.now();
    while (!rc.closed && Date.now() - since < RELINK_FOR_MS) {
      await new Promise((r) => setTimeout(r, RELINK_EVERY_MS));
      const origin = this.edgeOf.get(rc.room.name);
      if (rc.closed || rc.role !== "edge" || origin === undefined || rc.links.has(origin)) return;
      const r = await this.askOrigin(rc, origin);
      if (rc.role !== "edge" || this.edgeOf.get(rc.room.name) !== origin) return; // took over or moved on
      // The same origin, alive (its link closed for another reason): link again.
      if (r?.role === "edge" && Date.now() - since >= RELINK_SAME_AFTER_MS) return void this.linkTo(rc, origin);
    }
    if (!rc.closed && rc.role === "edge") {
      this.o.log.warn({ room: rc.room.name }, "cascade: no origin to link to; closing this node's share of the room");
      for (const p of rc.room.participants.values()) p.sink.notify("reconnect", { reason: "room_moved" });
      rc.room.close("node_shutdown");
    }
  }

  /** Bridge session handler for links (init.query.cascade): this node is (or becomes) the origin. */
  hostLink = async (session: BridgeSession, init: BridgeInit): Promise<void> => {
    const room = init.query?.[CASCADE_QUERY] ?? "";
    const peer = session.peerNodeId;
    try {
      let asserted: unknown;
      try {
        asserted = JSON.parse(init.assertion);
      } catch {
        asserted = undefined;
      }
      const a = LinkAssertion.safeParse(asserted);
      if (!a.success || a.data.cascade !== room)
        throw new ProtocolError(ErrorCode.BadRequest, "malformed link assertion");
      if ((await this.o.owner(room)) !== this.o.nodeId)
        throw new ProtocolError(ErrorCode.WrongNode, "not the room's origin");
      if (!(await this.o.serves(room, peer)))
        throw new ProtocolError(ErrorCode.Forbidden, `node ${peer} does not serve the room`);
      const r = await this.o.openRoom(room);
      const rc = this.rooms.get(room);
      if (!rc || rc.room !== r) throw new ProtocolError(ErrorCode.NotFound, "room is closing");
      // An edge that Redis promoted while another edge noticed first: it learns it here.
      if (rc.role === "edge") this.takeOver(rc, this.edgeOf.get(room) ?? "");
      const link = await rc.addLink(peer, session);
      session.on("message", (f) => {
        const m = parseLinkMessage(f);
        if (m?.t !== "hello") return;
        // The edge's participants at once: the changes it sends next refer to them.
        rc.announce(link, r.infos(peer), (participants) => ({ t: "welcome", endpoint: link.pipe.local, participants }));
        rc.remoteJoined(link, m.participants);
        void rc.connect(link, m.endpoint).catch((err) => {
          this.o.log.warn({ room, peer, err: (err as Error).message }, "cascade: pipe to the edge failed");
          session.close(BridgeCloseCode.Refused, "pipe failed");
        });
      });
      this.o.log.info({ room, edge: peer }, "cascade: edge linked");
    } catch (e) {
      this.counters.linksRefused++;
      const code =
        e instanceof ProtocolError && e.code === ErrorCode.WrongNode
          ? BridgeCloseCode.WrongNode
          : BridgeCloseCode.Refused;
      this.o.log.warn({ room, from: peer, reason: (e as Error).message }, "cascade: link refused");
      session.close(code, (e as Error).message);
    }
  };

  /** Pipe figures per peer node, for /metrics: bytes and data messages each way. */
  async stats(): Promise<{ links: number; pipedIn: number; bytes: PerPeer; dataMessages: PerPeer }> {
    let links = 0;
    let pipedIn = 0;
    const bytes: PerPeer = new Map();
    const dataMessages: PerPeer = new Map();
    const add = (m: PerPeer, peer: string, v: { sent: number; received: number }) => {
      const b = m.get(peer) ?? { sent: 0, received: 0 };
      b.sent += v.sent;
      b.received += v.received;
      m.set(peer, b);
    };
    for (const rc of this.rooms.values()) {
      for (const s of await rc.stats()) {
        links++;
        pipedIn += s.pipedIn;
        add(bytes, s.peer, s.bytes);
        add(dataMessages, s.peer, s.dataMessages);
      }
    }
    return { links, pipedIn, bytes, dataMessages };
  }
}
