// The room's audio observers on a real mediasoup worker: a room (its router) that closes while an
// audio producer is being added, or after, makes no event and no unhandled error — observer events
// for closed rooms end with the router, never in a crash.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { types } from "mediasoup";
import { RoomSpeakers } from "../../media-node/src/rooms/speakers.ts";
import { MEDIA_CODECS as CODECS } from "../../media-node/src/rooms/media-codecs.ts";
import { createBuiltWorker } from "../mediasoup/support.ts";

let worker: types.Worker;

beforeAll(async () => {
  worker = await createBuiltWorker();
});

afterAll(() => worker?.close());

async function audioProducer(router: types.Router, identity: string): Promise<types.Producer> {
  const t = await router.createPlainTransport({
    listenInfo: { protocol: "udp", ip: "127.0.0.1" },
    rtcpMux: true,
    comedia: true,
  });
  return t.produce({
    kind: "audio",
    rtpParameters: {
      codecs: [{ mimeType: "audio/opus", payloadType: 111, clockRate: 48000, channels: 2 }],
      encodings: [{ ssrc: 1111 }],
    },
    appData: { identity },
  });
}

describe("room speakers", () => {
  it("observes audio producers; a router closed mid-add or before makes no event and no crash", async () => {
    const events: string[] = [];
    const speakers = new RoomSpeakers({
      activeSpeaker: (id) => events.push(`active ${id}`),
      levels: (l) => events.push(`levels ${l.length}`),
    });
    const router = await worker.createRouter({ mediaCodecs: CODECS });
    await speakers.add(router, await audioProducer(router, "alice"));

    const closing = await worker.createRouter({ mediaCodecs: CODECS });
    const p = await audioProducer(closing, "bob");
    const adding = speakers.add(closing, p); // observers being created...
    closing.close(); // ...when the room closes
    await expect(adding).resolves.toBeUndefined();
    await expect(speakers.add(closing, p)).resolves.toBeUndefined(); // after: nothing to observe

    router.close();
    await new Promise((r) => setTimeout(r, 1_200)); // longer than the levels interval
    expect(events.filter((e) => e.startsWith("active"))).toEqual([]); // no RTP ever flowed
    expect(worker.closed).toBe(false);
  });
});
