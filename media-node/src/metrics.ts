// Prometheus metrics of one node (its own registry, so several nodes can live in one process in
// tests). Gauges are sampled from the room manager at scrape time.
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { BridgeMetrics } from "./bridge/index.ts";
import type { Cascade, PerPeer } from "./cascade/cascade.ts";
import type { NodeCounts } from "./rooms/room-manager.ts";

export class NodeMetrics {
  readonly registry = new Registry();
  readonly signalMessages: Counter<"method">;
  readonly signalErrors: Counter<"code">;
  readonly joins: Counter<"result">;
  readonly redisErrors: Counter<"op">;
  readonly framesDropped: Counter<"reason">;
  readonly signalCloses: Counter<"reason">;
  readonly eventLoopStalls: Counter;
  readonly registryResyncs: Counter<"reason">;
  readonly resumes: Counter<"result">;
  readonly roomRpcs: Counter<"op" | "result">;
  readonly webhooks: Counter<"result">;

  constructor(
    counts: () => NodeCounts,
    draining: () => boolean,
    bridge: () => BridgeMetrics | undefined,
    sockets: () => { pending: number; open: number; parked?: number } = () => ({ pending: 0, open: 0 }),
    cascade: () => Cascade | undefined = () => undefined,
  ) {
    const r = this.registry;
    collectDefaultMetrics({ register: r, prefix: "meridian_node_process_" });
    this.signalMessages = new Counter({
      name: "meridian_signal_requests_total",
      help: "Signaling requests by method",
      labelNames: ["method"],
      registers: [r],
    });
    this.signalErrors = new Counter({
      name: "meridian_signal_errors_total",
      help: "Signaling error replies by code",
      labelNames: ["code"],
      registers: [r],
    });
    this.joins = new Counter({
      name: "meridian_joins_total",
      help: "Join attempts by result",
      labelNames: ["result"],
      registers: [r],
    });
    this.roomRpcs = new Counter({
      name: "meridian_room_rpc_total",
      help: "RoomService operations from the control plane, by op and result",
      labelNames: ["op", "result"],
      registers: [r],
    });
    this.webhooks = new Counter({
      name: "meridian_webhooks_total",
      help: "Webhook deliveries: sent, retried (one per retry), dropped_queue_full (bound reached), dropped_failed (retries exhausted)",
      labelNames: ["result"],
      registers: [r],
    });
    this.redisErrors = new Counter({
      name: "meridian_redis_errors_total",
      help: "Failed Redis operations",
      labelNames: ["op"],
      registers: [r],
    });
    this.framesDropped = new Counter({
      name: "meridian_signal_frames_dropped_total",
      help: "Signaling frames not acted on (rate_limited, invalid, binary, oversized, unauthenticated)",
      labelNames: ["reason"],
      registers: [r],
    });
    this.signalCloses = new Counter({
      name: "meridian_signal_closes_total",
      help: "Signaling sockets closed or refused by the node (flood, send_buffer_full, auth_timeout, too_many_pending)",
      labelNames: ["reason"],
      registers: [r],
    });
    this.resumes = new Counter({
      name: "meridian_signal_resumes_total",
      help: "Session resume attempts by result (ok, unknown: expired/forged/never existed, parked_refused: a dropped session not parked, at the bound)",
      labelNames: ["result"],
      registers: [r],
    });
    this.eventLoopStalls = new Counter({
      name: "meridian_event_loop_stalls_total",
      help: "Event loop stalls of 2 s or more (each triggers an immediate registry report)",
      registers: [r],
    });
    new Gauge({
      name: "meridian_signal_sockets",
      help: "Signaling WebSockets open",
      registers: [r],
      collect() {
        this.set(sockets().open);
      },
    });
    new Gauge({
      name: "meridian_signal_sessions_parked",
      help: "Sessions kept for resume after their connection dropped (bounded: max_parked_sessions)",
      registers: [r],
      collect() {
        this.set(sockets().parked ?? 0);
      },
    });
    new Gauge({
      name: "meridian_signal_sockets_pending",
      help: "Signaling WebSockets not joined yet",
      registers: [r],
      collect() {
        this.set(sockets().pending);
      },
    });
    this.registryResyncs = new Counter({
      name: "meridian_registry_resyncs_total",
      help: "Re-syncs of the node's rooms into Redis, by cause: redis_lost_writes (Redis went back in time or lost data), reregistered, warmup (another node started a warm-up), write_failed",
      labelNames: ["reason"],
      registers: [r],
    });
    const gauge = (name: string, help: string, read: (c: NodeCounts) => number) =>
      new Gauge({
        name,
        help,
        registers: [r],
        collect() {
          this.set(read(counts()));
        },
      });
    gauge("meridian_rooms", "Rooms hosted", (c) => c.rooms);
    gauge("meridian_clients", "Participants connected", (c) => c.clients);
    gauge("meridian_tracks_in", "Published media tracks (producers)", (c) => c.tracksIn);
    gauge("meridian_tracks_out", "Subscribed media tracks (consumers)", (c) => c.tracksOut);
    gauge(
      "meridian_room_routers",
      "mediasoup routers of the rooms (a room spanning workers has several)",
      (c) => c.routers,
    );
    gauge(
      "meridian_worker_piped_producers",
      "Producers piped between workers of this node (once per producer and router)",
      (c) => c.pipedProducers,
    );
    new Gauge({
      name: "meridian_draining",
      help: "1 while the node drains",
      registers: [r],
      collect() {
        this.set(draining() ? 1 : 0);
      },
    });
    // The bridge keeps its own counters; exported as gauges sampled at scrape time (0 standalone).
    const bridgeGauge = (name: string, help: string, read: (m: BridgeMetrics) => number) =>
      new Gauge({
        name,
        help,
        registers: [r],
        collect() {
          const m = bridge();
          this.set(m ? read(m) : 0);
        },
      });
    bridgeGauge("meridian_bridge_sessions_open", "Signaling bridge sessions held (both roles)", (m) => m.sessionsOpen);
    bridgeGauge(
      "meridian_bridge_sessions_opened",
      "Signaling bridge sessions opened since start",
      (m) => m.sessionsOpened,
    );
    bridgeGauge("meridian_bridge_frames_sent", "Signaling frames sent over the bridge", (m) => m.framesSent);
    bridgeGauge("meridian_bridge_frames_received", "Signaling frames delivered by the bridge", (m) => m.framesReceived);
    bridgeGauge(
      "meridian_bridge_frames_retransmitted",
      "Bridge frames sent again (lost or unacked)",
      (m) => m.framesRetransmitted,
    );
    // Cascade (rooms spanning nodes): links, tracks produced here from other nodes, pipe bytes per peer.
    const cascadeGauge = (
      name: string,
      help: string,
      labelNames: string[],
      fill: (g: Gauge<string>, c: Cascade) => Promise<void>,
    ) =>
      new Gauge({
        name,
        help,
        labelNames,
        registers: [r],
        async collect() {
          this.reset();
          const c = cascade();
          if (c) await fill(this, c);
        },
      });
    cascadeGauge(
      "meridian_cascade_pipe_transports",
      "PipeTransports to other nodes (one per room and peer node)",
      [],
      async (g, c) => g.set((await c.stats()).links),
    );
    cascadeGauge(
      "meridian_cascade_piped_producers",
      "Tracks of other nodes produced here over a pipe (once per track and node pair)",
      [],
      async (g, c) => g.set((await c.stats()).pipedIn),
    );
    // Figures per peer node and direction (sent / received).
    const perPeerGauge = (name: string, help: string, pick: (s: Awaited<ReturnType<Cascade["stats"]>>) => PerPeer) =>
      cascadeGauge(name, help, ["peer", "direction"], async (g, c) => {
        for (const [peer, n] of pick(await c.stats())) {
          g.set({ peer, direction: "sent" }, n.sent);
          g.set({ peer, direction: "received" }, n.received);
        }
      });
    perPeerGauge("meridian_cascade_pipe_bytes", "Bytes on the pipes to each peer node, by direction", (s) => s.bytes);
    perPeerGauge(
      "meridian_cascade_data_messages",
      "Data-channel messages handed to / received from the pipes to each peer node (open data tracks), by direction",
      (s) => s.dataMessages,
    );
    cascadeGauge(
      "meridian_cascade_data_messages_dropped",
      "Data-channel messages a pipe dropped: its SCTP send buffer toward the peer node was full",
      [],
      async (g, c) => g.set(c.counters.dataMessagesDropped),
    );
    cascadeGauge(
      "meridian_cascade_links_refused",
      "Cascade links refused (bad token, not the origin, forged)",
      [],
      async (g, c) => g.set(c.counters.linksRefused),
    );
    cascadeGauge(
      "meridian_cascade_link_messages_dropped",
      "Cascade link messages dropped on receipt (malformed, or not allowed from that peer)",
      [],
      async (g, c) => g.set(c.counters.linkMessagesDropped),
    );
    cascadeGauge(
      "meridian_cascade_link_messages_oversize",
      "Cascade link messages not sent: larger than a bridge frame",
      [],
      async (g, c) => g.set(c.counters.linkMessagesOversize),
    );
    cascadeGauge(
      "meridian_cascade_pipes_unanswered",
      "Cascade links closed before their pipe connected: the peer node never sent its endpoint (timed out, or went silent); the pipe transport closed with them",
      [],
      async (g, c) => g.set(c.counters.pipesUnanswered),
    );
    cascadeGauge(
      "meridian_cascade_takeovers",
      "Times this node took a room's origin role after the origin died",
      [],
      async (g, c) => g.set(c.counters.takeovers),
    );
    bridgeGauge(
      "meridian_bridge_envelopes_dropped",
      "Malformed, oversized or unknown bridge envelopes dropped",
      (m) => m.envelopesDropped,
    );
    new Gauge({
      name: "meridian_bus_messages_rejected",
      help: "Inbox messages refused by the bus authentication since start (unsigned, bad_mac, stale, replayed, ...)",
      labelNames: ["reason"],
      registers: [r],
      collect() {
        const m = bridge();
        if (m) for (const [reason, n] of Object.entries(m.busRejected)) this.set({ reason }, n);
      },
    });
  }
}
