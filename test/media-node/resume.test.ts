// The resume registry's bounds and token rules, without a node: parked sessions are bounded
// (a drop beyond the bound leaves at once), a parked participant's queued notifications are
// bounded (one more ends the session), tokens are single use, the grace period ends the session.
import { describe, expect, it } from "vitest";
import type { ParticipantSink } from "../../media-node/src/rooms/participant.ts";
import type { RoomSession } from "../../media-node/src/rooms/room-session.ts";
import {
  MAX_QUEUED_WHILE_PARKED,
  ResumeRegistry,
  SessionSink,
  type ResumeResult,
} from "../../media-node/src/signaling/resume.ts";

function fixture(o: { maxParked?: number; graceMs?: number } = {}) {
  const counts: ResumeResult[] = [];
  const registry = new ResumeRegistry({
    graceMs: o.graceMs ?? 60_000,
    maxParked: o.maxParked ?? 10,
    count: (r) => counts.push(r),
  });
  const session = (sid: string) => {
    const left: string[] = [];
    const s = {
      left,
      session: { joined: { participant: { sid } }, leave: () => left.push(sid) } as unknown as RoomSession,
    };
    return s;
  };
  const holder = () => ({
    detached: 0,
    detach() {
      this.detached++;
    },
  });
  const conn = (): ParticipantSink & { frames: string[] } => {
    const frames: string[] = [];
    return { frames, notify: () => undefined, notifyEncoded: (f) => void frames.push(f), close: () => undefined };
  };
  return { registry, counts, session, holder, conn };
}

describe("ResumeRegistry", () => {
  it("parks up to maxParked sessions; a drop beyond the bound is not parked (the caller leaves)", () => {
    const f = fixture({ maxParked: 1 });
    const a = f.session("PA_a"),
      b = f.session("PA_b");
    f.registry.register("PA_a", a.session, new SessionSink(f.conn()), f.holder());
    f.registry.register("PA_b", b.session, new SessionSink(f.conn()), f.holder());
    expect(f.registry.park("PA_a")).toBe(true);
    expect(f.registry.park("PA_b")).toBe(false);
    expect(f.registry.parked).toBe(1);
    expect(f.counts).toEqual(["parked_refused"]);
  });

  it("queues notifications while parked, delivers them in order on resume; one past the bound ends the session", () => {
    const f = fixture();
    const s = f.session("PA_q");
    const sink = new SessionSink(f.conn());
    const info = f.registry.register("PA_q", s.session, sink, f.holder());
    f.registry.park("PA_q");
    sink.notifyEncoded("one");
    sink.notifyEncoded("two");
    const taken = f.registry.take(info.token, f.holder());
    const next = f.conn();
    taken.sink.attach(next);
    expect(next.frames).toEqual(["one", "two"]);
    // single use: the old token is refused, the new one works
    expect(() => f.registry.take(info.token, f.holder())).toThrow(/no such session/);
    f.registry.park("PA_q");
    for (let i = 0; i <= MAX_QUEUED_WHILE_PARKED; i++) sink.notifyEncoded(`n${i}`);
    expect(s.left).toEqual(["PA_q"]);
    expect(() => f.registry.take(taken.resume.token, f.holder())).toThrow(/no such session/);
    expect(f.counts).toEqual(["ok", "unknown", "overflow", "unknown"]);
  });

  it("resuming a session whose old connection is still open detaches that connection (it does not leave)", () => {
    const f = fixture();
    const s = f.session("PA_o");
    const old = f.holder();
    const info = f.registry.register("PA_o", s.session, new SessionSink(f.conn()), old);
    f.registry.take(info.token, f.holder());
    expect(old.detached).toBe(1);
    expect(s.left).toEqual([]);
  });

  it("the grace period ends a parked session", async () => {
    const f = fixture({ graceMs: 50 });
    const s = f.session("PA_g");
    f.registry.register("PA_g", s.session, new SessionSink(f.conn()), f.holder());
    f.registry.park("PA_g");
    await new Promise((r) => setTimeout(r, 150));
    expect(s.left).toEqual(["PA_g"]);
    expect(f.registry.parked).toBe(0);
    expect(f.counts).toEqual(["expired"]);
  });
});
