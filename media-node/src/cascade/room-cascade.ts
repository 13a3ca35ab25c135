// One room's side of the cascade on this node: its links to the other nodes serving the room (an
// edge has one, to the origin; the origin has one per edge — a star, so a track crosses each node
// pair it needs at most once) and what travels on them. Each link is a signaling-bridge session
// (reliable, ordered, peer liveness) carrying link-protocol.ts messages, plus one PipeTransport
// pair (node-pipe.ts) carrying the media. Room events go out to every link; the origin forwards
// each link's events to its other links. A track held elsewhere is fetched on the first local
// subscription ("want" → "offer"), produced on the link's pipe, and kept until it is unpublished,
// its publisher leaves, or the link closes; pause/resume travel as `muted`.
import type { types } from "mediasoup";
import { ErrorCode } from "#shared/errors.ts";
import { ProtocolError, type NotificationData, type ParticipantInfo } from "#shared/protocol.ts";
import { BridgeCloseCode, type BridgeSession } from "../bridge/index.ts";
import type { Logger } from "../log.ts";
import type { PeerEvent, Room, RoomPeers } from "../rooms/room.ts";
import type { RoomRouter } from "../rooms/router-group.ts";
import { type LinkMessage, parseLinkMessage } from "./link-protocol.ts";
import { NodePipe, type NodePipeOptions, type PipeOffer } from "./node-pipe.ts";

/** How long a "want" waits for its offer before the subscription fails (and may be retried). */
export const FETCH_TIMEOUT_MS = 10_000;

export interface CascadeCounters {
  linkMessagesDropped: number;
}

export class Link {
  readonly peer: string;
  readonly session: BridgeSession;
  readonly pipe: NodePipe;
  /** The room router the pipe is on. */
  readonly router: RoomRouter;
  /** Resolves once the pipe is connected to the peer's side. */
  ready: Promise<void>;
  markReady: () => void = () => {};
  /** Offers awaited from the peer, by track id. */
  readonly awaiting = new Map<string, { resolve: (o: PipeOffer) => void; reject: (e: Error) => void }>();

  constructor(peer: string, session: BridgeSession, pipe: NodePipe, router: RoomRouter) {
    this.peer = peer;
    this.session = session;
    this.pipe = pipe;
    this.router = router;
    this.ready = new Promise((resolve) => (this.markReady = resolve));
  }

  send(m: LinkMessage): void {
    if (this.session.state !== "closed") this.session.send(JSON.stringify(m));
  }
}

const TO_LINK = {
  participantJoined: (d: NotificationData<"participantJoined">): LinkMessage => ({
    t: "joined",
    participant: d.participant,
  }),
  participantLeft: (d: NotificationData<"participantLeft">): LinkMessage => ({ t: "left", identity: d.identity }),
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
  log: Logger;
  /** A link closed (the peer died, left or refused). */
  onLinkClosed: (rc: RoomCascade, link: Link) => void;
  /** pipeFigures() may have changed (a link or a piped track came or went). */
  onPipesChanged?: (rc: RoomCascade) => void;
}

/** This node's pipes for one room, as the dashboard shows them (room:<name>:nodes). */
export interface PipeFigures {
  /** Pipe transports: one per link. */
  pipes: number;
  /** Tracks of other nodes produced here over those pipes. */
  pipedIn: number;
}

export class RoomCascade implements RoomPeers {
  readonly room: Room;
  role: "origin" | "edge";
  readonly links = new Map<string, Link>();
  /** Tracks of other nodes produced here, by track id. */
  private readonly fetched = new Map<string, Promise<{ router: RoomRouter; producer: types.Producer }>>();
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
    const pipe = await NodePipe.create(router.router, this.o.pipe);
    const link = new Link(peer, session, pipe, router);
    const prev = this.links.get(peer);
    if (prev) this.dropLink(prev);
    this.links.set(peer, link);
    session.on("message", (f) => this.receive(link, f));
    session.once("close", () => {
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
    for (const w of link.awaiting.values())
      w.reject(new ProtocolError(ErrorCode.NotFound, "the track's node left the room"));
    link.awaiting.clear();
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

  /** A participant an edge announced in its hello: mirrored here and told to the other edges. */
  remoteJoined(link: Link, participant: ParticipantInfo): void {
    this.room.applyRemote(link.peer, "participantJoined", { participant });
    this.forward(link, { t: "joined", participant });
  }

  /** Connects the link's pipe to the peer's endpoint. */
  async connect(link: Link, endpoint: Parameters<NodePipe["connect"]>[0]): Promise<void> {
    await link.pipe.connect(endpoint);
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

  fetch(trackId: string): Promise<{ router: RoomRouter; producerId: string }> {
    let f = this.fetched.get(trackId);
    if (!f) {
      f = this.fetchFromPeer(trackId);
      this.fetched.set(trackId, f);
      f.catch(() => this.fetched.delete(trackId));
    }
    return f.then(({ router, producer }) => ({ router, producerId: producer.id }));
  }

  private async fetchFromPeer(trackId: string): Promise<{ router: RoomRouter; producer: types.Producer }> {
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
    const offer = await new Promise<PipeOffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        link.awaiting.delete(trackId);
        reject(new ProtocolError(ErrorCode.Timeout, "the track's node did not answer"));
      }, FETCH_TIMEOUT_MS);
      link.awaiting.set(trackId, {
        resolve: (o) => {
          clearTimeout(timer);
          resolve(o);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      link.send({ t: "want", trackId });
    });
    const producer = await link.pipe.accept(offer);
    producer.observer.once("close", () => {
      this.fetched.delete(trackId);
      if (this.piped.delete(trackId)) this.o.onPipesChanged?.(this);
    });
    if (this.closed || !this.links.has(link.peer)) {
      producer.close();
      throw new ProtocolError(ErrorCode.NotFound, "the track's node left the room");
    }
    this.piped.add(trackId);
    this.o.onPipesChanged?.(this);
    return { router: link.router, producer };
  }

  /** A track some peer wants: this node's own, or one it fetched (the origin relays edge to edge). */
  private async serve(link: Link, trackId: string): Promise<void> {
    try {
      const at =
        this.room.localTrack(trackId) ??
        (this.room.nodeOf({ trackId }) !== link.peer ? await this.fetch(trackId) : undefined);
      if (!at) throw new Error("not here");
      await link.ready;
      const id = await this.room.routers.producerOn("producer", at.producerId, at.router, link.router);
      link.send({ t: "offer", trackId, offer: await link.pipe.offer(id) });
    } catch (err) {
      this.o.log.info(
        { room: this.room.name, peer: link.peer, trackId, err: (err as Error).message },
        "cascade: cannot offer track",
      );
      link.send({ t: "unavailable", trackId });
    }
  }

  private receive(link: Link, frame: string): void {
    const m = parseLinkMessage(frame);
    if (!m) {
      this.o.counters.linkMessagesDropped++;
      this.o.log.warn({ room: this.room.name, peer: link.peer }, "cascade: malformed link message dropped");
      return;
    }
    switch (m.t) {
      case "hello":
      case "welcome":
        return; // handled by whoever opened the link
      case "joined":
        this.room.applyRemote(link.peer, "participantJoined", { participant: m.participant });
        return this.forward(link, m);
      case "left": {
        const info = this.room.infos().find((i) => i.identity === m.identity);
        for (const t of info?.tracks ?? []) this.closeFetched(t.trackId);
        this.room.applyRemote(link.peer, "participantLeft", { identity: m.identity, sid: info?.sid ?? "" });
        return this.forward(link, m);
      }
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
          ?.then(({ producer }) => (m.muted ? producer.pause() : producer.resume()))
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
    }
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
  async stats(): Promise<{ peer: string; pipedIn: number; bytes: { sent: number; received: number } }[]> {
    return Promise.all(
      [...this.links.values()].map(async (l) => ({
        peer: l.peer,
        pipedIn: l.pipe.transport.closed ? 0 : this.fetchedFrom(l),
        bytes: await l.pipe.bytes().catch(() => ({ sent: 0, received: 0 })),
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
