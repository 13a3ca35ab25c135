// Active speaker and audio levels of a room: one mediasoup ActiveSpeakerObserver and one
// AudioLevelObserver per router of the room (an audio producer is observed on the router it was
// produced on), reported through callbacks the Room turns into throttled notifications. Closing a
// router closes its observers, so the room's close needs nothing from here.
//
// A muted (paused) producer leaves the ActiveSpeakerObserver until it resumes, as LiveKit never
// counts a muted track as speaking: mediasoup keeps a paused dominant speaker and only replaces
// it with a contender whose level *varies* enough, so a steady voice (a tone, a fake mic) would
// never take over from a muted one. Removing the dominant one makes mediasoup elect again at once.
import type { types } from "mediasoup";

/** The dominant speaker is re-evaluated this often (mediasoup's default is 300 ms). */
const ACTIVE_SPEAKER_INTERVAL_MS = 500;
/** Audio levels are reported at most this often: a room-wide notification each time. */
const LEVELS_INTERVAL_MS = 1_000;
const LEVELS_MAX_ENTRIES = 5;
/** dBov below which a participant counts as silent. */
const LEVELS_THRESHOLD_DBOV = -60;

export interface SpeakerEvents {
  activeSpeaker(identity: string): void;
  /** Loudest first, level 0..1 (linear); empty: silence. */
  levels(speakers: { identity: string; level: number }[]): void;
}

interface Observers {
  active: types.ActiveSpeakerObserver;
  levels: types.AudioLevelObserver;
}

/** Pure: dBov (-127..0) as a linear 0..1 level. */
export function dbovToLevel(dbov: number): number {
  return Math.round(10 ** (Math.min(0, dbov) / 20) * 1000) / 1000;
}

const identityOf = (p: types.Producer): string => String(p.appData.identity ?? "");

export class RoomSpeakers {
  private readonly byRouter = new Map<types.Router, Promise<Observers>>();
  private readonly on: SpeakerEvents;
  private lastActive: string | undefined;

  /** The dominant speaker as last reported (a newcomer is told it on joining). */
  get current(): string | undefined {
    return this.lastActive;
  }

  constructor(on: SpeakerEvents) {
    this.on = on;
  }

  /** Observes an audio producer (its appData.identity names the speaker). A producer that closes
   * leaves its observers by itself. */
  async add(router: types.Router, producer: types.Producer): Promise<void> {
    if (producer.kind !== "audio" || router.closed) return;
    let o = this.byRouter.get(router);
    if (!o) {
      o = this.open(router);
      this.byRouter.set(router, o);
      router.observer.once("close", () => this.byRouter.delete(router));
    }
    try {
      const { active, levels } = await o;
      if (producer.closed || active.closed) return;
      await levels.addProducer({ producerId: producer.id });
      await this.followMute(active, producer);
    } catch (e) {
      // The room (its router) or the producer closed meanwhile: nothing left to observe.
      if (router.closed || producer.closed) return;
      throw e;
    }
  }

  /** Keeps the producer in the active-speaker observer exactly while it is not paused. Changes are
   * applied one at a time, each to the latest state, so a quick mute/unmute cannot reorder them. */
  private async followMute(active: types.ActiveSpeakerObserver, producer: types.Producer): Promise<void> {
    let observed = false;
    let chain = Promise.resolve();
    const apply = async (): Promise<void> => {
      const want = !producer.paused && !producer.closed && !active.closed;
      if (want === observed) return;
      if (want) await active.addProducer({ producerId: producer.id });
      else if (!producer.closed && !active.closed) await active.removeProducer({ producerId: producer.id });
      observed = want;
    };
    const run = (): Promise<void> => {
      const step = chain.then(apply);
      chain = step.catch(() => {});
      return step;
    };
    // Only a producer or observer closed meanwhile fails a later step; both leave the observer anyway.
    producer.observer.on("pause", () => void run().catch(() => {}));
    producer.observer.on("resume", () => void run().catch(() => {}));
    await run();
  }

  private async open(router: types.Router): Promise<Observers> {
    const active = await router.createActiveSpeakerObserver({ interval: ACTIVE_SPEAKER_INTERVAL_MS });
    const levels = await router.createAudioLevelObserver({
      interval: LEVELS_INTERVAL_MS,
      maxEntries: LEVELS_MAX_ENTRIES,
      threshold: LEVELS_THRESHOLD_DBOV,
    });
    active.on("dominantspeaker", ({ producer }) => {
      const identity = identityOf(producer);
      if (identity === this.lastActive) return; // another router may report the same speaker
      this.lastActive = identity;
      this.on.activeSpeaker(identity);
    });
    levels.on("volumes", (volumes) =>
      this.on.levels(volumes.map((v) => ({ identity: identityOf(v.producer), level: dbovToLevel(v.volume) }))),
    );
    levels.on("silence", () => this.on.levels([]));
    return { active, levels };
  }
}
