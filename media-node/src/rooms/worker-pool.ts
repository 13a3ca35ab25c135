// mediasoup workers, one per core, each with a WebRtcServer on its own port (rtc_port + i), so a
// node needs only N fixed UDP/TCP ports instead of a port per transport. Routers go to the worker
// carrying the fewest consumers (then the fewest routers). A worker that dies is replaced; its
// routers close with it, which their rooms handle (router-group.ts) — the clients reconnect.
import * as mediasoup from "mediasoup";
import type { types } from "mediasoup";
import type { Logger } from "../log.ts";

const SIGNALS = ["SIGTERM", "SIGINT"] as const;

export interface WorkerSlot {
  readonly index: number;
  worker: types.Worker;
  webRtcServer: types.WebRtcServer;
  routers: number;
  /** Consumers (subscribers' and pipe consumers) on this worker: its forwarding load, which
   * router-group.ts keeps up to date and budgets. */
  consumers: number;
}

export interface WorkerPoolOptions {
  count: number;
  listenIp: string;
  announcedAddress: string;
  firstPort: number;
  logLevel: types.WorkerLogLevel;
  log: Logger;
}

export class WorkerPool {
  private readonly slots: WorkerSlot[] = [];
  private readonly opts: WorkerPoolOptions;
  private closed = false;

  private constructor(opts: WorkerPoolOptions) {
    this.opts = opts;
  }

  static async start(opts: WorkerPoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(opts);
    try {
      for (let i = 0; i < opts.count; i++) pool.slots.push(await pool.spawn(i));
    } catch (e) {
      pool.close();
      throw e;
    }
    return pool;
  }

  private async spawn(index: number): Promise<WorkerSlot> {
    const { listenIp, announcedAddress, firstPort, logLevel, log } = this.opts;
    const before = new Set(SIGNALS.flatMap((s) => process.listeners(s)));
    const worker = await mediasoup.createWorker({ logLevel, appData: { index } });
    // mediasoup closes every worker on the parent's SIGTERM/SIGINT, which would cut all media at
    // the start of a drain; the node closes its workers itself when the drain is over.
    for (const s of SIGNALS) for (const l of process.listeners(s)) if (!before.has(l)) process.removeListener(s, l);
    const port = firstPort + index;
    let webRtcServer: types.WebRtcServer;
    try {
      webRtcServer = await worker.createWebRtcServer({
        listenInfos: [
          { protocol: "udp", ip: listenIp, announcedAddress, port },
          { protocol: "tcp", ip: listenIp, announcedAddress, port },
        ],
      });
    } catch (e) {
      worker.close();
      throw new Error(`cannot listen for WebRTC on ${listenIp}:${port}: ${(e as Error).message}`);
    }
    const slot: WorkerSlot = { index, worker, webRtcServer, routers: 0, consumers: 0 };
    worker.on("died", (err) => {
      log.error({ err, worker: index, pid: worker.pid }, "mediasoup worker died");
      if (!this.closed) void this.respawn(index);
    });
    log.info({ worker: index, pid: worker.pid, port }, "mediasoup worker ready");
    return slot;
  }

  private async respawn(index: number): Promise<void> {
    try {
      this.slots[index] = await this.spawn(index);
    } catch (err) {
      this.opts.log.fatal({ err, worker: index }, "cannot replace mediasoup worker");
    }
  }

  /** Least-loaded live worker (fewest consumers, then fewest routers) outside `exclude`; undefined
   * when every live worker is excluded. */
  pick(exclude: ReadonlySet<WorkerSlot> = new Set()): WorkerSlot | undefined {
    let best: WorkerSlot | undefined;
    for (const s of this.slots) {
      if (s.worker.closed || exclude.has(s)) continue;
      if (!best || s.consumers < best.consumers || (s.consumers === best.consumers && s.routers < best.routers))
        best = s;
    }
    return best;
  }

  /** A router on the least-loaded worker outside `exclude` (the workers already hosting the room). */
  async createRouter(
    mediaCodecs: types.RouterRtpCodecCapability[],
    exclude?: ReadonlySet<WorkerSlot>,
  ): Promise<{ router: types.Router; slot: WorkerSlot }> {
    const slot = this.pick(exclude);
    if (!slot) throw new Error("no live mediasoup worker");
    slot.routers++;
    try {
      const router = await slot.worker.createRouter({ mediaCodecs });
      router.observer.once("close", () => slot.routers--);
      return { router, slot };
    } catch (e) {
      slot.routers--;
      throw e;
    }
  }

  get size(): number {
    return this.slots.length;
  }

  close(): void {
    this.closed = true;
    for (const s of this.slots) s.worker.close();
  }
}
