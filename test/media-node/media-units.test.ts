// The pure parts of layer choice, dynacast, audio levels and connection quality.
import { describe, expect, it } from "vitest";
import { connectionQuality } from "../../media-node/src/rooms/connection-quality.ts";
import { DEFAULT_CAMERA_LAYERS, layerForSize, maxWantedLayer } from "../../media-node/src/rooms/layers.ts";
import { dbovToLevel } from "../../media-node/src/rooms/speakers.ts";
import { encodingLayers, CAMERA_ENCODINGS, pickVideoCodec } from "../../media-node/client/simulcast.ts";

describe("layer choice", () => {
  it("picks the smallest layer covering the rendered size, the top one when none does or the size is unknown", () => {
    expect(layerForSize(DEFAULT_CAMERA_LAYERS, 320, 180)).toBe(0);
    expect(layerForSize(DEFAULT_CAMERA_LAYERS, 360, 200)).toBe(0); // within the slack
    expect(layerForSize(DEFAULT_CAMERA_LAYERS, 640, 360)).toBe(1);
    expect(layerForSize(DEFAULT_CAMERA_LAYERS, 900, 500)).toBe(2);
    expect(layerForSize(DEFAULT_CAMERA_LAYERS, 4000, 2000)).toBe(2);
    expect(layerForSize(DEFAULT_CAMERA_LAYERS, 0, 0)).toBe(2);
    expect(layerForSize([{ width: 640, height: 360 }], 100, 100)).toBe(0);
  });

  it("dynacast wants the highest layer of any running subscription, -1 for none", () => {
    expect(maxWantedLayer([])).toBe(-1);
    expect(maxWantedLayer([{ paused: true, spatialLayer: 2 }])).toBe(-1);
    expect(
      maxWantedLayer([
        { paused: false, spatialLayer: 0 },
        { paused: true, spatialLayer: 2 },
        { paused: false, spatialLayer: 1 },
      ]),
    ).toBe(1);
    expect(maxWantedLayer([{ paused: false, spatialLayer: undefined }])).toBe(0);
  });

  it("the client declares each encoding's size from the capture size", () => {
    expect(encodingLayers({ width: 1280, height: 720 }, CAMERA_ENCODINGS)).toEqual(DEFAULT_CAMERA_LAYERS);
    expect(encodingLayers({ width: 640, height: 480 }, undefined)).toEqual([{ width: 640, height: 480 }]);
    expect(encodingLayers({}, CAMERA_ENCODINGS)).toBeUndefined();
  });

  it("the publisher's video codec is the device's first of that name; a missing one is a clear error", () => {
    const codecs = [
      { mimeType: "video/VP8", clockRate: 90000 },
      {
        kind: "video" as const,
        mimeType: "video/H264",
        clockRate: 90000,
        parameters: { "profile-level-id": "4d0032" },
      },
      {
        kind: "video" as const,
        mimeType: "video/H264",
        clockRate: 90000,
        parameters: { "profile-level-id": "42e01f" },
      },
    ];
    expect(pickVideoCodec(codecs, "h264")).toBe(codecs[1]);
    expect(pickVideoCodec(codecs, "vp8")).toBe(codecs[0]);
    expect(() => pickVideoCodec(codecs, "vp9")).toThrow(/video codec vp9 is not supported/);
    expect(() => pickVideoCodec(undefined, "h264")).toThrow(/not supported/);
  });
});

describe("audio levels and quality", () => {
  it("dBov becomes a linear 0..1 level", () => {
    expect(dbovToLevel(0)).toBe(1);
    expect(dbovToLevel(-20)).toBe(0.1);
    expect(dbovToLevel(-127)).toBe(0);
    expect(dbovToLevel(5)).toBe(1);
  });

  it("the worst stream decides; a lost ICE path is lost", () => {
    expect(connectionQuality({ scores: [], connected: true }).quality).toBe("excellent");
    expect(connectionQuality({ scores: [10, 9], connected: true })).toEqual({ quality: "excellent", score: 9 });
    expect(connectionQuality({ scores: [10, 6], connected: true }).quality).toBe("good");
    expect(connectionQuality({ scores: [10, 3], connected: true }).quality).toBe("poor");
    expect(connectionQuality({ scores: [0], connected: true }).quality).toBe("lost");
    expect(connectionQuality({ scores: [10], connected: false }).quality).toBe("lost");
  });
});
