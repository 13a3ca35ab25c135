// Periodically derives each participant's connection quality (connection-quality.ts) from the
// scores mediasoup keeps on its producers and consumers and its transports' ICE state, and reports
// the participants whose quality changed.
import type { ConnectionQuality } from "#shared/protocol.ts";
import { connectionQuality } from "./connection-quality.ts";
import type { Participant } from "./participant.ts";

export const QUALITY_INTERVAL_MS = 2_000;

/** Pure over the participant's mediasoup objects (their cached scores and states, no RPC). */
export function participantQuality(p: Participant): { quality: ConnectionQuality; score: number } {
  const scores: number[] = [];
  for (const t of p.tracks.values()) {
    const prod = t.producer;
    if (!prod || prod.paused) continue;
    // Simulcast: the best layer is what subscribers can get; a held-back layer is not a bad link.
    const s = prod.score.map((x) => x.score);
    if (s.length > 0) scores.push(Math.max(...s));
  }
  for (const c of p.consumers.values()) if (!c.paused && !c.producerPaused) scores.push(c.score.score);
  let connected = true;
  for (const t of p.transports.values())
    if (t.iceState === "disconnected" || t.iceState === "closed") connected = false;
  return connectionQuality({ scores, connected });
}

type Update = { identity: string; quality: ConnectionQuality; score: number };

export class QualityMonitor {
  private readonly last = new WeakMap<Participant, ConnectionQuality>();
  /** Joined since the last tick: they get everyone's quality, not just the changes. */
  private readonly newcomers = new Set<Participant>();
  private readonly timer: NodeJS.Timeout;

  constructor(participants: () => Iterable<Participant>, report: (updates: Update[]) => void) {
    this.timer = setInterval(() => {
      const all: Update[] = [];
      const changed: Update[] = [];
      for (const p of participants()) {
        if (p.closed || p.permissions.hidden) continue;
        const u = { identity: p.identity, ...participantQuality(p) };
        all.push(u);
        if (this.last.get(p) === u.quality) continue;
        this.last.set(p, u.quality);
        changed.push(u);
      }
      if (changed.length > 0) report(changed);
      for (const p of this.newcomers)
        if (!p.closed && all.length > 0) p.sink.notify("connectionQuality", { updates: all });
      this.newcomers.clear();
    }, QUALITY_INTERVAL_MS);
    this.timer.unref();
  }

  /** A participant joined: it learns everyone's quality at the next tick. */
  joined(p: Participant): void {
    this.newcomers.add(p);
  }

  close(): void {
    clearInterval(this.timer);
    this.newcomers.clear();
  }
}
