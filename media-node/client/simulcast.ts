// What the client publishes video as: the camera in three simulcast layers (VP8 with temporal
// layers, L1T3), a screen share in two, and the layer sizes it declares to the node (from the
// captured size and each encoding's scale), which the node uses for adaptive layer choice.
import type { types } from "mediasoup-client";
import type { VideoLayer } from "#shared/protocol.ts";

/** The camera is captured at 720p: Chromium makes three layers only from 1280×720 up (two from
 * 640×360/640×480: its legacy layer limit), see docs/media.md. */
export const CAMERA_CAPTURE: MediaTrackConstraints = { width: { ideal: 1280 }, height: { ideal: 720 } };

/** The sender starts at ~300 kbps and grows slowly on loopback-like paths; at 1 Mbps the top layer
 * comes within seconds rather than ~20 s. */
export const START_BITRATE_KBPS = 1000;

/** Camera: simulcast on, off, or these encodings (lowest first). */
export type Simulcast = boolean | types.RtpEncodingParameters[];

export const CAMERA_ENCODINGS: readonly types.RtpEncodingParameters[] = [
  { scaleResolutionDownBy: 4, maxBitrate: 150_000, scalabilityMode: "L1T3" },
  { scaleResolutionDownBy: 2, maxBitrate: 500_000, scalabilityMode: "L1T3" },
  { scaleResolutionDownBy: 1, maxBitrate: 1_500_000, scalabilityMode: "L1T3" },
];

export const SCREEN_ENCODINGS: types.RtpEncodingParameters[] = [
  { scaleResolutionDownBy: 2, maxBitrate: 500_000, scalabilityMode: "L1T3" },
  { scaleResolutionDownBy: 1, maxBitrate: 2_500_000, scalabilityMode: "L1T3" },
];

/** The encodings of camera video (undefined: one encoding, the browser's default). */
export function cameraEncodings(s: Simulcast): types.RtpEncodingParameters[] | undefined {
  if (s === false) return undefined;
  return s === true ? CAMERA_ENCODINGS.map((e) => ({ ...e })) : s;
}

/** Pure: the size of each encoding of a track captured at `settings`' size (lowest first). */
export function encodingLayers(
  settings: { width?: number; height?: number },
  encodings: readonly types.RtpEncodingParameters[] | undefined,
): VideoLayer[] | undefined {
  const { width, height } = settings;
  if (!width || !height) return undefined;
  return (encodings ?? [{}]).map((e) => {
    const s = e.scaleResolutionDownBy ?? 1;
    return { width: Math.max(1, Math.round(width / s)), height: Math.max(1, Math.round(height / s)) };
  });
}

/** The video codecs a publisher can ask for (the node's routers offer all three). */
export type VideoCodec = "vp8" | "h264" | "vp9";

/** Pure: the device's first codec of that name (mediasoup-client's `produce({ codec })`); throws if
 * the browser and the node share none (e.g. a browser without an H.264 encoder). */
export function pickVideoCodec<C extends { mimeType: string }>(codecs: readonly C[] | undefined, name: VideoCodec): C {
  const mimeType = `video/${name.toUpperCase()}`;
  const codec = codecs?.find((c) => c.mimeType.toLowerCase() === mimeType.toLowerCase());
  if (!codec) throw new Error(`video codec ${name} is not supported by this browser and the node together`);
  return codec;
}
