// The mediasoup worker built by infra/mediasoup/build-worker.sh, passed explicitly so a stray
// MEDIASOUP_WORKER_BIN (CI sets one just for `npm ci`) cannot swap in another binary.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as mediasoup from "mediasoup";
import type { types } from "mediasoup";

export const BUILT_WORKER_BIN = fileURLToPath(
  new URL("../../node_modules/mediasoup/worker/out/Release/mediasoup-worker", import.meta.url),
);

/** Fails loudly rather than skipping: this binary is what the suite exists to check. */
export function createBuiltWorker(): Promise<types.Worker> {
  if (!existsSync(BUILT_WORKER_BIN)) {
    throw new Error(`${BUILT_WORKER_BIN} missing: run infra/mediasoup/build-worker.sh`);
  }
  return mediasoup.createWorker({
    workerBin: BUILT_WORKER_BIN,
    logLevel: "warn",
    rtcMinPort: 40000,
    rtcMaxPort: 49999,
  });
}

export const MEDIA_CODECS: types.RouterRtpCodecCapability[] = [
  { kind: "audio", mimeType: "audio/opus", clockRate: 48000, channels: 2 },
  { kind: "video", mimeType: "video/VP8", clockRate: 90000 },
];
