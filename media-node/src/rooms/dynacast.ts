// Dynacast: tells each publisher of a simulcast track the highest spatial layer anyone consumes, so
// its client turns the encodings above it off (no uplink spent on layers nobody watches) and back
// on when a subscriber wants them. Consumers are indexed by track id — those on piped routers too,
// so a room spanning workers counts every subscriber. Updates are debounced per track (a burst of
// joins or resizes makes one notification) and sent only when the answer changes.
import type { types } from "mediasoup";
import { maxWantedLayer } from "./layers.ts";

const DEBOUNCE_MS = 250;

export interface DynacastTarget {
  /** The track is still published as simulcast (and by whom): undefined once it is gone. */
  owner(trackId: string): { simulcast: boolean; notify(maxSpatialLayer: number): void } | undefined;
}

export class Dynacast {
  private readonly consumers = new Map<string, Set<types.Consumer>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly sent = new Map<string, number>();
  private readonly target: DynacastTarget;

  constructor(target: DynacastTarget) {
    this.target = target;
  }

  /** A new subscription of a track; it leaves the index when the consumer closes. */
  add(trackId: string, c: types.Consumer): void {
    let set = this.consumers.get(trackId);
    if (!set) this.consumers.set(trackId, (set = new Set()));
    set.add(c);
    c.observer.once("close", () => {
      set.delete(c);
      if (set.size === 0 && this.consumers.get(trackId) === set) this.consumers.delete(trackId);
      this.changed(trackId);
    });
    this.changed(trackId);
  }

  /** Something about a track's subscriptions changed (layers, pause): re-evaluate soon. */
  changed(trackId: string): void {
    if (this.timers.has(trackId)) return;
    this.timers.set(
      trackId,
      setTimeout(() => {
        this.timers.delete(trackId);
        this.evaluate(trackId);
      }, DEBOUNCE_MS),
    );
  }

  /** The track was unpublished: forget it. */
  forget(trackId: string): void {
    clearTimeout(this.timers.get(trackId));
    this.timers.delete(trackId);
    this.sent.delete(trackId);
    this.consumers.delete(trackId);
  }

  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.consumers.clear();
    this.sent.clear();
  }

  private evaluate(trackId: string): void {
    const owner = this.target.owner(trackId);
    if (!owner?.simulcast) return;
    const wants = [...(this.consumers.get(trackId) ?? [])].map((c) => ({
      paused: c.paused,
      spatialLayer: c.preferredLayers?.spatialLayer,
    }));
    const max = maxWantedLayer(wants);
    if (this.sent.get(trackId) === max) return;
    this.sent.set(trackId, max);
    owner.notify(max);
  }
}
