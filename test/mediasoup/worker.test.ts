// The offline-built mediasoup worker forwards real RTP: handcrafted Opus packets go from a UDP
// socket into a PlainTransport producer (comedia) and come out of a PlainTransport consumer
// connected to another UDP socket, rewritten to the consumer's payload type and SSRC.
import { createSocket, type Socket } from "node:dgram";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import type { types } from "mediasoup";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUILT_WORKER_BIN, MEDIA_CODECS, createBuiltWorker } from "./support.ts";

const PACKETS = 50;
const PRODUCER_SSRC = 0x11223344;
const PRODUCER_PT = 100;
const DEADLINE_MS = 5_000;

interface RtpPacket {
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  payload: Buffer;
}

function buildRtp(p: RtpPacket): Buffer {
  const header = Buffer.alloc(12);
  header[0] = 0x80; // version 2, no padding/extension/CSRC
  header[1] = p.payloadType & 0x7f;
  header.writeUInt16BE(p.sequenceNumber, 2);
  header.writeUInt32BE(p.timestamp, 4);
  header.writeUInt32BE(p.ssrc, 8);
  return Buffer.concat([header, p.payload]);
}

function parseRtp(buf: Buffer): RtpPacket | undefined {
  if (buf.length < 12 || buf[0]! >> 6 !== 2) return undefined;
  // With rtcp-mux, RTCP shares the port; its packet types 200-207 land in this range.
  const second = buf[1]!;
  if (second >= 192 && second <= 223) return undefined;
  const csrcCount = buf[0]! & 0x0f;
  const hasExtension = (buf[0]! & 0x10) !== 0;
  let offset = 12 + 4 * csrcCount;
  if (hasExtension) offset += 4 + 4 * buf.readUInt16BE(offset + 2);
  return {
    payloadType: second & 0x7f,
    sequenceNumber: buf.readUInt16BE(2),
    timestamp: buf.readUInt32BE(4),
    ssrc: buf.readUInt32BE(8),
    payload: buf.subarray(offset),
  };
}

async function bindUdp(): Promise<Socket> {
  const socket = createSocket("udp4");
  socket.bind(0, "127.0.0.1");
  await once(socket, "listening");
  return socket;
}

describe("offline-built mediasoup worker", () => {
  let worker: types.Worker;
  let router: types.Router;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    worker = await createBuiltWorker();
    router = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });
  });

  afterAll(() => {
    for (const s of sockets) s.close();
    worker?.close();
  });

  it("runs the binary this repo built", async () => {
    expect(BUILT_WORKER_BIN).toMatch(/worker\/out\/Release\/mediasoup-worker$/);
    const usage = await worker.getResourceUsage();
    expect(usage.ru_maxrss).toBeGreaterThan(0);
    expect(worker.pid).toBeGreaterThan(0);
  });

  it("forwards handcrafted RTP from a PlainTransport producer to a PlainTransport consumer", async () => {
    const sender = await bindUdp();
    const receiver = await bindUdp();
    sockets.push(sender, receiver);
    const listenInfo = { protocol: "udp", ip: "127.0.0.1" } as const;

    const inbound = await router.createPlainTransport({ listenInfo, rtcpMux: true, comedia: true });
    const producer = await inbound.produce({
      kind: "audio",
      rtpParameters: {
        codecs: [{ mimeType: "audio/opus", payloadType: PRODUCER_PT, clockRate: 48000, channels: 2 }],
        encodings: [{ ssrc: PRODUCER_SSRC }],
      },
    });

    const outbound = await router.createPlainTransport({ listenInfo, rtcpMux: true, comedia: false });
    const receiverPort = (receiver.address() as AddressInfo).port;
    await outbound.connect({ ip: "127.0.0.1", port: receiverPort });
    const consumer = await outbound.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
    const consumerPt = consumer.rtpParameters.codecs[0]!.payloadType;
    const consumerSsrc = consumer.rtpParameters.encodings![0]!.ssrc!;
    expect(consumer.kind).toBe("audio");
    expect(consumerSsrc).not.toBe(PRODUCER_SSRC);

    const received: RtpPacket[] = [];
    const allReceived = new Promise<void>((resolve) => {
      receiver.on("message", (msg) => {
        const rtp = parseRtp(msg);
        if (rtp) received.push(rtp);
        if (received.length >= PACKETS) resolve();
      });
    });

    const payloads = Array.from({ length: PACKETS }, (_, i) => Buffer.from(`opus-frame-${i}`));
    const target = inbound.tuple.localPort;
    for (let i = 0; i < PACKETS; i++) {
      const packet = buildRtp({
        payloadType: PRODUCER_PT,
        sequenceNumber: 1000 + i,
        timestamp: 960 * i,
        ssrc: PRODUCER_SSRC,
        payload: payloads[i]!,
      });
      await new Promise<void>((resolve, reject) =>
        sender.send(packet, target, "127.0.0.1", (err) => (err ? reject(err) : resolve())),
      );
    }

    // Bounded wait: the assertions below report what did arrive if the deadline passes.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([allReceived, new Promise((r) => (timer = setTimeout(r, DEADLINE_MS)))]);
    clearTimeout(timer);

    expect(received).toHaveLength(PACKETS);
    expect(new Set(received.map((p) => p.payloadType))).toEqual(new Set([consumerPt]));
    expect(new Set(received.map((p) => p.ssrc))).toEqual(new Set([consumerSsrc]));
    expect(received.map((p) => p.payload.toString())).toEqual(payloads.map((p) => p.toString()));
    // mediasoup rewrites sequence numbers but keeps them consecutive.
    for (let i = 1; i < received.length; i++) {
      expect(received[i]!.sequenceNumber).toBe((received[i - 1]!.sequenceNumber + 1) & 0xffff);
    }

    // comedia learnt the sender's address from the first packet.
    expect(inbound.tuple.remotePort).toBe((sender.address() as AddressInfo).port);
    const [producerStats] = await producer.getStats();
    expect(producerStats?.packetCount).toBe(PACKETS);
  });
});
