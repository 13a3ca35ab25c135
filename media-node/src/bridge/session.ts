// One bridged signaling session: a socket-like object on each end (send / close / message / close
// event) over the endpoints' Redis pub/sub inboxes. Reliability lives here:
// - every frame gets a sequence number; the receiver delivers in order, buffers a bounded window
//   of early frames and drops duplicates;
// - acks are cumulative and ride on reverse data or pings; a pure ack is delayed a little so a
//   request/response pair costs two publishes, not LiveKit's four (publish + ack each way);
// - unacked frames are resent go-back-N with exponential backoff (pub/sub only loses messages
//   across a reconnect, so this path is rare and simple beats clever);
// - frames sent while a publish is in flight are coalesced into one batch;
// - send queue bounded in frames and bytes.
// Liveness (peer timeout, heartbeats) belongs to the node pair and lives in the endpoint (peers.ts).
import { EventEmitter } from "node:events";
import { BridgeCloseCode, bridgeCloseReason, clampReason, isValidCloseCode } from "./codes.ts";
import type { BridgeInit, Outgoing, Role, SessionEnvelope } from "./envelope.ts";
import type { BridgeOptions } from "./options.ts";

export type BridgeSessionState = "connecting" | "open" | "closed";

export interface BridgeCloseEvent {
  code: number;
  reason: string;
  /** true when the peer (or its absence) closed the session, false when this side did. */
  remote: boolean;
}

export interface BridgeSessionEvents {
  open: [];
  message: [frame: string];
  close: [event: BridgeCloseEvent];
}

/** Counters a session bumps; owned by its endpoint. */
export interface SessionCounters {
  framesSent: number;
  framesReceived: number;
  framesRetransmitted: number;
  framesDuplicate: number;
  framesDropped: number;
  /** Hosting-side sessions refused before accept (wrong node, draining, bad token, ...). */
  sessionsRefused: number;
}

/** What a session needs from its endpoint. */
export interface SessionLink {
  readonly opts: BridgeOptions;
  readonly counters: SessionCounters;
  publish(peerNodeId: string, out: Outgoing): Promise<boolean>;
  /** Forget the session (it closed) and remember its close code for late envelopes. */
  release(session: BridgeSession, code: number, reason: string): void;
  listenerFailed(err: unknown, event: string): void;
}

interface QueuedFrame {
  seq: number;
  data: string;
  bytes: number;
}

export class BridgeSession extends EventEmitter<BridgeSessionEvents> {
  readonly id: string;
  /** "s": this end is the signal node (relay); "h": this end hosts the room. */
  readonly role: Role;
  readonly peerNodeId: string;
  readonly init: BridgeInit;

  #link: SessionLink;
  #state: BridgeSessionState = "connecting";
  readonly #createdAt = Date.now();

  // Send side. outbox holds frames from the oldest unacked to the newest queued, contiguous seqs.
  #nextSeq = 1;
  #outbox: QueuedFrame[] = [];
  #outboxBytes = 0;
  #sentSeq = 0; // highest seq published (rewound on retransmission)
  #highestSent = 0; // highest seq ever published; acks beyond it are bogus
  #retransmitUpTo = 0; // frames up to here being published again count as retransmissions
  #inflight = false;
  #flushQueued = false;
  #rto: number;
  #rtxTimer: NodeJS.Timeout | undefined;

  // Receive side.
  #delivered = 0; // cumulative ack
  #reorder = new Map<number, string>();
  #reorderBytes = 0;
  #unackedDeliveries = 0;
  #ackTimer: NodeJS.Timeout | undefined;

  constructor(link: SessionLink, id: string, role: Role, peerNodeId: string, init: BridgeInit) {
    super();
    this.#link = link;
    this.id = id;
    this.role = role;
    this.peerNodeId = peerNodeId;
    this.init = init;
    this.#rto = link.opts.initialRtoMs;
  }

  get state(): BridgeSessionState {
    return this.#state;
  }

  /** Bytes queued but not yet acknowledged by the peer (like WebSocket.bufferedAmount). */
  get bufferedAmount(): number {
    return this.#outboxBytes;
  }

  /** Queues a frame; false if the session is closed or the frame closed it (too big, overflow). */
  send(frame: string): boolean {
    if (typeof frame !== "string") throw new TypeError("bridge frames are strings");
    if (this.#state === "closed") {
      this.#link.counters.framesDropped++;
      return false;
    }
    const o = this.#link.opts;
    const bytes = Buffer.byteLength(frame);
    if (bytes > o.maxFrameBytes) {
      this.abort(BridgeCloseCode.MessageTooBig, false);
      return false;
    }
    if (this.#outbox.length >= o.maxQueuedFrames || this.#outboxBytes + bytes > o.maxQueuedBytes) {
      this.abort(BridgeCloseCode.Overflow, false);
      return false;
    }
    this.#outbox.push({ seq: this.#nextSeq++, data: frame, bytes });
    this.#outboxBytes += bytes;
    this.#scheduleFlush();
    return true;
  }

  /**
   * Closes the session and tells the peer. Frames queued before the close are published first
   * (best effort: the close does not wait for their acks). On the hosting side before accept,
   * this refuses the session with `code` (e.g. WrongNode).
   */
  close(code: number = BridgeCloseCode.Normal, reason = ""): void {
    if (!isValidCloseCode(code)) throw new RangeError(`invalid close code ${code}`);
    if (this.#state === "closed") return;
    this.#shutdown(code, clampReason(reason), false, true);
  }

  // ---- endpoint-facing ---------------------------------------------------------------------

  /** Signal side: send the open envelope (again, on retransmission). */
  sendOpen(): void {
    this.#publish({ k: "open", s: this.id, r: "s", init: this.init });
    this.#armRtx();
  }

  /** Hosting side: the session handler returned without refusing. */
  accept(): void {
    if (this.#state !== "connecting") return;
    this.#publish({ k: "accept", s: this.id, r: "h" });
    this.#becomeOpen();
  }

  receive(env: SessionEnvelope): void {
    if (this.#state === "closed") return;
    switch (env.k) {
      case "open":
        // The signal side resends open until it hears from us: our accept was lost.
        if (this.#state === "open") this.#publish({ k: "accept", s: this.id, r: "h" });
        return;
      case "accept":
        this.#becomeOpen();
        return;
      case "refuse":
        if (this.#state === "connecting") this.#shutdown(env.c, env.w, true, false);
        return;
      case "close":
        this.#shutdown(env.c, env.w, true, false);
        return;
      case "ping":
      case "ack":
        if (this.role === "s") this.#becomeOpen(); // traffic from the host implies a lost accept
        this.#onAck(env.a);
        return;
      case "data":
        if (this.#state === "connecting") {
          // A hosting session is not readable before it accepts; the sender holds data until then.
          if (this.role === "h") return;
          this.#becomeOpen();
        }
        this.#onAck(env.a);
        this.#onData(env.q, env.m);
        return;
    }
  }

  /** Periodic housekeeping from the endpoint: the open timeout. */
  tick(now: number): void {
    if (this.#state === "connecting" && now - this.#createdAt > this.#link.opts.openTimeoutMs) {
      this.abort(BridgeCloseCode.OpenTimeout, true);
    }
  }

  /** Asks the peer whether it still has this session: it answers a ping for a session it does
   *  not know with a close (SessionUnknown or the remembered code). Carries our ack too. */
  probe(): void {
    if (this.#state !== "open") return;
    this.#publish({ k: "ping", s: this.id, r: this.role, a: this.#delivered });
    this.#clearAck();
  }

  /** Redis came back: resend what may have been lost. */
  redisRecovered(): void {
    if (this.#state === "closed") return;
    this.#rto = this.#link.opts.initialRtoMs;
    clearTimeout(this.#rtxTimer);
    this.#rtxTimer = undefined;
    this.#onRtx();
    if (this.#state === "open") this.#sendAck();
  }

  /** Closes without flushing (abnormal end: timeout, overflow, endpoint going away). */
  abort(code: BridgeCloseCode, notifyPeer: boolean): void {
    if (this.#state !== "closed") this.#shutdown(code, bridgeCloseReason[code], false, notifyPeer, false);
  }

  // ---- send side -----------------------------------------------------------------------------

  #scheduleFlush(): void {
    if (this.#flushQueued || this.#state !== "open") return;
    this.#flushQueued = true;
    // Frames sent in the same tick go out as one batch.
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.#flush(false);
    });
  }

  /** Publishes unsent frames in batches; one publish in flight unless `all` (closing). */
  #flush(all: boolean): void {
    while (this.#state === "open" && (all || !this.#inflight)) {
      const first = this.#outbox[0];
      if (!first) return;
      let i = this.#sentSeq + 1 - first.seq;
      if (i >= this.#outbox.length) return;
      const q = this.#sentSeq + 1;
      const m: string[] = [];
      let batchBytes = 0;
      for (; i < this.#outbox.length; i++) {
        const f = this.#outbox[i]!;
        if (m.length > 0 && batchBytes + f.bytes > this.#link.opts.maxBatchBytes) break;
        m.push(f.data);
        batchBytes += f.bytes;
      }
      const last = q + m.length - 1;
      const c = this.#link.counters;
      c.framesSent += m.length;
      if (q <= this.#retransmitUpTo) c.framesRetransmitted += Math.min(last, this.#retransmitUpTo) - q + 1;
      this.#sentSeq = last;
      this.#highestSent = Math.max(this.#highestSent, last);
      this.#clearAck();
      this.#inflight = true;
      void this.#publish({ k: "data", s: this.id, r: this.role, q, m, a: this.#delivered }).then((ok) => {
        this.#inflight = false;
        // On failure the retransmission timer resends; retrying here would spin while Redis is down.
        if (ok) this.#flush(false);
      });
      this.#armRtx();
    }
  }

  #onAck(a: number): void {
    if (a > this.#highestSent) {
      // Acking frames we never sent: the streams are out of step and nothing sent from now on
      // would be delivered. Closing tells both ends clearly instead of stalling.
      this.abort(BridgeCloseCode.ProtocolError, true);
      return;
    }
    const first = this.#outbox[0];
    if (!first || a < first.seq) return;
    const n = a - first.seq + 1;
    for (let i = 0; i < n; i++) this.#outboxBytes -= this.#outbox[i]!.bytes;
    this.#outbox.splice(0, n);
    if (this.#sentSeq < a) this.#sentSeq = a; // acked during a rewind: no need to resend those
    this.#rto = this.#link.opts.initialRtoMs;
    clearTimeout(this.#rtxTimer);
    this.#rtxTimer = undefined;
    if (this.#sentSeq >= (this.#outbox[0]?.seq ?? Infinity)) this.#armRtx();
    this.#flush(false);
  }

  #armRtx(): void {
    if (this.#rtxTimer || this.#state === "closed") return;
    this.#rtxTimer = setTimeout(() => {
      this.#rtxTimer = undefined;
      this.#rto = Math.min(this.#rto * 2, this.#link.opts.maxRtoMs);
      this.#onRtx();
    }, this.#rto);
    this.#rtxTimer.unref();
  }

  #onRtx(): void {
    if (this.#state === "connecting") {
      if (this.role === "s") this.sendOpen();
      return;
    }
    const first = this.#outbox[0];
    if (this.#state !== "open" || !first || this.#sentSeq < first.seq) return;
    this.#retransmitUpTo = Math.max(this.#retransmitUpTo, this.#sentSeq);
    this.#sentSeq = first.seq - 1;
    this.#flush(false);
    this.#armRtx();
  }

  // ---- receive side --------------------------------------------------------------------------

  #onData(q: number, frames: string[]): void {
    const o = this.#link.opts;
    const c = this.#link.counters;
    let irregular = false; // duplicates or gaps: the peer needs our ack now
    for (let i = 0; i < frames.length && this.#state === "open"; i++) {
      const seq = q + i;
      const frame = frames[i]!;
      if (seq <= this.#delivered || this.#reorder.has(seq)) {
        c.framesDuplicate++;
        irregular = true;
      } else if (seq === this.#delivered + 1) {
        this.#deliver(frame);
        this.#drainReorder();
      } else {
        irregular = true;
        const bytes = Buffer.byteLength(frame);
        if (seq - this.#delivered <= o.reorderWindow && this.#reorderBytes + bytes <= o.maxQueuedBytes) {
          this.#reorder.set(seq, frame);
          this.#reorderBytes += bytes;
        } else {
          c.framesDropped++;
        }
      }
    }
    if (this.#state !== "open") return;
    if (irregular || this.#unackedDeliveries >= o.ackEveryFrames) this.#sendAck();
    else if (this.#unackedDeliveries > 0) this.#scheduleAck();
  }

  #drainReorder(): void {
    for (;;) {
      const next = this.#reorder.get(this.#delivered + 1);
      if (next === undefined || this.#state !== "open") return;
      this.#reorder.delete(this.#delivered + 1);
      this.#reorderBytes -= Buffer.byteLength(next);
      this.#deliver(next);
    }
  }

  #deliver(frame: string): void {
    this.#delivered++;
    this.#unackedDeliveries++;
    this.#link.counters.framesReceived++;
    this.#emitSafely("message", frame);
  }

  #scheduleAck(): void {
    if (this.#ackTimer) return;
    this.#ackTimer = setTimeout(() => {
      this.#ackTimer = undefined;
      if (this.#state === "open" && this.#unackedDeliveries > 0) this.#sendAck();
    }, this.#link.opts.ackDelayMs);
    this.#ackTimer.unref();
  }

  #sendAck(): void {
    this.#publish({ k: "ack", s: this.id, r: this.role, a: this.#delivered });
    this.#clearAck();
  }

  #clearAck(): void {
    this.#unackedDeliveries = 0;
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  #becomeOpen(): void {
    if (this.#state !== "connecting") return;
    this.#state = "open";
    this.#rto = this.#link.opts.initialRtoMs;
    clearTimeout(this.#rtxTimer);
    this.#rtxTimer = undefined;
    this.#emitSafely("open");
    this.#flush(false);
  }

  #shutdown(code: number, reason: string, remote: boolean, notifyPeer: boolean, flush = true): void {
    if (notifyPeer) {
      if (this.role === "h" && this.#state === "connecting") {
        this.#link.counters.sessionsRefused++;
        this.#publish({ k: "refuse", s: this.id, r: "h", c: code, w: reason });
      } else {
        if (flush) this.#flush(true);
        this.#publish({ k: "close", s: this.id, r: this.role, c: code, w: reason });
      }
    }
    this.#state = "closed";
    clearTimeout(this.#rtxTimer);
    this.#clearAck();
    this.#outbox = [];
    this.#outboxBytes = 0;
    this.#reorder.clear();
    this.#reorderBytes = 0;
    this.#link.release(this, code, reason);
    // Like a WebSocket, the close event never fires from inside the call that caused it.
    process.nextTick(() => this.#emitSafely("close", { code, reason, remote }));
  }

  #publish(out: Outgoing): Promise<boolean> {
    return this.#link.publish(this.peerNodeId, out);
  }

  #emitSafely<K extends keyof BridgeSessionEvents>(event: K, ...args: BridgeSessionEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: BridgeSessionEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.#link.listenerFailed(err, event);
    }
  }
}
