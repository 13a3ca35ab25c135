// The mediasoup routers of one room on this node: one per worker at most, so a room can use more
// than one core. A participant's transports, producers and consumers live on its router; a
// consumer of a track published on another router of the room gets that producer piped in with
// router.pipeToRouter() — lazily, once per (producer, target router), cached until either end
// closes. mediasoup links the pipe pair (producer close/pause/resume reach the piped copy; its
// consumers see producerclose / producerpause as on one router), so the room needs no relaying.
//
// Budget (docs: "Rooms across workers"): a worker carries at most `consumerBudget` consumers
// (subscribers' consumers plus pipe consumers). bench/media-forwarding measured ~8.2 µs of worker
// CPU per forwarded packet: 0.123 % of a core per 150 packet/s video stream, ~0.04 % per 50
// packet/s Opus stream, so an all-audio+video mix averages ~0.08 % per consumer over
// PlainTransports. WebRTC consumers add SRTP per packet (not measured there), so the default, 500
// (mediasoup's own guidance), keeps a worker near 40 % of a core on that mix and under 80 % even
// if every consumer were 720p video with SRTP costing +25 %. A join goes to the room's first
// router whose worker stays within budget once the joiner and everyone already on that router
// subscribe to what the room publishes (or is expected to: 2 tracks per publisher); otherwise to a
// new router on the least-loaded worker not yet hosting the room; when every worker hosts one, to
// the router with the most headroom (the budget is soft there: refusing would split the room).
import type { types } from "mediasoup";
import type { Logger } from "../log.ts";
import { MEDIA_CODECS } from "./media-codecs.ts";
import type { WorkerPool, WorkerSlot } from "./worker-pool.ts";

export interface RoomRouter {
  readonly router: types.Router;
  readonly slot: WorkerSlot;
  /** Participants whose transports are on this router. */
  participants: number;
  /** Consumers on this router (this room's share of slot.consumers). */
  consumers: number;
}

export interface RouterGroupOptions {
  pool: WorkerPool;
  /** Consumers a worker may carry before a room opens a router elsewhere (0 = no limit: one router per room). */
  consumerBudget: number;
  log: Logger;
}

export interface PipeCounts {
  routers: number;
  /** Producers and data producers piped between this room's routers. */
  pipedProducers: number;
}

export type PipeKind = "producer" | "dataProducer";

export class RouterGroup {
  /** In creation order: joins fill the oldest router first. */
  private readonly routers: RoomRouter[] = [];
  /** (kind, source producer id, target router id) → the piped producer's id on the target. */
  private readonly pipes = new Map<string, Promise<string>>();
  private readonly o: RouterGroupOptions;
  /** Serializes router picks, so concurrent joins see each other's router (no duplicate per worker). */
  private picking: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** A router closed underneath the room (its worker died): its participants are gone. */
  onRouterLost: (r: RoomRouter) => void = () => {};

  private constructor(o: RouterGroupOptions) {
    this.o = o;
  }

  /** A group with its first router on the least-loaded worker. */
  static async open(o: RouterGroupOptions): Promise<RouterGroup> {
    const g = new RouterGroup(o);
    await g.addRouter();
    return g;
  }

  /** The oldest live router: any router's RTP capabilities are the room's (same codecs everywhere). */
  first(): RoomRouter {
    const r = this.routers[0];
    if (!r) throw new Error("room has no router");
    return r;
  }

  all(): readonly RoomRouter[] {
    return this.routers;
  }

  /** Picks (or opens) the router for a joining participant and counts it there; the caller
   * releases it when the participant leaves. `expectedTracks`: tracks the joiner will subscribe to. */
  async admit(expectedTracks: number): Promise<RoomRouter> {
    const run = this.picking.then(() => this.pick(expectedTracks));
    this.picking = run.catch(() => {});
    const r = await run;
    r.participants++;
    return r;
  }

  private async pick(expectedTracks: number): Promise<RoomRouter> {
    if (this.closed) throw new Error("room is closed");
    const budget = this.o.consumerBudget;
    const projected = (r: RoomRouter) => r.slot.consumers - r.consumers + (r.participants + 1) * expectedTracks;
    if (budget === 0) return this.first();
    const fit = this.routers.find((r) => projected(r) <= budget);
    if (fit) return fit;
    const hosting = new Set(this.routers.map((r) => r.slot));
    if (this.o.pool.pick(hosting)) return this.addRouter(hosting);
    // Every worker hosts this room: the least projected load (over budget; splitting is worse).
    return this.routers.reduce((a, b) => (projected(b) < projected(a) ? b : a));
  }

  private async addRouter(exclude?: ReadonlySet<WorkerSlot>): Promise<RoomRouter> {
    const { router, slot } = await this.o.pool.createRouter(MEDIA_CODECS, exclude);
    const r: RoomRouter = { router, slot, participants: 0, consumers: 0 };
    if (this.closed) {
      router.close();
      throw new Error("room is closed");
    }
    this.routers.push(r);
    router.observer.once("close", () => {
      const i = this.routers.indexOf(r);
      if (i >= 0) this.routers.splice(i, 1);
      // Closed by us (release, close) it is already out of the list; otherwise the worker died.
      if (i >= 0 && !this.closed) this.onRouterLost(r);
    });
    if (this.routers.length > 1)
      this.o.log.info(
        { router: router.id, worker: slot.index, routers: this.routers.length },
        "room spans another worker",
      );
    return r;
  }

  /** A participant left its router. A router left empty closes (with its pipes) unless it is the
   * room's last one, which the room's empty timeout closes. */
  release(r: RoomRouter): void {
    r.participants--;
    if (r.participants > 0 || this.closed || this.routers.length <= 1) return;
    const i = this.routers.indexOf(r);
    if (i < 0) return;
    this.routers.splice(i, 1);
    r.router.close();
  }

  /** Counts a consumer on its router and worker for as long as it lives. */
  countConsumer(r: RoomRouter, c: { observer: { once(e: "close", f: () => void): unknown } }): void {
    r.consumers++;
    r.slot.consumers++;
    c.observer.once("close", () => {
      r.consumers--;
      r.slot.consumers--;
    });
  }

  /** The id under which a producer (or data producer) of router `from` can be consumed on router
   * `to`: itself on the same router, else a piped copy made on first use. Throws NotFoundError
   * when the producer closed meanwhile. */
  producerOn(kind: PipeKind, id: string, from: RoomRouter, to: RoomRouter): Promise<string> {
    if (from === to) return Promise.resolve(id);
    const key = `${kind}:${id}:${to.router.id}`;
    let piped = this.pipes.get(key);
    if (!piped) {
      piped = this.pipe(kind, id, from, to, key);
      this.pipes.set(key, piped);
      piped.catch(() => this.pipes.delete(key));
    }
    return piped;
  }

  private async pipe(kind: PipeKind, id: string, from: RoomRouter, to: RoomRouter, key: string): Promise<string> {
    // keepId false: two routers of a room may share a worker (one worker, or after a respawn), where
    // mediasoup refuses a second producer with the same id.
    const res = await from.router.pipeToRouter({
      ...(kind === "producer" ? { producerId: id } : { dataProducerId: id }),
      router: to.router,
      keepId: false,
    });
    // The piped copy closes with its source (mediasoup links them) or with either router.
    const forget = () => this.pipes.delete(key);
    if (res.pipeConsumer && res.pipeProducer) {
      this.countConsumer(from, res.pipeConsumer);
      res.pipeProducer.observer.once("close", forget);
      return res.pipeProducer.id;
    }
    if (res.pipeDataProducer) {
      res.pipeDataProducer.observer.once("close", forget);
      return res.pipeDataProducer.id;
    }
    throw new Error("pipeToRouter returned no pipe pair");
  }

  counts(): PipeCounts {
    return { routers: this.routers.length, pipedProducers: this.pipes.size };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const all = this.routers.splice(0);
    for (const r of all) r.router.close();
    this.pipes.clear();
  }
}
