// A node's end of the signaling bridge: one subscriber connection on the node's inbox
// (keys.nodeBus) and one publisher connection, multiplexing every bridged session in both roles.
// The signal side calls open(hostNodeId, init); the hosting side registers onSession(handler).
// Whatever arrives on the inbox that is not a bridge envelope goes to onBusMessage (the control
// plane's {type:"room.delete"} etc.); anything malformed is counted and dropped, never thrown.
// Every inbox message must be authenticated (shared/bus.ts: HMAC over sender, time, nonce and
// channel, replay cache); a bridge envelope's sender field must be its authenticated sender.
// Everything this endpoint publishes is sealed the same way.
// Liveness is per peer node, not per session: see peers.ts.
import { randomUUID } from "node:crypto";
import { Redis, type RedisOptions } from "ioredis";
import { pino } from "pino";
import type { BusRejection } from "#shared/bus.ts";
import { keys } from "#shared/keys.ts";
import type { ApiKeys } from "#shared/token.ts";
import { BusAuth } from "../cluster/bus-auth.ts";
import { BridgeCloseCode, bridgeCloseReason } from "./codes.ts";
import {
  BridgeInit,
  parseInbound,
  encode,
  type Envelope,
  type Outgoing,
  type Role,
  type SessionEnvelope,
} from "./envelope.ts";
import { defaultBridgeOptions, maxEnvelopeBytes, type BridgeOptions } from "./options.ts";
import { digestOf, Peer } from "./peers.ts";
import { BridgeSession, type SessionCounters, type SessionLink } from "./session.ts";

/** Decides whether to host a bridged session: return to accept, call session.close(code) to refuse
 *  (e.g. WrongNode), throw to refuse with Refused. May be async (token verification). */
export type SessionHandler = (session: BridgeSession, init: BridgeInit) => void | Promise<void>;

export interface BridgeLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface BridgeEndpointConfig extends Partial<BridgeOptions> {
  nodeId: string;
  redisUrl: string;
  /** Extra ioredis options (TLS, credentials); the bridge sets its own retry/queue behaviour. */
  redisOptions?: RedisOptions;
  log?: BridgeLogger;
  /** The cluster's API keys: the bus key that seals what this endpoint publishes and opens what
   *  arrives is derived from them (bus-auth.ts), never the secrets themselves. */
  apiKeys: ApiKeys;
}

/** Why an inbox message was refused before it was read: the bus authentication's reasons, a
 *  message too large to be checked, or a bridge envelope naming another sender than the signer. */
export type InboxRejection = BusRejection | LocalRejection;
type LocalRejection = "too_large" | "sender_mismatch";

export interface BridgeMetrics extends SessionCounters {
  envelopesSent: number;
  envelopesReceived: number;
  /** Inbox messages that were unparseable, oversized, malformed or for a foreign sender. */
  envelopesDropped: number;
  /** Non-bridge inbox messages handed to onBusMessage. */
  busMessages: number;
  /** Inbox messages refused by the bus authentication (forged, replayed, stale, unsigned...). */
  busRejected: Record<InboxRejection, number>;
  publishErrors: number;
  listenerErrors: number;
  sessionsOpened: number;
  /** Node-pair heartbeats published (one per peer node per keepalive interval). */
  heartbeatsSent: number;
  /** Per-session pings sent because a peer's heartbeat disagreed about which sessions are open. */
  sessionProbes: number;
  /** Sessions currently held (both roles). */
  sessionsOpen: number;
  /** Closed sessions by close code. */
  closes: Record<number, number>;
}

interface Tombstone {
  code: number;
  reason: string;
  until: number;
}

type RunState = "idle" | "running" | "closed";

/** At most one log line per rejection reason this often (a forger must not flood the logs). */
const REJECT_LOG_MS = 10_000;

export class BridgeEndpoint {
  readonly nodeId: string;
  readonly opts: BridgeOptions;
  #log: BridgeLogger;
  #pub: Redis;
  #sub: Redis;
  #inbox: string;
  #maxEnvelope: number;
  #run: RunState = "idle";
  #tick: NodeJS.Timeout | undefined;
  /** Sessions this node relays for its clients (role "s"), keyed by session id. */
  #relayed = new Map<string, BridgeSession>();
  /** Sessions this node hosts (role "h"). */
  #hosted = new Map<string, BridgeSession>();
  #tombstones = new Map<string, Tombstone>();
  /** Peer nodes this endpoint shares sessions with (either role). */
  #peers = new Map<string, Peer>();
  /** This endpoint's incarnation: peers see a restart as a new epoch in our heartbeats. */
  readonly #epoch = randomUUID();
  #handler: SessionHandler | undefined;
  #isDead: ((peerNodeId: string) => Promise<boolean>) | undefined;
  #busHandler: ((msg: Record<string, unknown>, from: string) => void) | undefined;
  #auth: BusAuth;
  /** Last rejection log line per reason: one line per reason per REJECT_LOG_MS, with a count. */
  #rejectLog = new Map<InboxRejection, { at: number; since: number }>();
  /** Since when a Redis connection has been down (undefined while both are ready). */
  #redisDownSince: number | undefined;
  /** The refusals this endpoint makes itself; BusAuth counts the authentication's (one count each). */
  #localRejected: Record<LocalRejection, number> = { too_large: 0, sender_mismatch: 0 };
  #m: Omit<BridgeMetrics, "sessionsOpen" | "busRejected"> = {
    framesSent: 0,
    framesReceived: 0,
    framesRetransmitted: 0,
    framesDuplicate: 0,
    framesDropped: 0,
    envelopesSent: 0,
    envelopesReceived: 0,
    envelopesDropped: 0,
    busMessages: 0,
    publishErrors: 0,
    listenerErrors: 0,
    sessionsOpened: 0,
    heartbeatsSent: 0,
    sessionProbes: 0,
    sessionsRefused: 0,
    closes: {},
  };
  #link: SessionLink;

  constructor(config: BridgeEndpointConfig) {
    const { nodeId, redisUrl, redisOptions, log, apiKeys, ...tunables } = config;
    this.nodeId = nodeId;
    this.#auth = new BusAuth(apiKeys, nodeId);
    this.opts = { ...defaultBridgeOptions, ...stripUndefined(tunables) };
    this.#log = log ?? pino({ name: "bridge", level: process.env.LOG_LEVEL ?? "info" });
    this.#inbox = keys.nodeBus(nodeId);
    this.#maxEnvelope = maxEnvelopeBytes(this.opts);
    const base: RedisOptions = {
      ...redisOptions,
      lazyConnect: true,
      // Reconnect forever, quickly: a bridged call waits for Redis, it does not give up on it.
      retryStrategy: (attempt) => Math.min(50 * attempt, 1_000),
    };
    // Publishes fail fast while disconnected instead of piling up in ioredis' offline queue:
    // the sessions' own bounded queues and retransmission are the only buffers.
    this.#pub = new Redis(redisUrl, { ...base, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    this.#sub = new Redis(redisUrl, { ...base, maxRetriesPerRequest: null });
    for (const c of [this.#pub, this.#sub]) {
      c.on("error", () => {}); // connection errors show up as close/ready transitions below
      c.on("close", () => this.#redisLost());
      c.on("ready", () => this.#redisMaybeBack());
    }
    this.#sub.on("message", (_channel: string, raw: string) => this.#onInbox(raw));
    this.#link = {
      opts: this.opts,
      counters: this.#m,
      publish: (peer, out) => this.#publish(peer, out),
      release: (s, code, reason) => this.#release(s, code, reason),
      listenerFailed: (err, event) => {
        this.#m.listenerErrors++;
        this.#log.warn({ err, event }, "bridge session listener threw");
      },
    };
  }

  get metrics(): BridgeMetrics {
    return {
      ...this.#m,
      closes: { ...this.#m.closes },
      busRejected: { ...this.#auth.rejected, ...this.#localRejected },
      sessionsOpen: this.#relayed.size + this.#hosted.size,
    };
  }

  /** Session and tombstone counts, for health checks and leak assertions. */
  get sizes(): { relayed: number; hosted: number; tombstones: number; peers: number } {
    return {
      relayed: this.#relayed.size,
      hosted: this.#hosted.size,
      tombstones: this.#tombstones.size,
      peers: this.#peers.size,
    };
  }

  get redisReachable(): boolean {
    return this.#redisDownSince === undefined;
  }

  /** Asks `isDead` about a peer node silent for suspectAfterMs (one question at a time per peer,
   * again each tick while it stays silent); a yes closes every session with it with PeerTimeout
   * at once, instead of after peerTimeoutMs. The media node answers from Redis (the peer missed
   * its report too), never from the silence alone. */
  onSilentPeer(isDead: (peerNodeId: string) => Promise<boolean>): void {
    this.#isDead = isDead;
  }

  /** Connects both Redis connections and subscribes to the inbox. */
  async start(): Promise<void> {
    if (this.#run !== "idle") throw new Error(`bridge endpoint ${this.nodeId} already started`);
    this.#run = "running";
    try {
      await Promise.all([this.#pub.connect(), this.#sub.connect()]);
      await this.#sub.subscribe(this.#inbox);
    } catch (err) {
      // Do not leave reconnect loops behind a failed start.
      this.#run = "closed";
      this.#pub.disconnect();
      this.#sub.disconnect();
      throw err;
    }
    const every = Math.max(20, Math.min(250, this.opts.keepaliveIntervalMs / 2));
    this.#tick = setInterval(() => this.#onTick(), every);
    this.#tick.unref();
  }

  onSession(handler: SessionHandler): void {
    this.#handler = handler;
  }

  /** Receives inbox objects that are not bridge envelopes (JSON-parsed, not validated: use zod),
   *  with their authenticated sender. */
  onBusMessage(handler: (msg: Record<string, unknown>, from: string) => void): void {
    this.#busHandler = handler;
  }

  /**
   * Opens a session to the node hosting the client's room. Returns at once in state "connecting";
   * "open" fires when the host accepts, "close" with the refusal code (WrongNode, Draining,
   * Refused) or OpenTimeout otherwise. Frames sent before "open" are queued. Throws only on an
   * invalid init (the caller's bug).
   */
  open(hostNodeId: string, init: BridgeInit): BridgeSession {
    const checked = BridgeInit.parse(init);
    const session = new BridgeSession(this.#link, randomUUID(), "s", hostNodeId, checked);
    this.#m.sessionsOpened++;
    if (this.#run !== "running") {
      session.abort(BridgeCloseCode.EndpointClosed, false);
    } else if (this.#relayed.size >= this.opts.maxSessions) {
      session.abort(BridgeCloseCode.Overflow, false);
    } else {
      this.#hold(session);
      session.sendOpen();
    }
    return session;
  }

  /** Closes every session (telling peers), then the Redis connections. */
  async close(): Promise<void> {
    if (this.#run === "closed") return;
    this.#run = "closed";
    clearInterval(this.#tick);
    for (const s of [...this.#relayed.values(), ...this.#hosted.values()]) {
      s.abort(BridgeCloseCode.EndpointClosed, true);
    }
    this.#tombstones.clear();
    // QUIT is answered after the pending publishes, so peers get the closes; bounded in time
    // because Redis may be the thing that is down.
    await Promise.all(
      [this.#pub, this.#sub].map(async (c) => {
        try {
          await Promise.race([c.quit(), new Promise((r) => setTimeout(r, 1_000).unref())]);
        } catch {
          /* already disconnected */
        } finally {
          c.disconnect();
        }
      }),
    );
  }

  // ---- inbox ---------------------------------------------------------------------------------

  #onInbox(raw: string): void {
    this.#m.envelopesReceived++;
    // The MAC is computed over the whole message: bound it first.
    if (raw.length > this.#maxEnvelope + 1_024) return this.#reject("too_large", undefined);
    const opened = this.#auth.open(this.#inbox, raw);
    if (typeof opened === "string") return this.#reject(opened, undefined);
    const msg = parseInbound(opened.payload, this.#maxEnvelope);
    if (msg.kind === "invalid") {
      this.#m.envelopesDropped++;
      return;
    }
    if (msg.kind === "bridge" && msg.env.f !== opened.from) return this.#reject("sender_mismatch", opened.from);
    if (msg.kind === "foreign") {
      if (!this.#busHandler) {
        this.#m.envelopesDropped++;
        return;
      }
      this.#m.busMessages++;
      try {
        this.#busHandler(msg.msg, opened.from);
      } catch (err) {
        this.#m.listenerErrors++;
        this.#log.warn({ err }, "bus message handler threw");
      }
      return;
    }
    this.#dispatch(msg.env);
  }

  #reject(why: InboxRejection, from: string | undefined): void {
    if (why === "too_large" || why === "sender_mismatch") this.#localRejected[why]++;
    this.#m.envelopesDropped++;
    const now = Date.now();
    const last = this.#rejectLog.get(why);
    if (last && now - last.at < REJECT_LOG_MS) {
      last.since++;
      return;
    }
    this.#rejectLog.set(why, { at: now, since: 0 });
    this.#log.warn({ node: this.nodeId, reason: why, from, alsoSince: last?.since ?? 0 }, "bus message rejected");
  }

  #dispatch(env: Envelope): void {
    const peer = this.#peers.get(env.f);
    if (peer) peer.lastHeard = Date.now(); // any traffic from a peer proves it alive for all sessions
    if (env.k === "hb") return this.#onHeartbeat(env, peer);
    // The sender's role tells which of our maps holds the session: a node may relay and host
    // sessions at once, even to itself.
    const session = (env.r === "s" ? this.#hosted : this.#relayed).get(env.s);
    if (session) {
      if (session.peerNodeId === env.f) session.receive(env);
      else this.#m.envelopesDropped++;
      return;
    }
    if (env.k === "open") return this.#hostNew(env);
    this.#m.envelopesDropped++;
    this.#answerUnknown(env);
  }

  #onHeartbeat(env: Extract<Envelope, { k: "hb" }>, peer: Peer | undefined): void {
    if (!peer) {
      // The sender believes it has sessions with us and we have none (we restarted, or dropped
      // them unheard): answer so its digest check finds out now rather than never.
      if (env.n > 0) this.#sendHeartbeat(env.f, undefined);
      return;
    }
    if (!peer.onHeartbeat(env.e, { n: env.n, d: env.d }, Date.now(), this.opts.peerTimeoutMs)) return;
    for (const s of peer.sessions) {
      if (s.state !== "open") continue;
      this.#m.sessionProbes++;
      s.probe();
    }
  }

  #sendHeartbeat(peerId: string, peer: Peer | undefined): void {
    const { n, d } = digestOf(peer?.sessions ?? []);
    this.#m.heartbeatsSent++;
    void this.#publish(peerId, { k: "hb", e: this.#epoch, n, d });
  }

  /** Holds a new session in its role's map and under its peer. */
  #hold(s: BridgeSession): void {
    (s.role === "s" ? this.#relayed : this.#hosted).set(s.id, s);
    let peer = this.#peers.get(s.peerNodeId);
    if (!peer) {
      peer = new Peer(s.peerNodeId, Date.now());
      this.#peers.set(peer.id, peer);
    }
    peer.sessions.add(s);
  }

  #hostNew(env: Extract<Envelope, { k: "open" }>): void {
    if (this.#run !== "running") return;
    const tomb = this.#tombstones.get(tombKey("h", env.s));
    if (tomb) {
      // A late retransmission of an open we already refused or closed.
      this.#reply(env, tomb.code, tomb.reason, "refuse");
      return;
    }
    const session = new BridgeSession(this.#link, env.s, "h", env.f, env.init);
    this.#m.sessionsOpened++;
    const handler = this.#handler;
    if (this.#hosted.size >= this.opts.maxSessions || !handler) {
      this.#hold(session);
      session.close(
        handler ? BridgeCloseCode.Overflow : BridgeCloseCode.Refused,
        handler ? "too many sessions" : "not accepting sessions",
      );
      return;
    }
    this.#hold(session);
    Promise.resolve()
      .then(() => handler(session, env.init))
      .then(
        () => session.accept(),
        (err: unknown) => {
          this.#log.warn({ err, session: session.id }, "bridge session handler failed; refusing");
          if (session.state === "connecting")
            session.close(BridgeCloseCode.Refused, bridgeCloseReason[BridgeCloseCode.Refused]);
        },
      );
  }

  /** An envelope for a session we do not have: tell the sender so it stops (and why, if we know). */
  #answerUnknown(env: SessionEnvelope): void {
    if (env.k === "close" || env.k === "refuse") return; // never answer a close: no ping-pong
    const tomb = this.#tombstones.get(tombKey(opposite(env.r), env.s));
    this.#reply(
      env,
      tomb?.code ?? BridgeCloseCode.SessionUnknown,
      tomb?.reason ?? bridgeCloseReason[BridgeCloseCode.SessionUnknown],
      "close",
    );
  }

  #reply(env: SessionEnvelope, code: number, reason: string, k: "close" | "refuse"): void {
    const out: Outgoing =
      k === "refuse"
        ? { k, s: env.s, r: "h", c: code, w: reason }
        : { k, s: env.s, r: opposite(env.r), c: code, w: reason };
    void this.#publish(env.f, out);
  }

  // ---- session support -----------------------------------------------------------------------

  #publish(peer: string, out: Outgoing): Promise<boolean> {
    this.#m.envelopesSent++;
    const channel = keys.nodeBus(peer);
    return this.#pub.publish(channel, this.#auth.seal(channel, encode(this.nodeId, out))).then(
      () => true,
      () => {
        this.#m.publishErrors++;
        return false;
      },
    );
  }

  #release(s: BridgeSession, code: number, reason: string): void {
    const map = s.role === "s" ? this.#relayed : this.#hosted;
    if (map.get(s.id) !== s) return;
    map.delete(s.id);
    const peer = this.#peers.get(s.peerNodeId);
    if (peer?.sessions.delete(s) && peer.sessions.size === 0) this.#peers.delete(peer.id);
    this.#m.closes[code] = (this.#m.closes[code] ?? 0) + 1;
    if (this.#run !== "running") return;
    this.#tombstones.set(tombKey(s.role, s.id), { code, reason, until: Date.now() + this.opts.tombstoneTtlMs });
    for (const k of this.#tombstones.keys()) {
      if (this.#tombstones.size <= this.opts.maxTombstones) break;
      this.#tombstones.delete(k);
    }
  }

  #onTick(): void {
    const now = Date.now();
    const down = this.#redisDownSince;
    const outageOver = down !== undefined && now - down > this.opts.redisOutageGraceMs;
    for (const s of [...this.#relayed.values(), ...this.#hosted.values()]) {
      if (outageOver) s.abort(BridgeCloseCode.RedisUnavailable, false);
      else s.tick(now);
    }
    for (const peer of [...this.#peers.values()]) {
      // While our own Redis connection is down, silence is not the peer's fault.
      if (down === undefined && now - peer.lastHeard > this.opts.peerTimeoutMs) {
        // Sessions still connecting are the open timeout's to end.
        for (const s of [...peer.sessions]) if (s.state === "open") s.abort(BridgeCloseCode.PeerTimeout, true);
      } else if (down === undefined && now - peer.lastHeard >= this.opts.suspectAfterMs) this.#askDead(peer);
      if (this.#peers.get(peer.id) === peer && now - peer.lastHeartbeatSent >= this.opts.keepaliveIntervalMs) {
        peer.lastHeartbeatSent = now;
        this.#sendHeartbeat(peer.id, peer);
      }
    }
    // Tombstones are inserted in expiry order.
    for (const [k, t] of this.#tombstones) {
      if (t.until > now) break;
      this.#tombstones.delete(k);
    }
  }

  /** A silent peer confirmed dead: its sessions close now, those still connecting too (a dead
   * node answers no open). */
  #askDead(peer: Peer): void {
    const isDead = this.#isDead;
    if (!isDead || peer.asking) return;
    peer.asking = true;
    const heard = peer.lastHeard;
    void isDead(peer.id)
      .then((dead) => {
        if (!dead || this.#peers.get(peer.id) !== peer || peer.lastHeard !== heard) return;
        for (const s of [...peer.sessions]) s.abort(BridgeCloseCode.PeerTimeout, true);
      })
      .catch(() => {})
      .finally(() => (peer.asking = false));
  }

  #redisLost(): void {
    if (this.#run !== "running" || this.#redisDownSince !== undefined) return;
    this.#redisDownSince = Date.now();
    this.#log.warn({ node: this.nodeId }, "bridge lost its Redis connection; holding sessions");
  }

  #redisMaybeBack(): void {
    if (this.#redisDownSince === undefined || this.#pub.status !== "ready" || this.#sub.status !== "ready") return;
    this.#log.info({ node: this.nodeId, downMs: Date.now() - this.#redisDownSince }, "bridge Redis connection back");
    this.#redisDownSince = undefined;
    const now = Date.now();
    for (const peer of this.#peers.values()) peer.lastHeard = now; // a fresh window for every peer
    for (const s of [...this.#relayed.values(), ...this.#hosted.values()]) s.redisRecovered();
  }
}

function opposite(r: Role): Role {
  return r === "s" ? "h" : "s";
}

function tombKey(role: Role, id: string): string {
  return `${role}:${id}`;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
