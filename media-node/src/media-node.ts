// Assembles one media node: worker pool → rooms → signaling + HTTP, plus in cluster mode the Redis
// registry and the signaling bridge endpoint (which also receives the node's bus messages). Owns
// the node's state (SERVING / DRAINING) and the drain sequence.
import { type AddressInfo, isIP } from "node:net";
import type { Server } from "node:http";
import { CONTROL_PLANE, parseBusMessage } from "#shared/bus.ts";
import type { NodeState } from "#shared/node.ts";
import { BridgeEndpoint } from "./bridge/index.ts";
import type { MediaNodeConfig } from "./config.ts";
import { createHttpServer } from "./http/http-server.ts";
import { createLogger, type Logger } from "./log.ts";
import { NodeMetrics } from "./metrics.ts";
import { NodeRegistry } from "./cluster/node-registry.ts";
import type { RoomObserver } from "./rooms/room.ts";
import { RoomManager } from "./rooms/room-manager.ts";
import { SignalingServer } from "./signaling/signaling-server.ts";
import { iceServersFor } from "./signaling/turn.ts";
import { ResumeRegistry } from "./signaling/resume.ts";
import { WorkerPool } from "./rooms/worker-pool.ts";
import { RoomRpcServer } from "./cluster/room-rpc.ts";
import { WebhookNotifier } from "./webhooks/notifier.ts";
import { withWebhooks } from "./webhooks/room-events.ts";
import { Cascade } from "./cascade/cascade.ts";
import { CASCADE_QUERY } from "./cascade/link-protocol.ts";

const STANDALONE: RoomObserver = {
  roomOpened() {},
  roomClosed() {},
  participantUpdated() {},
  participantLeft() {},
};

export class MediaNode {
  readonly config: MediaNodeConfig;
  readonly log: Logger;
  readonly rooms: RoomManager;
  private readonly pool: WorkerPool;
  private readonly registry: NodeRegistry | undefined;
  private readonly signaling: SignalingServer;
  private readonly http: Server;
  private state: NodeState = "SERVING";
  private stopping: Promise<void> | undefined;
  /** Started bridge endpoint (cluster mode, once Redis answered). */
  private bridge: BridgeEndpoint | undefined;
  private bridgeRetry: NodeJS.Timeout | undefined;
  /** Webhook delivery (when configured). */
  private readonly webhooks: WebhookNotifier | undefined;
  /** RoomService operations from the control plane (cluster mode). */
  private readonly roomRpc: RoomRpcServer | undefined;
  /** Rooms spanning nodes (cluster mode with cascade.enabled). */
  readonly cascade: Cascade | undefined;

  private constructor(config: MediaNodeConfig, log: Logger, pool: WorkerPool) {
    this.config = config;
    this.log = log;
    this.pool = pool;
    const metrics = new NodeMetrics(
      () => this.rooms.counts(),
      () => this.state === "DRAINING",
      () => this.bridge?.metrics,
      () => this.signaling.socketCounts,
      () => this.cascade,
    );
    // The registry observes the rooms (observer) and reads their counts (getter): created first.
    let observer: RoomObserver = STANDALONE;
    if (config.redis_url) {
      this.registry = new NodeRegistry({
        redisUrl: config.redis_url,
        nodeId: config.node_id,
        region: config.region,
        signalUrl: config.signal_url,
        rtcAddress: config.announced_address,
        rooms: () => this.rooms,
        state: () => this.state,
        roomLost: (room) => void this.rooms.moveRoom(room),
        metrics,
        isEdge: (room) => this.cascade?.isEdge(room) ?? false,
        log,
      });
      observer = this.registry;
      if (config.cascade.enabled) {
        const registry = this.registry;
        const pipeIp = config.pipe_listen_ip ?? config.listen_ip;
        const announced =
          config.pipe_announced_address ?? (isIP(config.announced_address) ? config.announced_address : undefined);
        this.cascade = new Cascade({
          nodeId: config.node_id,
          region: config.region,
          config: config.cascade,
          pipe: {
            listenIp: pipeIp,
            ...(announced ? { announcedAddress: announced } : {}),
            ...(config.pipe_port_min !== undefined && config.pipe_port_max !== undefined
              ? { portRange: { min: config.pipe_port_min, max: config.pipe_port_max } }
              : {}),
          },
          redis: () => registry.scripts,
          bridge: () => this.bridge,
          serves: (room, node) => registry.servesRoom(room, node),
          openRoom: async (room) => this.rooms.roomFor(room, undefined, (await registry.roomRecord(room))?.record),
          owner: async (room) => (await registry.roomRecord(room))?.record?.node,
          resync: (room) =>
            registry.rewriteParticipants(
              room.name,
              [...room.participants.values()].map((p) => p.record()),
            ),
          flushed: () => registry.flushed(),
          log: log.child({ component: "cascade" }),
        });
      }
    }
    const turn =
      config.turn_urls?.length && config.turn_secret
        ? { urls: config.turn_urls, secret: config.turn_secret, ttlSec: config.turn_credential_ttl_s }
        : undefined;
    if (config.webhook) {
      this.webhooks = new WebhookNotifier({
        apiKey: config.webhook.api_key,
        apiSecret: config.api_keys.get(config.webhook.api_key)!,
        urls: config.webhook.urls,
        counters: {
          sent: () => metrics.webhooks.inc({ result: "sent" }),
          retried: () => metrics.webhooks.inc({ result: "retried" }),
          dropped: (reason) => metrics.webhooks.inc({ result: `dropped_${reason}` }),
        },
        log: log.child({ component: "webhooks" }),
      });
      observer = withWebhooks(observer, this.webhooks);
    }
    this.rooms = new RoomManager({
      nodeId: config.node_id,
      region: config.region,
      pool,
      emptyTimeoutMs: config.empty_room_timeout_ms,
      maxParticipantsPerRoom: config.max_participants_per_room,
      maxTracks: config.max_tracks,
      workerConsumerBudget: config.worker_consumer_budget,
      observer,
      record: async (room) => this.registry?.roomRecord(room), // standalone: no Redis, the token decides
      iceServers: (sid) => iceServersFor(turn, sid),
      ...(this.cascade ? { cascade: this.cascade } : {}),
      log,
    });
    const registry = this.registry;
    if (registry) {
      this.roomRpc = new RoomRpcServer({
        rooms: this.rooms,
        reply: (id, r) => registry.reply(id, r),
        flushed: () => registry.flushed(),
        count: (op, result) => metrics.roomRpcs.inc({ op, result }),
        log,
      });
    }
    const resumable =
      config.resume_grace_ms > 0
        ? new ResumeRegistry({
            graceMs: config.resume_grace_ms,
            maxParked: config.max_parked_sessions,
            count: (result) => metrics.resumes.inc({ result }),
          })
        : undefined;
    this.signaling = new SignalingServer({
      resumable,
      nodeId: config.node_id,
      apiKeys: config.api_keys,
      requireMediaClaim: !config.standalone,
      sessions: this.rooms,
      ratePerSec: config.signal_rate_per_sec,
      burst: config.signal_burst,
      authTimeoutMs: config.auth_timeout_ms,
      maxSessionAgeMs: config.max_session_age_ms,
      maxBufferedBytes: config.signal_max_buffered_bytes,
      maxPendingSockets: config.max_pending_sockets,
      bridge: () => this.bridge,
      resolveHost: async (room) => (await this.registry?.roomRecord(room))?.record?.node,
      hostRegistered: async (node) => this.registry?.nodeRegistered(node),
      draining: () => this.state === "DRAINING",
      metrics,
      log,
    });
    this.http = createHttpServer({
      signaling: this.signaling,
      metrics,
      state: () => this.state,
      nodeId: config.node_id,
      serveDemo: config.serve_demo,
      redis: () => (this.registry ? (this.bridge?.redisReachable ? "ok" : "unreachable") : "standalone"),
      log,
    });
  }

  /** Starts the bridge endpoint; while Redis does not answer, retries in the background (the node
   * serves its own rooms meanwhile; bridged joins fail with a clear error until then). */
  private async connectBridge(): Promise<void> {
    const c = this.config;
    if (!c.redis_url || this.stopping) return;
    const ep = new BridgeEndpoint({
      nodeId: c.node_id,
      redisUrl: c.redis_url,
      apiKeys: c.api_keys,
      log: this.log.child({ component: "bridge" }),
    });
    ep.onSession((session, init) =>
      init.query?.[CASCADE_QUERY] !== undefined && this.cascade
        ? this.cascade.hostLink(session, init)
        : this.signaling.hostBridged(session),
    );
    const registry = this.registry;
    if (registry)
      ep.onSilentPeer(async (peer) => {
        const dead = await registry.declareDeadIfLate(peer);
        if (dead) this.log.warn({ peer }, "bridge: a silent peer node missed its report too; closing its sessions");
        return dead;
      });
    ep.onBusMessage((msg, from) => {
      const m = parseBusMessage(msg);
      if (m === undefined) return;
      // Authenticated by the bus, but only the control plane deletes rooms or runs RoomService.
      if (from !== CONTROL_PLANE) {
        if (m.type === "room.rpc") this.roomRpc?.refused(m);
        return this.log.warn({ from, type: m.type }, "control-plane message from a node ignored");
      }
      if (m.type === "room.rpc") return void this.roomRpc?.handle(m);
      if (this.rooms.closeRoom(m.room, "deleted")) this.log.info({ room: m.room }, "room deleted by control plane");
    });
    try {
      await ep.start();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "bridge cannot reach Redis yet; retrying");
      this.bridgeRetry = setTimeout(() => void this.connectBridge(), 2_000);
      return;
    }
    if (this.stopping) return void ep.close();
    this.bridge = ep;
  }

  static async start(
    config: MediaNodeConfig,
    log = createLogger(config.log_level, config.node_id),
  ): Promise<MediaNode> {
    const pool = await WorkerPool.start({
      count: config.workers,
      listenIp: config.listen_ip,
      announcedAddress: config.announced_address,
      firstPort: config.rtc_port,
      logLevel: config.mediasoup_log_level,
      log,
    });
    const node = new MediaNode(config, log, pool);
    try {
      await new Promise<void>((resolve, reject) => {
        node.http.once("error", reject);
        node.http.listen(config.http_port, config.http_host, () => resolve());
      });
      await Promise.all([node.registry?.start(), node.connectBridge()]);
    } catch (e) {
      await node.stop();
      throw e;
    }
    log.info(
      {
        region: config.region,
        signalUrl: config.signal_url,
        workers: config.workers,
        mode: config.standalone ? "standalone" : "cluster",
      },
      "media node serving",
    );
    return node;
  }

  get nodeState(): NodeState {
    return this.state;
  }

  get httpPort(): number {
    return (this.http.address() as AddressInfo).port;
  }

  /** DRAINING now (reported at once), no new rooms; clients relayed through this node (their rooms
   * are elsewhere) are told to reconnect at once; waits until this node's rooms end or the deadline,
   * then tells their remaining clients to reconnect and closes the rooms. */
  async drain(deadlineMs = this.config.drain_deadline_ms): Promise<void> {
    if (this.state !== "DRAINING") {
      this.state = "DRAINING";
      this.rooms.draining = true;
      this.log.info({ rooms: this.rooms.rooms.size, deadlineMs }, "draining");
      await this.registry?.reportNow();
      // After the report: a relayed client's rejoin must not be handed this node again.
      await this.signaling.handOffRelayed();
    }
    const deadline = AbortSignal.timeout(deadlineMs);
    await this.rooms.whenEmpty(deadline);
    if (this.rooms.rooms.size > 0)
      this.log.warn({ rooms: this.rooms.rooms.size }, "drain deadline passed; closing rooms");
    this.rooms.closeAll();
  }

  /** Closes everything and removes the node from Redis. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.rooms.closeAll();
      await this.webhooks?.close();
      clearTimeout(this.bridgeRetry);
      await this.registry?.stop();
      this.signaling.close();
      await this.bridge?.close();
      await new Promise<void>((resolve) => (this.http.listening ? this.http.close(() => resolve()) : resolve()));
      this.http.closeAllConnections();
      this.pool.close();
      this.log.info("media node stopped");
    })();
    return this.stopping;
  }
}
