// A room's server data track (RoomService SendData): one DataProducer on a DirectTransport per
// router of the room, made when the first participant of that router consumes it, so nothing is
// piped between routers and each participant's data consumer filters on its own subchannel.
// Messages are JSON text {topic?, data: base64} (shared/protocol.ts serverDataTrackId).
import type { types } from "mediasoup";

/** The track id clients consumeData to receive server messages (the same in every room). */
export const SERVER_DATA_TRACK_ID = "server-data";
const LABEL = "_server";

export class ServerData {
  private readonly producers = new Map<types.Router, Promise<types.DataProducer>>();

  /** The server data producer on `router`. */
  on(router: types.Router): Promise<types.DataProducer> {
    let p = this.producers.get(router);
    if (!p) {
      p = router.createDirectTransport().then((t) => t.produceData({ label: LABEL }));
      p.catch(() => this.producers.delete(router));
      this.producers.set(router, p);
    }
    return p;
  }

  /** To every consumer on every router, or only to those on the given subchannels. */
  async send(frame: string, subchannels?: number[]): Promise<void> {
    for (const [router, pending] of this.producers) {
      try {
        const producer = await pending;
        if (producer.closed) this.producers.delete(router);
        else producer.send(frame, undefined, subchannels);
      } catch {
        this.producers.delete(router); // its router closed (worker lost): nothing to send there
      }
    }
  }
}
