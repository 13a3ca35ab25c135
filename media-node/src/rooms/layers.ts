// Simulcast layer choice, pure: which spatial layer covers a rendered size (adaptive stream), and
// which layers of a track anyone consumes (dynacast). The Room applies them through mediasoup's
// Consumer API, so they work the same on a producer piped from another router.
import type { VideoLayer } from "#shared/protocol.ts";

/** What a camera publishes when the client names no sizes (the bundled client's defaults). */
export const DEFAULT_CAMERA_LAYERS: readonly VideoLayer[] = [
  { width: 320, height: 180 },
  { width: 640, height: 360 },
  { width: 1280, height: 720 },
];

/** A layer a little smaller than the element still looks fine (LiveKit picks likewise). */
const SLACK = 0.85;

/** Pure: the smallest spatial layer whose size covers `width` × `height` (the top layer when none
 * does). A zero size means "unknown": the top layer. */
export function layerForSize(layers: readonly VideoLayer[], width: number, height: number): number {
  const top = Math.max(0, layers.length - 1);
  if (width <= 0 && height <= 0) return top;
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i]!;
    if (l.width >= width * SLACK && l.height >= height * SLACK) return i;
  }
  return top;
}

/** What one subscription asks of a track: nothing while paused, else up to its preferred layer. */
export interface LayerWant {
  paused: boolean;
  /** The consumer's preferred spatial layer (undefined: not simulcast → layer 0). */
  spatialLayer: number | undefined;
}

/** Pure: the highest spatial layer any subscription wants, -1 when none wants any. */
export function maxWantedLayer(wants: Iterable<LayerWant>): number {
  let max = -1;
  for (const w of wants) if (!w.paused) max = Math.max(max, w.spatialLayer ?? 0);
  return max;
}
