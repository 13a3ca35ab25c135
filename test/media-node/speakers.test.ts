// The room's audio observers on a real mediasoup worker: a room (its router) that closes while an
// audio producer is being added, or after, makes no event and no unhandled error — observer events
// for closed rooms end with the router, never in a crash. And a muted (paused) dominant speaker
// hands over to the one still speaking, even when that one's level is steady (a tone, a fake mic).
import { createSocket } from "node:dgram";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { types } from "mediasoup";
import { RoomSpeakers } from "../../media-node/src/rooms/speakers.ts";
import { MEDIA_CODECS as CODECS } from "../../media-node/src/rooms/media-codecs.ts";
import { createBuiltWorker } from "../mediasoup/support.ts";
import { waitFor } from "../support/media-node.ts";

let worker: types.Worker;

beforeAll(async () => {
  worker = await createBuiltWorker();
});

afterAll(() => worker?.close());

const AUDIO_LEVEL_EXT_ID = 1;

async function audioProducer(
  router: types.Router,
  identity: string,
  ssrc = 1111,
): Promise<{ producer: types.Producer; port: number }> {
  const t = await router.createPlainTransport({
    listenInfo: { protocol: "udp", ip: "127.0.0.1" },
    rtcpMux: true,
    comedia: true,
  });
  const producer = await t.produce({
    kind: "audio",
    rtpParameters: {
      codecs: [{ mimeType: "audio/opus", payloadType: 111, clockRate: 48000, channels: 2 }],
      encodings: [{ ssrc }],
      headerExtensions: [{ uri: "urn:ietf:params:rtp-hdrext:ssrc-audio-level", id: AUDIO_LEVEL_EXT_ID }],
    },
    appData: { identity },
  });
  return { producer, port: t.tuple.localPort };
}

/** An Opus-shaped RTP packet carrying the RFC 6464 audio level (-dBov, 0 loudest). */
function rtpWithLevel(ssrc: number, seq: number, level: number): Buffer {
  const b = Buffer.alloc(12 + 8 + 20);
  b[0] = 0x90; // v2, extension bit
  b[1] = 111;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE((seq * 960) >>> 0, 4);
  b.writeUInt32BE(ssrc, 8);
  b.writeUInt16BE(0xbede, 12); // one-byte header extensions
  b.writeUInt16BE(1, 14); // one 32-bit word
  b[16] = (AUDIO_LEVEL_EXT_ID << 4) | 0; // one byte of data
  b[17] = 0x80 | level; // voice activity + level
  return b;
}

/** Sends a steady level every 20 ms (an Opus packet time) until stopped. */
function steadyTone(port: number, ssrc: number, level: number): { stop(): void } {
  const socket = createSocket("udp4");
  let seq = 0;
  const timer = setInterval(() => socket.send(rtpWithLevel(ssrc, seq++, level), port, "127.0.0.1"), 20);
  return {
    stop: () => {
      clearInterval(timer);
      socket.close();
    },
  };
}

describe("room speakers", () => {
  it("observes audio producers; a router closed mid-add or before makes no event and no crash", async () => {
    const events: string[] = [];
    const speakers = new RoomSpeakers({
      activeSpeaker: (id) => events.push(`active ${id}`),
      levels: (l) => events.push(`levels ${l.length}`),
    });
    const router = await worker.createRouter({ mediaCodecs: CODECS });
    await speakers.add(router, (await audioProducer(router, "alice")).producer);

    const closing = await worker.createRouter({ mediaCodecs: CODECS });
    const { producer: p } = await audioProducer(closing, "bob");
    const adding = speakers.add(closing, p); // observers being created...
    closing.close(); // ...when the room closes
    await expect(adding).resolves.toBeUndefined();
    await expect(speakers.add(closing, p)).resolves.toBeUndefined(); // after: nothing to observe

    router.close();
    await new Promise((r) => setTimeout(r, 1_200)); // longer than the levels interval
    expect(events.filter((e) => e.startsWith("active"))).toEqual([]); // no RTP ever flowed
    expect(worker.closed).toBe(false);
  });

  it("muting the dominant speaker hands over to the one still speaking, and back on the other's mute", async () => {
    const active: string[] = [];
    const speakers = new RoomSpeakers({ activeSpeaker: (id) => active.push(id), levels: () => {} });
    const router = await worker.createRouter({ mediaCodecs: CODECS });
    const alice = await audioProducer(router, "alice", 1111);
    const bob = await audioProducer(router, "bob", 2222);
    const tones = [steadyTone(alice.port, 1111, 20), steadyTone(bob.port, 2222, 20)];
    try {
      await speakers.add(router, alice.producer);
      await waitFor(
        async () => active.at(-1),
        (x) => x === "alice",
        "alice, the only speaker, dominant",
        10_000,
      );
      await speakers.add(router, bob.producer);

      await alice.producer.pause(); // alice mutes her mic
      await waitFor(
        async () => active.at(-1),
        (x) => x === "bob",
        "bob dominant while alice is muted",
        10_000,
      );
      await alice.producer.resume();
      await bob.producer.pause();
      await waitFor(
        async () => active.at(-1),
        (x) => x === "alice",
        "alice dominant while bob is muted",
        10_000,
      );
      expect(active).toEqual(["alice", "bob", "alice"]);
      expect(speakers.current).toBe("alice");
    } finally {
      for (const t of tones) t.stop();
      router.close();
    }
  });
});
