// One room's side of the cascade on this node: its links to the other nodes serving the room (an
// edge has one, to the origin; the origin has one per edge — a star, so a track crosses each node
// pair it needs at most once) and what travels on them. Each link is a signaling-bridge session
// (reliable, ordered, peer liveness) carrying link-protocol.ts messages, plus one PipeTransport
// pair (node-pipe.ts) carrying the media and the data channels. Room events go out to every link;
// the origin forwards each link's events to its other links. A track (media or data) held
// elsewhere is fetched on the first local subscription ("want" → "offer"), produced on the link's
// pipe, and kept until it is unpublished, its publisher leaves, or the link closes; pause/resume
// travel as `muted`. RoomService operations reach the control plane's node, the origin; one on a
// participant an edge serves is handed to that edge ("admin" → "adminReply").
//
// Data channels cross on the pipe's SCTP association, not as link messages: the data stays in the
// mediasoup workers (no per-message work in Node, and Redis stays off the media path), a lossy
// channel stays lossy (the bridge would make it reliable, and queue it behind signaling), and one
// message crosses a node pair once however many subscribers the far node has, as media does.
import type { types } from "mediasoup";
import { ErrorCode } from "#shared/errors.ts";
import { ProtocolError, type NotificationData, type ParticipantInfo } from "#shared/protocol.ts";
import type { RoomOp, RoomRpcReply } from "#shared/room-admin.ts";
import { BridgeCloseCode, type BridgeSession } from "../bridge/index.ts";
import type { Logger } from "../log.ts";
import type { AdminResult, PeerEvent, Room, RoomPeers, TrackSource } from "../rooms/room.ts";
import type { RoomRouter } from "../rooms/router-group.ts";
import { type LinkMessage, MAX_LINK_FRAME_BYTES, parseLinkMessage, participantBatches } from "./link-protocol.ts";
import { NodePipe, type NodePipeOptions, type PipeDataOffer, type PipeOffer } from "./node-pipe.ts";

/** How long a "want" waits for its offer before the subscription fails (and may be retried). */
export const FETCH_TIMEOUT_MS = 10_000;
/** How long a new link's pipe waits for the peer's endpoint (hello / welcome) before the link is
 * closed: a peer that accepted the link but never answers holds no transport (and port) for good. */
export const PIPE_ANSWER_TIMEOUT_MS = 10_000;
/** How long the origin waits for an edge's answer to a RoomService operation without a deadline
 * of its own (the control plane's requests carry one). */
export const ADMIN_TIMEOUT_MS = 5_000;
/** RoomService operations awaiting an edge's answer, per link: more are refused (rate_limited). */
export const MAX_PENDING_ADMIN = 256;
/** A link with more than this unacknowledged takes no RoomService operation (rate_limited): they
 * are up to ~130 KB each, and the bridge closes a session whose queue passes 4 MiB — the room's
 * own participant and track messages keep the rest. */
export const ADMIN_MAX_QUEUED_BYTES = 1024 * 1024;

export interface CascadeCounters {
  linkMessagesDropped: number;
  /** Link messages not sent: larger than a bridge frame (sending would close the link). */
  linkMessagesOversize: number;
  /** Data messages a pipe could not queue toward its peer (SCTP send buffer full). */
  dataMessagesDropped: number;
  /** Links closed before their pipe connected: the peer never sent its endpoint (in
   * PIPE_ANSWER_TIMEOUT_MS, or went silent first); their pipe transport closed with them. */
  pipesUnanswered: number;
}

/** A track of another node produced on this node's side of a link. */
type Fetched =
  | { router: RoomRouter; kind: "producer"; producer: types.Producer }
  | { router: RoomRouter; kind: "dataProducer"; producer: types.DataProducer };

export class Link {
  readonly peer: string;
  readonly session: BridgeSession;
  readonly pipe: NodePipe;
  /** The room router the pipe is on. */
  readonly router: RoomRouter;
  /** Resolves once the pipe is connected to the peer's side. */
  ready: Promise<void>;
  /** The pipe is connected (the peer answered with its endpoint). */
  connected = false;
  markReady: () => void = () => {};
  /** Offers awaited from the peer, by track id. */
  readonly awaiting = new Map<string, Waiter<PipeOffer | PipeDataOffer>>();
  /** RoomService operations awaiting the peer's answer, by id. */
  readonly admins = new Map<number, Waiter<RoomRpcReply>>();
  nextAdminId = 0;
  private readonly counters: CascadeCounters;

  constructor(peer: string, session: BridgeSession, pipe: NodePipe, router: RoomRouter, counters: CascadeCounters) {
    this.peer = peer;
    this.session = session;
    this.pipe = pipe;
    this.router = router;
    this.counters = counters;
    this.ready = new Promise((resolve) => (this.markReady = resolve));
  }

  /** Sends `m`; false when the link is closed or `m` is larger than a bridge frame (refused here and
   * counted: the bridge would close the whole link for it). */
  send(m: LinkMessage): boolean {
    if (this.session.state === "closed") return false;
    const frame = JSON.stringify(m);
    if (Buffer.byteLength(frame) > MAX_LINK_FRAME_BYTES) {
      this.counters.linkMessagesOversize++;
      return false;
    }
    return this.session.send(frame);
  }

  /** Whether the link is too backed up to take a RoomService operation. */
  get congested(): boolean {
    return this.session.bufferedAmount > ADMIN_MAX_QUEUED_BYTES;
  }

  /** Fails every awaited offer and operation (the link is gone). */
  failPending(e: Error): void {
    for (const w of [...this.awaiting.values(), ...this.admins.values()]) w.reject(e);
    this.awaiting.clear();
    this.admins.clear();
  }
}

interface Waiter<T> {
  resolve: (v: T) => void;
  reject: (e: Error) => void;
}

/** Waits for `key`'s answer in `waiting` (registered before `ask` runs) until `timeoutMs`. */
function awaitAnswer<K, T>(
  waiting: Map<K, Waiter<T>>,
  key: K,
  timeoutMs: number,
  timeout: () => Error,
  ask: () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      waiting.delete(key);
      reject(timeout());
    }, timeoutMs);
    waiting.set(key, {
      resolve: (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      reject: (e) => {
        clearTimeout(timer);
        reject(e);
      },
    });
    ask();
  });
}

const TO_LINK = {
  participantJoined: (d: NotificationData<"participantJoined">): LinkMessage => ({
    t: "joined",
    participant: d.participant,
  }),
  participantLeft: (d: NotificationData<"participantLeft">): LinkMessage => ({ t: "left", identity: d.identity }),
  participantUpdated: (d: NotificationData<"participantUpdated">): LinkMessage => ({
    t: "updated",
    participant: d.participant,
  }),
  trackPublished: (d: NotificationData<"trackPublished">): LinkMessage => ({
    t: "published",
    identity: d.identity,
    track: d.track,
  }),
  trackUnpublished: (d: NotificationData<"trackUnpublished">): LinkMessage => ({
    t: "unpublished",
    identity: d.identity,
    trackId: d.trackId,
  }),
  trackMuted: (d: NotificationData<"trackMuted">): LinkMessage => ({
    t: "muted",
    identity: d.identity,
    trackId: d.trackId,
    muted: d.muted,
  }),
};

export interface RoomCascadeOptions {
  room: Room;
  role: "origin" | "edge";
  pipe: NodePipeOptions;
  counters: CascadeCounters;
  /** Resolves once this node's pending Redis writes are done (an edge answers an operation after
   * its participant records show it, as the origin does for its own). */
  flushed: () => Promise<void>;
  log: Logger;
  /** A link closed (the peer died, left or refused). */
  onLinkClosed: (rc: RoomCascade, link: Link) => void;
  /** pipeFigures() may have changed (a link or a piped track came or went). */
  onPipesChanged?: (rc: RoomCascade) => void;
  /** Default PIPE_ANSWER_TIMEOUT_MS. */
  pipeAnswerTimeoutMs?: number;
}

/** This node's pipes for one room, as the dashboard shows them (room:<name>:nodes). */
export interface PipeFigures {
  /** Pipe transports: one per link. */
  pipes: number;
  /** Tracks of other nodes produced here over those pipes. */
  pipedIn: number;
}

/** One link's figures: tracks produced here from the peer, pipe bytes and data messages each way. */
export interface LinkStats {
  peer: string;
  pipedIn: number;
  bytes: { sent: number; received: number };
  dataMessages: { sent: number; received: number };
}

export class RoomCascade implements RoomPeers {
  readonly room: Room;
  role: "origin" | "edge";
  readonly links = new Map<string, Link>();
  /** Tracks of other nodes produced here, by track id. */
  private readonly fetched = new Map<string, Promise<Fetched>>();
  /** Track ids of those whose pipe producer is open (the fetched ones that arrived). */
  private readonly piped = new Set<string>();
  private readonly o: RoomCascadeOptions;
  closed = false;

  constructor(o: RoomCascadeOptions) {
    this.o = o;
    this.room = o.room;
    this.role = o.role;
    o.room.peers = this;
  }

  /** A new link over `session` (either side); the pipe goes on the room's first router. */
  async addLink(peer: string, session: BridgeSession): Promise<Link> {
    const router = this.room.routers.first();
    const counters = this.o.counters;
    const pipe = await NodePipe.create(router.router, this.o.pipe, () => counters.dataMessagesDropped++);
    const link = new Link(peer, session, pipe, router, counters);
    const prev = this.links.get(peer);
    if (prev) this.dropLink(prev);
    this.links.set(peer, link);
    session.on("message", (f) => this.receive(link, f));
    const unanswered = setTimeout(() => {
      if (link.connected || this.links.get(peer) !== link) return;
      this.o.log.warn({ room: this.room.name, peer }, "cascade: the peer never answered the pipe; closing the link");
      session.close(BridgeCloseCode.OpenTimeout, "pipe not answered");
    }, this.o.pipeAnswerTimeoutMs ?? PIPE_ANSWER_TIMEOUT_MS);
    unanswered.unref();
    session.once("close", () => {
      clearTimeout(unanswered);
      if (this.links.get(peer) === link) this.dropLink(link);
      this.o.onLinkClosed(this, link);
    });
    pipe.transport.observer.once(
      "close",
      () => session.state !== "closed" && session.close(BridgeCloseCode.Normal, "pipe closed"),
    );
    this.o.onPipesChanged?.(this);
    return link;
  }

  private dropLink(link: Link): void {
    this.links.delete(link.peer);
    if (!link.connected) this.o.counters.pipesUnanswered++;
    link.failPending(new ProtocolError(ErrorCode.NotFound, "the node serving it left the room"));
    link.pipe.close();
    if (link.session.state !== "closed") link.session.close(BridgeCloseCode.Normal, "link dropped");
    // Who was served there is gone: tell the locals and (origin) the other edges.
    if (this.role === "origin")
      for (const identity of this.identitiesOf(link.peer)) this.forward(link, { t: "left", identity });
    this.room.dropNode(link.peer);
    this.room.checkEmpty();
    this.o.onPipesChanged?.(this);
  }

  private identitiesOf(node: string): string[] {
    return this.room
      .infos()
      .filter((i) => this.room.nodeOf({ identity: i.identity }) === node)
      .map((i) => i.identity);
  }

  /** Participants the peer announced (hello, welcome, participants): mirrored here and (origin)
   * told to the other edges, in as few messages as fit. */
  remoteJoined(link: Link, participants: readonly ParticipantInfo[]): void {
    for (const participant of participants) this.joined(link, participant);
    if (this.role === "origin" && this.links.size > 1 && participants.length > 0)
      for (const batch of participantBatches(participants))
        this.forward(link, { t: "participants", participants: batch });
  }

  /** A participant the peer serves. One identity has one connection, as on one node: the origin,
   * which hears of every join, keeps the one it heard of last and closes the other (here, or on
   * the node serving it: `duplicate`); an edge waits for the origin's word. */
  private joined(link: Link, participant: ParticipantInfo): void {
    if (this.role === "origin") {
      const { identity } = participant;
      const at = this.room.nodeOf({ identity });
      if (at === undefined) this.room.closeDuplicate(identity);
      else if (at !== link.peer) {
        const sid = this.room.infos().find((i) => i.identity === identity)?.sid;
        if (sid) this.replaced(at, identity, sid);
      }
    }
    this.room.applyRemote(link.peer, "participantJoined", { participant });
  }

  replaced(node: string, identity: string, sid: string): void {
    if (this.role === "origin") this.links.get(node)?.send({ t: "duplicate", identity, sid });
  }

  /** Opens a link with `first` (hello or welcome) carrying the first batch of `participants`; the
   * others follow as `participants` messages (a welcome to a big room does not fit one frame). */
  announce(
    link: Link,
    participants: readonly ParticipantInfo[],
    first: (batch: ParticipantInfo[]) => LinkMessage,
  ): void {
    const [head = [], ...rest] = participantBatches(participants);
    link.send(first(head));
    for (const batch of rest) link.send({ t: "participants", participants: batch });
  }

  /** Connects the link's pipe to the peer's endpoint. */
  async connect(link: Link, endpoint: Parameters<NodePipe["connect"]>[0]): Promise<void> {
    await link.pipe.connect(endpoint);
    link.connected = true;
    link.markReady();
  }

  // ---- RoomPeers ----

  local<N extends PeerEvent>(name: N, data: NotificationData<N>): void {
    const m = (TO_LINK[name] as (d: NotificationData<N>) => LinkMessage)(data);
    for (const link of this.links.values()) link.send(m);
  }

  holdsOpen(): boolean {
    return this.role === "origin" && this.links.size > 0;
  }

  fetch(trackId: string): Promise<TrackSource> {
    let f = this.fetched.get(trackId);
    if (!f) {
      f = this.fetchFromPeer(trackId);
      this.fetched.set(trackId, f);
      f.catch(() => this.fetched.delete(trackId));
    }
    return f.then(({ router, kind, producer }) => ({ router, kind, producerId: producer.id }));
  }

  private async fetchFromPeer(trackId: string): Promise<Fetched> {
    const node = this.room.nodeOf({ trackId });
    // An edge reaches every other node through the origin.
    const link =
      (this.role === "edge"
        ? this.links.values().next().value
        : node !== undefined
          ? this.links.get(node)
          : undefined) ?? undefined;
    if (!link || node === undefined) throw new ProtocolError(ErrorCode.NotFound, "no such track");
    await link.ready;
    const offer = await awaitAnswer(
      link.awaiting,
      trackId,
      FETCH_TIMEOUT_MS,
      () => new ProtocolError(ErrorCode.Timeout, "the track's node did not answer"),
      () => link.send({ t: "want", trackId }),
    );
    // The kind the track was announced with, not what the offer claims.
    if ((offer.kind === "data") !== (this.room.remoteTrackKind(trackId) === "data"))
      throw new ProtocolError(ErrorCode.NotFound, "no such track");
    const f: Fetched =
      offer.kind === "data"
        ? { router: link.router, kind: "dataProducer", producer: await link.pipe.acceptData(offer) }
        : { router: link.router, kind: "producer", producer: await link.pipe.accept(offer) };
    const forget = () => {
      this.fetched.delete(trackId);
      if (this.piped.delete(trackId)) this.o.onPipesChanged?.(this);
    };
    if (f.kind === "producer") f.producer.observer.once("close", forget);
    else f.producer.observer.once("close", forget);
    if (this.closed || !this.links.has(link.peer)) {
      f.producer.close();
      throw new ProtocolError(ErrorCode.NotFound, "the track's node left the room");
    }
    this.piped.add(trackId);
    this.o.onPipesChanged?.(this);
    return f;
  }

  /** A track some peer wants: this node's own, or one it fetched (the origin relays edge to edge). */
  private async serve(link: Link, trackId: string): Promise<void> {
    try {
      const at =
        this.room.localTrack(trackId) ??
        (this.room.nodeOf({ trackId }) !== link.peer ? await this.fetch(trackId) : undefined);
      if (!at) throw new Error("not here");
      await link.ready;
      const id = await this.room.routers.producerOn(at.kind, at.producerId, at.router, link.router);
      const offer = at.kind === "producer" ? await link.pipe.offer(id) : await link.pipe.offerData(id);
      link.send({ t: "offer", trackId, offer });
    } catch (err) {
      this.o.log.info(
        { room: this.room.name, peer: link.peer, trackId, err: (err as Error).message },
        "cascade: cannot offer track",
      );
      link.send({ t: "unavailable", trackId });
    }
  }

  /** A RoomService operation for a participant `node` serves (this node is the origin). */
  async admin(node: string, op: RoomOp, deadline = Date.now() + ADMIN_TIMEOUT_MS): Promise<AdminResult> {
    const link = this.role === "origin" ? this.links.get(node) : undefined;
    const who = "identity" in op ? `participant ${op.identity}` : "the participant";
    if (!link) throw new ProtocolError(ErrorCode.NotFound, `${who} is not in room ${this.room.name}`);
    if (link.admins.size >= MAX_PENDING_ADMIN || link.congested)
      throw new ProtocolError(ErrorCode.RateLimited, "too many operations under way on that participant's node");
    const id = link.nextAdminId++;
    // Answer a little before the caller gives up, so it hears why.
    const waitMs = Math.max(0, deadline - Date.now() - 100);
    return awaitAnswer(
      link.admins,
      id,
      waitMs,
      () => new ProtocolError(ErrorCode.Timeout, `node ${node}, which serves ${who}, did not answer`),
      () => {
        if (!link.send({ t: "admin", id, op })) {
          link.admins.get(id)?.reject(new ProtocolError(ErrorCode.BadRequest, "operation too large to relay"));
          link.admins.delete(id);
        }
      },
    ).then((reply) => {
      if (!reply.ok) throw new ProtocolError(reply.code, reply.message);
      const { ok: _, ...result } = reply;
      return result;
    });
  }

  async adminAny(op: RoomOp, deadline?: number): Promise<AdminResult | undefined> {
    if (this.role !== "origin" || this.links.size === 0) return undefined;
    const tries = [...this.links.keys()].map((node) => this.admin(node, op, deadline));
    try {
      return await Promise.any(tries);
    } catch (e) {
      const errors = e instanceof AggregateError ? e.errors : [e];
      const other = errors.find((x) => !(x instanceof ProtocolError && x.code === ErrorCode.NotFound));
      if (other) throw other;
      return undefined;
    }
  }

  adminAll(op: RoomOp, nodes?: ReadonlySet<string>): void {
    if (this.role !== "origin") return;
    const to = [...this.links.values()].filter((l) => !nodes || nodes.has(l.peer));
    // All or none: refused before anything is sent, so the caller may simply retry.
    if (to.some((l) => l.congested))
      throw new ProtocolError(ErrorCode.RateLimited, "too many operations under way on the room's other nodes");
    for (const l of to) l.send({ t: "admin", op });
  }

  /** An operation the origin handed to this edge: applied to its own participants, answered once
   * the records it wrote are in Redis. */
  private async applyAdmin(link: Link, id: number | undefined, op: RoomOp): Promise<void> {
    let reply: RoomRpcReply;
    try {
      reply = { ok: true, ...(await this.room.admin(op, { relayed: true })) };
      await this.o.flushed();
    } catch (e) {
      if (!(e instanceof ProtocolError)) this.o.log.error({ err: e, op: op.op }, "cascade: relayed operation failed");
      reply =
        e instanceof ProtocolError
          ? { ok: false, code: e.code, message: e.message.slice(0, 1024) }
          : { ok: false, code: ErrorCode.Internal, message: "internal error" };
    }
    if (id === undefined) return;
    if (!link.send({ t: "adminReply", id, reply }) && reply.ok)
      link.send({
        t: "adminReply",
        id,
        reply: { ok: false, code: ErrorCode.Internal, message: "applied, but the answer is too large to relay" },
      });
  }

  private receive(link: Link, frame: string): void {
    const m = parseLinkMessage(frame);
    if (!m) return this.dropped(link, "malformed");
    switch (m.t) {
      case "hello":
      case "welcome":
        return; // handled by whoever opened the link
      case "participants":
        return this.remoteJoined(link, m.participants);
      case "joined":
        this.joined(link, m.participant);
        return this.forward(link, m);
      case "left": {
        // Only a participant the peer serves: the identity may have connected elsewhere since.
        if (this.room.nodeOf({ identity: m.identity }) !== link.peer) return;
        const info = this.room.infos().find((i) => i.identity === m.identity);
        for (const t of info?.tracks ?? []) this.closeFetched(t.trackId);
        this.room.applyRemote(link.peer, "participantLeft", { identity: m.identity, sid: info?.sid ?? "" });
        return this.forward(link, m);
      }
      case "updated":
        this.room.applyRemote(link.peer, "participantUpdated", { participant: m.participant });
        return this.forward(link, m);
      case "published":
        this.room.applyRemote(link.peer, "trackPublished", { identity: m.identity, track: m.track });
        return this.forward(link, m);
      case "unpublished":
        this.closeFetched(m.trackId);
        this.room.applyRemote(link.peer, "trackUnpublished", { identity: m.identity, trackId: m.trackId });
        return this.forward(link, m);
      case "muted":
        void this.fetched
          .get(m.trackId)
          ?.then(async (f) => {
            if (f.kind === "producer") await (m.muted ? f.producer.pause() : f.producer.resume());
          })
          .catch(() => {});
        this.room.applyRemote(link.peer, "trackMuted", { identity: m.identity, trackId: m.trackId, muted: m.muted });
        return this.forward(link, m);
      case "want":
        return void this.serve(link, m.trackId);
      case "offer":
        link.awaiting.get(m.trackId)?.resolve(m.offer);
        link.awaiting.delete(m.trackId);
        return;
      case "unavailable":
        link.awaiting.get(m.trackId)?.reject(new ProtocolError(ErrorCode.NotFound, "no such track"));
        link.awaiting.delete(m.trackId);
        return;
      case "admin":
        // Only the origin hands operations out; an edge's own are the control plane's to send.
        if (this.role !== "edge") return this.dropped(link, "admin from an edge");
        return void this.applyAdmin(link, m.id, m.op);
      case "duplicate":
        if (this.role !== "edge") return this.dropped(link, "duplicate from an edge");
        return this.room.closeDuplicate(m.identity, m.sid);
      case "adminReply":
        link.admins.get(m.id)?.resolve(m.reply);
        link.admins.delete(m.id);
        return;
    }
  }

  private dropped(link: Link, why: string): void {
    this.o.counters.linkMessagesDropped++;
    this.o.log.warn({ room: this.room.name, peer: link.peer, why }, "cascade: link message dropped");
  }

  private closeFetched(trackId: string): void {
    void this.fetched
      .get(trackId)
      ?.then(({ producer }) => producer.close())
      .catch(() => {});
    this.fetched.delete(trackId);
  }

  /** The origin relays an edge's events to its other edges. */
  private forward(from: Link, m: LinkMessage): void {
    if (this.role !== "origin") return;
    for (const l of this.links.values()) if (l !== from) l.send(m);
  }

  /** This node's pipes for the room now (the dashboard's figures; /metrics has stats()). */
  pipeFigures(): PipeFigures {
    return { pipes: this.links.size, pipedIn: this.piped.size };
  }

  /** Pipe figures for /metrics, per peer node. */
  async stats(): Promise<LinkStats[]> {
    return Promise.all(
      [...this.links.values()].map(async (l) => ({
        peer: l.peer,
        pipedIn: l.pipe.transport.closed ? 0 : this.fetchedFrom(l),
        bytes: await l.pipe.bytes().catch(() => ({ sent: 0, received: 0 })),
        dataMessages: await l.pipe.dataMessages(),
      })),
    );
  }

  private fetchedFrom(l: Link): number {
    let n = 0;
    for (const trackId of this.fetched.keys())
      if (this.role === "edge" || this.room.nodeOf({ trackId }) === l.peer) n++;
    return n;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const l of [...this.links.values()]) {
      this.links.delete(l.peer);
      l.pipe.close();
      if (l.session.state !== "closed") l.session.close(BridgeCloseCode.Normal, "room closed");
    }
    this.fetched.clear();
    this.piped.clear();
  }
}
