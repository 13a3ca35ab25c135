// Session resume: a participant whose signaling connection drops (not a deliberate leave) is kept
// by the node for a grace period — its transports, producers and consumers untouched, nothing
// announced to the room — and a new connection that presents the session's resume token takes it
// back. The token is issued at join (and rotated at every resume): `<participant sid>.<secret>`,
// 128 random bits; the node keeps only the secret's hash. Parked sessions are bounded node-wide;
// notifications meant for a parked participant are queued (bounded) and delivered on resume.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { ErrorCode } from "#shared/errors.ts";
import { ProtocolError, encodeNotification, type CloseCode, type ResumeInfo } from "#shared/protocol.ts";
import type { ParticipantSink } from "../rooms/participant.ts";
import type { RoomSession } from "../rooms/room-session.ts";

/** Notifications held for one parked participant; one more ends its session (it rejoins). */
export const MAX_QUEUED_WHILE_PARKED = 256;

/** The participant's sink while its connection can change: the current connection, or (parked)
 * a bounded queue. */
export class SessionSink implements ParticipantSink {
  private target: ParticipantSink | undefined;
  private queue: string[] = [];
  /** The room ended the participant, or the queue overflowed, while parked. */
  onParkedEnd: ((why: "overflow" | "closed") => void) | undefined;

  constructor(target: ParticipantSink) {
    this.target = target;
  }

  notify: ParticipantSink["notify"] = (name, data) => this.notifyEncoded(encodeNotification(name, data));

  notifyEncoded(frame: string): void {
    if (this.target) return this.target.notifyEncoded(frame);
    if (this.queue.length >= MAX_QUEUED_WHILE_PARKED) return this.onParkedEnd?.("overflow");
    this.queue.push(frame);
  }

  close(code: CloseCode, reason: string): void {
    if (this.target) return this.target.close(code, reason);
    this.onParkedEnd?.("closed");
  }

  detach(): void {
    this.target = undefined;
  }

  /** A new connection: what was queued goes to it first, in order. */
  attach(target: ParticipantSink): void {
    this.target = target;
    const queued = this.queue;
    this.queue = [];
    for (const f of queued) target.notifyEncoded(f);
  }
}

/** The connection currently holding a session (signaling-server.ts Connection). */
export interface SessionHolder {
  /** Another connection resumed the session: close without leaving the room. */
  detach(): void;
}

interface Entry {
  secretHash: Buffer;
  session: RoomSession;
  sink: SessionSink;
  holder: SessionHolder | undefined;
  joinedAt: number;
  graceTimer: NodeJS.Timeout | undefined;
}

export type ResumeResult = "ok" | "unknown" | "parked_refused" | "expired" | "overflow" | "closed";

export interface ResumeRegistryOptions {
  graceMs: number;
  maxParked: number;
  count: (result: ResumeResult) => void;
}

const hash = (secret: string) => createHash("sha256").update(secret).digest();

export class ResumeRegistry {
  private readonly entries = new Map<string, Entry>();
  private parkedCount = 0;
  private readonly o: ResumeRegistryOptions;

  constructor(o: ResumeRegistryOptions) {
    this.o = o;
  }

  get parked(): number {
    return this.parkedCount;
  }

  get graceMs(): number {
    return this.o.graceMs;
  }

  private issue(sid: string, e: Pick<Entry, "secretHash">): ResumeInfo {
    const secret = randomBytes(16).toString("base64url");
    e.secretHash = hash(secret);
    return { token: `${sid}.${secret}`, graceMs: this.o.graceMs };
  }

  /** A session joined on this node: resumable from now on. */
  register(sid: string, session: RoomSession, sink: SessionSink, holder: SessionHolder): ResumeInfo {
    const e: Entry = {
      secretHash: Buffer.alloc(0),
      session,
      sink,
      holder,
      joinedAt: Date.now(),
      graceTimer: undefined,
    };
    sink.onParkedEnd = (why) => this.end(sid, why);
    this.entries.set(sid, e);
    return this.issue(sid, e);
  }

  /** Its connection dropped: keeps the session for the grace period. False when the bound is
   * reached (the caller ends the session as before resume existed). */
  park(sid: string): boolean {
    const e = this.entries.get(sid);
    if (!e || e.holder === undefined) return false;
    if (this.parkedCount >= this.o.maxParked) {
      this.o.count("parked_refused");
      this.forget(sid);
      return false;
    }
    e.holder = undefined;
    e.sink.detach();
    this.parkedCount++;
    e.graceTimer = setTimeout(() => this.end(sid, "expired"), this.o.graceMs);
    e.graceTimer.unref();
    return true;
  }

  /** `resume`: the session of a valid token, now held by `holder` (its previous connection, if
   * still there, is detached). Unknown, expired and forged tokens get the same answer. */
  take(
    token: string,
    holder: SessionHolder,
  ): { session: RoomSession; sink: SessionSink; joinedAt: number; resume: ResumeInfo } {
    const dot = token.indexOf(".");
    const sid = token.slice(0, dot);
    const e = dot > 0 ? this.entries.get(sid) : undefined;
    const given = hash(token.slice(dot + 1));
    if (!e || !timingSafeEqual(given, e.secretHash)) {
      this.o.count("unknown");
      throw new ProtocolError(ErrorCode.NotFound, "no such session to resume (expired, ended or unknown): join again");
    }
    if (e.graceTimer) {
      clearTimeout(e.graceTimer);
      e.graceTimer = undefined;
      this.parkedCount--;
    }
    const previous = e.holder;
    e.holder = holder;
    e.sink.detach();
    previous?.detach();
    this.o.count("ok");
    return { session: e.session, sink: e.sink, joinedAt: e.joinedAt, resume: this.issue(sid, e) };
  }

  /** The session ended (left, closed by the room): no longer resumable. */
  forget(sid: string): void {
    const e = this.entries.get(sid);
    if (!e) return;
    if (e.graceTimer) {
      clearTimeout(e.graceTimer);
      this.parkedCount--;
    }
    this.entries.delete(sid);
  }

  /** A parked session ends: grace period over, queue overflow, or the room ended it. */
  private end(sid: string, why: ResumeResult): void {
    const e = this.entries.get(sid);
    if (!e || e.holder !== undefined) return;
    this.forget(sid);
    this.o.count(why);
    e.session.leave();
  }

  /** Node shutdown: every parked session leaves now. */
  close(): void {
    for (const [sid, e] of [...this.entries]) if (e.holder === undefined) this.end(sid, "expired");
  }
}
