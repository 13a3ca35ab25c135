// One forwarded video track on a mediasoup router, built from PlainTransports: a producer fed by
// VideoSource (comedia: the router learns the sender's address from its first packet) and any
// number of consumers, each on its own transport (like one subscriber each) sending to a sink.
// The same code runs on the media node's room router and on the bare script's router, so the two
// sides differ only in what is around the router.
import type { types } from "mediasoup";
import { VP8_PAYLOAD_TYPE } from "./rtp.ts";

const LOOPBACK = { protocol: "udp", ip: "127.0.0.1" } as const;

export class PlainForwarder {
  readonly router: types.Router;
  readonly producerPort: number;
  private readonly producer: types.Producer;
  private readonly sinkPort: number;
  private readonly transports: types.PlainTransport[] = [];
  readonly consumers: types.Consumer[] = [];

  private constructor(
    router: types.Router,
    producerTransport: types.PlainTransport,
    producer: types.Producer,
    sinkPort: number,
  ) {
    this.router = router;
    this.producer = producer;
    this.sinkPort = sinkPort;
    this.transports.push(producerTransport);
    this.producerPort = producerTransport.tuple.localPort;
  }

  static async attach(router: types.Router, ssrc: number, sinkPort: number): Promise<PlainForwarder> {
    const t = await router.createPlainTransport({ listenInfo: LOOPBACK, rtcpMux: true, comedia: true });
    const producer = await t.produce({
      kind: "video",
      rtpParameters: {
        codecs: [
          {
            mimeType: "video/VP8",
            payloadType: VP8_PAYLOAD_TYPE,
            clockRate: 90_000,
            rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }, { type: "ccm", parameter: "fir" }],
          },
        ],
        encodings: [{ ssrc }],
      },
    });
    return new PlainForwarder(router, t, producer, sinkPort);
  }

  /** Adds consumers until there are `total`; created paused and resumed, as the node's rooms do. */
  async growTo(total: number): Promise<void> {
    while (this.consumers.length < total) {
      const t = await this.router.createPlainTransport({ listenInfo: LOOPBACK, rtcpMux: true, comedia: false });
      await t.connect({ ip: "127.0.0.1", port: this.sinkPort });
      const c = await t.consume({
        producerId: this.producer.id,
        rtpCapabilities: this.router.rtpCapabilities,
        paused: true,
      });
      await c.resume();
      this.transports.push(t);
      this.consumers.push(c);
    }
  }

  close(): void {
    for (const t of this.transports) t.close();
  }
}

/** The worker's CPU time so far (user + system, ms), from its own getrusage. */
export async function workerCpuMs(worker: types.Worker): Promise<number> {
  const u = await worker.getResourceUsage();
  return u.ru_utime + u.ru_stime;
}
