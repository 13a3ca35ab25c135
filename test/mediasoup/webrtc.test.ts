// A real DTLS peer against the offline-built worker: headless Chromium (mediasoup-client) sends its
// fake camera through a WebRtcTransport and receives it back through a second one. This is the
// only kind of test that finds the kTLS BIO_ctrl crash (infra/mediasoup/patches/
// dtls-bio-callback-return.patch) and it exercises both directions of the libsrtp 3 → 2 header.
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { build } from "esbuild";
import type { types } from "mediasoup";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, openPage } from "../support/browser.ts";
import { waitFor } from "../support/media-node.ts";
import { MEDIA_CODECS, createBuiltWorker } from "./support.ts";

type TransportInfo = Pick<types.WebRtcTransport, "id" | "iceParameters" | "iceCandidates" | "dtlsParameters">;
type Inbound = { type: string; kind: string; framesDecoded?: number };

// Runs in the page: mediasoup-client's Device is on globalThis, the server calls are exposed functions.
type PageApi = {
  Device: typeof import("mediasoup-client").Device;
  serverConnect: (transportId: string, dtlsParameters: unknown) => Promise<void>;
  serverProduce: (rtpParameters: unknown) => Promise<string>;
  serverConsume: (rtpCapabilities: unknown) => Promise<{ id: string; producerId: string; rtpParameters: unknown }>;
  inbound: () => Promise<Inbound[]>;
};

const info = (t: types.WebRtcTransport): TransportInfo => ({
  id: t.id,
  iceParameters: t.iceParameters,
  iceCandidates: t.iceCandidates,
  dtlsParameters: t.dtlsParameters,
});

async function servePage(): Promise<Server> {
  const bundle = await build({
    stdin: {
      contents: "import { Device } from 'mediasoup-client'; globalThis.Device = Device;",
      resolveDir: process.cwd(),
    },
    bundle: true,
    format: "iife",
    platform: "browser",
    write: false,
    logLevel: "silent",
  });
  const script = bundle.outputFiles[0]!.text;
  // Served from 127.0.0.1 (a secure context) so getUserMedia and WebCrypto are available.
  const server = createServer((req, res) => {
    if (req.url === "/client.js") res.writeHead(200, { "content-type": "text/javascript" }).end(script);
    else res.writeHead(200, { "content-type": "text/html" }).end('<!doctype html><script src="/client.js"></script>');
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return server;
}

describe("offline-built worker with a real WebRTC peer (Chromium)", () => {
  let worker: types.Worker;
  let router: types.Router;
  let server: Server;
  let browser: Browser;
  let page: { page: Page; console: string[] };

  beforeAll(async () => {
    worker = await createBuiltWorker();
    router = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });
    server = await servePage();
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    server?.close();
    worker?.close();
  });

  it("completes DTLS, decrypts the browser's SRTP and sends back video it decodes", async () => {
    const listenInfos: types.TransportListenInfo[] = [{ protocol: "udp", ip: "127.0.0.1" }];
    const send = await router.createWebRtcTransport({ listenInfos });
    const recv = await router.createWebRtcTransport({ listenInfos });
    const transports = new Map([send, recv].map((t) => [t.id, t]));
    let producer: types.Producer | undefined;
    let died: Error | undefined;
    worker.on("died", (e) => (died = e));

    page = await openPage(browser, `http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.page.exposeFunction("serverConnect", async (id: string, dtlsParameters: types.DtlsParameters) => {
      await transports.get(id)!.connect({ dtlsParameters });
    });
    await page.page.exposeFunction("serverProduce", async (rtpParameters: types.RtpParameters) => {
      producer = await send.produce({ kind: "video", rtpParameters });
      return producer.id;
    });
    await page.page.exposeFunction("serverConsume", async (rtpCapabilities: types.RtpCapabilities) => {
      const consumer = await recv.consume({ producerId: producer!.id, rtpCapabilities, paused: true });
      // Resume once the browser's side exists, so the keyframe request reaches a live decoder.
      setTimeout(() => void consumer.resume(), 200);
      return { id: consumer.id, producerId: producer!.id, rtpParameters: consumer.rtpParameters };
    });

    await page.page.evaluate(
      async ({ caps, sendInfo, recvInfo }) => {
        const api = globalThis as unknown as PageApi;
        const device = new api.Device();
        await device.load({ routerRtpCapabilities: caps as never });
        const wire = <T extends { on: (...args: any[]) => unknown }>(t: T & { id: string }) =>
          t.on("connect", ({ dtlsParameters }: { dtlsParameters: unknown }, ok: () => void, fail: (e: Error) => void) =>
            api.serverConnect(t.id, dtlsParameters).then(ok, fail),
          );
        const sendT = device.createSendTransport(sendInfo as never);
        wire(sendT);
        sendT.on("produce", ({ rtpParameters }, ok, fail) =>
          api.serverProduce(rtpParameters).then((id) => ok({ id }), fail),
        );
        const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 } });
        await sendT.produce({ track: stream.getVideoTracks()[0]! });

        const recvT = device.createRecvTransport(recvInfo as never);
        wire(recvT);
        const c = await api.serverConsume(device.rtpCapabilities);
        const consumer = await recvT.consume({ ...c, kind: "video", rtpParameters: c.rtpParameters as never });
        const video = document.createElement("video");
        video.muted = true;
        video.srcObject = new MediaStream([consumer.track]);
        document.body.append(video);
        await video.play();
        api.inbound = async () => [...(await consumer.getStats()).values()] as Inbound[];
      },
      { caps: router.rtpCapabilities, sendInfo: info(send), recvInfo: info(recv) },
    );

    const fail = () => `worker died: ${died}\nconsole:\n${page.console.join("\n")}`;
    const decoded = await waitFor(
      () => page.page.evaluate(() => (globalThis as unknown as PageApi).inbound()),
      (stats) => stats.some((s) => s.type === "inbound-rtp" && (s.framesDecoded ?? 0) >= 10),
      "the browser to decode 10 frames sent back by mediasoup",
      20_000,
    ).catch((e) => {
      throw new Error(`${e}\n${fail()}`);
    });

    expect(decoded.find((s) => s.type === "inbound-rtp")!.framesDecoded).toBeGreaterThanOrEqual(10);
    expect(send.dtlsState).toBe("connected");
    expect(recv.dtlsState).toBe("connected");
    const [producerStats] = await producer!.getStats();
    expect(producerStats!.packetCount).toBeGreaterThan(0);
    expect(died, fail()).toBeUndefined();
    expect(worker.died).toBe(false);
  });
});
