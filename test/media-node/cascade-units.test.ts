// Pure parts of the cascade: link messages are validated (garbage, wrong shapes, oversized lists
// and forged offers or operations are dropped, not thrown), and the `cascade:` settings with their
// CASCADE_* overrides.
import { describe, expect, it } from "vitest";
import { resolveConfig, ConfigError } from "../../media-node/src/config.ts";
import {
  MAX_LINK_FRAME_BYTES,
  MAX_LINK_PARTICIPANTS,
  parseLinkMessage,
  participantBatches,
} from "../../media-node/src/cascade/link-protocol.ts";

const endpoint = {
  ip: "10.0.0.7",
  port: 40000,
  srtpParameters: { cryptoSuite: "AEAD_AES_256_GCM", keyBase64: "A".repeat(60) },
};
const offer = {
  producerId: "p1",
  kind: "video",
  rtpParameters: { codecs: [{ mimeType: "video/VP8" }], encodings: [{ ssrc: 1 }] },
  paused: false,
};
const dataOffer = {
  producerId: "d1",
  kind: "data",
  sctpStreamParameters: { streamId: 3, ordered: false, maxRetransmits: 0 },
  label: "chat",
  protocol: "",
};

describe("link messages", () => {
  it("parses every kind of valid message", () => {
    const good = [
      { t: "hello", room: "r", endpoint, participants: [] },
      {
        t: "welcome",
        endpoint,
        participants: [{ identity: "a", sid: "PA_1", tracks: [{ trackId: "t", kind: "audio", muted: false }] }],
      },
      { t: "joined", participant: { identity: "a", sid: "PA_1", tracks: [] } },
      { t: "left", identity: "a" },
      { t: "published", identity: "a", track: { trackId: "t", kind: "video", muted: true } },
      { t: "unpublished", identity: "a", trackId: "t" },
      { t: "muted", identity: "a", trackId: "t", muted: true },
      { t: "want", trackId: "t" },
      { t: "offer", trackId: "t", offer },
      { t: "unavailable", trackId: "t" },
      { t: "offer", trackId: "d", offer: dataOffer },
      { t: "updated", participant: { identity: "a", sid: "PA_1", metadata: "m", tracks: [] } },
      { t: "participants", participants: [{ identity: "b", sid: "PA_2", tracks: [] }] },
      { t: "admin", id: 7, op: { op: "removeParticipant", identity: "a" } },
      { t: "admin", op: { op: "sendData", data: "aGk=", topic: "chat" } },
      { t: "adminReply", id: 7, reply: { ok: true } },
      { t: "adminReply", id: 8, reply: { ok: false, code: "not_found", message: "participant a is not in room r" } },
    ];
    for (const m of good) expect(parseLinkMessage(JSON.stringify(m)), m.t).toEqual(m);
  });

  it.each([
    ["not json", "{nope"],
    ["unknown kind", JSON.stringify({ t: "rm -rf" })],
    [
      "hostname in a pipe endpoint (pipes take IP literals)",
      JSON.stringify({ t: "hello", room: "r", endpoint: { ...endpoint, ip: "evil.example" }, participants: [] }),
    ],
    [
      "weak SRTP suite",
      JSON.stringify({
        t: "welcome",
        endpoint: {
          ...endpoint,
          srtpParameters: { cryptoSuite: "AES_CM_128_HMAC_SHA1_80", keyBase64: "A".repeat(40) },
        },
        participants: [],
      }),
    ],
    [
      "offer without codecs",
      JSON.stringify({ t: "offer", trackId: "t", offer: { ...offer, rtpParameters: { codecs: [], encodings: [{}] } } }),
    ],
    ["offer of a data kind", JSON.stringify({ t: "offer", trackId: "t", offer: { ...offer, kind: "data" } })],
    [
      "data offer with an SCTP stream id out of range",
      JSON.stringify({
        t: "offer",
        trackId: "d",
        offer: { ...dataOffer, sctpStreamParameters: { streamId: 65535, ordered: true } },
      }),
    ],
    [
      "data offer with an oversized label",
      JSON.stringify({ t: "offer", trackId: "d", offer: { ...dataOffer, label: "x".repeat(257) } }),
    ],
    ["admin with an unknown operation", JSON.stringify({ t: "admin", id: 1, op: { op: "dropDatabase" } })],
    ["admin whose data is not base64", JSON.stringify({ t: "admin", op: { op: "sendData", data: "not base64!" } })],
    [
      "admin with a negative id",
      JSON.stringify({ t: "admin", id: -1, op: { op: "removeParticipant", identity: "a" } }),
    ],
    [
      "adminReply with an unknown error code",
      JSON.stringify({ t: "adminReply", id: 1, reply: { ok: false, code: "segfault", message: "" } }),
    ],
    [
      "too many participants",
      JSON.stringify({
        t: "welcome",
        endpoint,
        participants: Array.from({ length: MAX_LINK_PARTICIPANTS + 1 }, (_, i) => ({
          identity: `p${i}`,
          sid: "s",
          tracks: [],
        })),
      }),
    ],
    [
      "port out of range",
      JSON.stringify({ t: "hello", room: "r", endpoint: { ...endpoint, port: 70000 }, participants: [] }),
    ],
  ])("drops %s", (_, frame) => {
    expect(parseLinkMessage(frame)).toBeUndefined();
  });
});

describe("participant batches", () => {
  const someone = (i: number, metadata = "") => ({ identity: `p${i}`, sid: `PA_${i}`, metadata, tracks: [] });

  it("a room's worth of participants in messages that each fit a bridge frame, all of them, in order", () => {
    // 600 participants with 1 KB of metadata each: ~600 KB, five or so frames.
    const all = Array.from({ length: 600 }, (_, i) => someone(i, "m".repeat(1_000)));
    const batches = participantBatches(all);
    expect(batches.length).toBeGreaterThan(4);
    expect(batches.flat()).toEqual(all);
    for (const participants of batches) {
      const frame = JSON.stringify({ t: "welcome", endpoint, participants });
      expect(Buffer.byteLength(frame)).toBeLessThanOrEqual(MAX_LINK_FRAME_BYTES);
      expect(parseLinkMessage(frame)).toBeDefined();
    }
  });

  it("nobody is one empty batch; a participant larger than a frame is a batch of its own", () => {
    expect(participantBatches([])).toEqual([[]]);
    const huge = someone(1, "x".repeat(MAX_LINK_FRAME_BYTES));
    expect(participantBatches([someone(0), huge, someone(2)])).toEqual([[someone(0)], [huge], [someone(2)]]);
  });
});

describe("cascade config", () => {
  it("is off by default, with safe limits", () => {
    expect(resolveConfig({}, { API_KEYS: "k:s" }).cascade).toEqual({
      enabled: false,
      max_nodes_per_room: 8,
      participants_per_node: 200,
    });
  });

  it("reads the file's cascade section, CASCADE_* variables win", () => {
    const c = resolveConfig(
      {},
      { API_KEYS: "k:s", CASCADE_ENABLED: "true", CASCADE_MAX_NODES_PER_ROOM: "3" },
      { participants_per_node: 50, max_nodes_per_room: 5 },
    );
    expect(c.cascade).toEqual({ enabled: true, max_nodes_per_room: 3, participants_per_node: 50 });
  });

  it.each([
    [{ CASCADE_MAX_NODES_PER_ROOM: "0" }, /cascade/],
    [{ CASCADE_ENABLED: "maybe" }, /cascade/],
    [{ PIPE_PORT_MIN: "41000" }, /pipe_port/],
    [{ PIPE_PORT_MIN: "41000", PIPE_PORT_MAX: "40000" }, /pipe_port/],
    [{ PIPE_ANNOUNCED_ADDRESS: "media.example.com" }, /pipe_announced_address/],
  ])("rejects %j", (env, msg) => {
    expect(() => resolveConfig({}, { API_KEYS: "k:s", ...env })).toThrow(ConfigError);
    expect(() => resolveConfig({}, { API_KEYS: "k:s", ...env })).toThrow(msg);
  });
});
