// One mediasoup PipeTransport from a room's router on this node toward the same room's router on a
// peer node (cascade). UDP, SRTP on (AEAD_AES_256_GCM: the only suite pipe transports take), RTX on
// so the far side can repair losses, SCTP on for data producers. Each side creates its transport,
// they swap endpoints (PipeEndpoint) and connect once; then the source side `offer`s a producer
// (a pipe consumer, once per producer: a track crosses a node pair once) and the far side
// `accept`s the offer (a pipe producer its subscribers consume). Unlike pipeToRouter inside one
// host, nothing links the two ends: the caller relays pause/resume/close between the nodes.
import type { types } from "mediasoup";
import { z } from "zod";

/** Where a peer reaches this side of the pipe: an IP literal, a port, and this side's SRTP key. */
export const PipeEndpoint = z.object({
  ip: z.union([z.ipv4(), z.ipv6()]),
  port: z.number().int().min(1).max(65535),
  srtpParameters: z.object({
    cryptoSuite: z.literal("AEAD_AES_256_GCM"),
    keyBase64: z
      .string()
      .length(60)
      .regex(/^[A-Za-z0-9+/=]+$/),
  }),
});
export type PipeEndpoint = z.infer<typeof PipeEndpoint>;

/** A producer offered across the pipe: the far side produces it with these parameters. */
export const PipeOffer = z.object({
  /** The source producer's id (the far copy keeps it: one copy per producer and node pair). */
  producerId: z.string().min(1).max(64),
  kind: z.enum(["audio", "video"]),
  rtpParameters: z.looseObject({
    codecs: z.array(z.looseObject({})).min(1).max(16),
    encodings: z.array(z.looseObject({})).min(1).max(8),
  }),
  paused: z.boolean(),
});
export type PipeOffer = z.infer<typeof PipeOffer>;

export interface NodePipeOptions {
  /** Bind address, and the address the peer should send to (an IP literal: pipes do no DNS). */
  listenIp: string;
  announcedAddress?: string;
  /** Ports this node's pipes may bind (one per pipe transport). */
  portRange?: { min: number; max: number };
}

export class NodePipe {
  readonly transport: types.PipeTransport;
  /** Pipe consumers by source producer id (this side offers). */
  private readonly offered = new Map<string, Promise<{ consumer: types.Consumer; offer: PipeOffer }>>();
  private connected = false;

  private constructor(transport: types.PipeTransport) {
    this.transport = transport;
  }

  static async create(router: types.Router, o: NodePipeOptions): Promise<NodePipe> {
    const transport = await router.createPipeTransport({
      listenInfo: {
        protocol: "udp",
        ip: o.listenIp,
        ...(o.announcedAddress ? { announcedAddress: o.announcedAddress } : {}),
        ...(o.portRange ? { portRange: o.portRange } : {}),
      },
      enableSrtp: true,
      enableRtx: true,
      enableSctp: true,
    });
    return new NodePipe(transport);
  }

  /** What the peer needs to connect to this side. */
  get local(): PipeEndpoint {
    const t = this.transport;
    return PipeEndpoint.parse({ ip: t.tuple.localAddress, port: t.tuple.localPort, srtpParameters: t.srtpParameters });
  }

  /** Connects to the peer's side (once: mediasoup refuses a second connect). */
  async connect(remote: PipeEndpoint): Promise<void> {
    if (this.connected) throw new Error("pipe already connected");
    this.connected = true;
    await this.transport.connect(remote);
  }

  /** Offers a producer of this side's router to the peer: one pipe consumer per producer. */
  async offer(producerId: string): Promise<PipeOffer> {
    return (await this.pipeConsumer(producerId)).offer;
  }

  /** The pipe consumer carrying a producer to the peer (made on first use, kept until it closes). */
  pipeConsumer(producerId: string): Promise<{ consumer: types.Consumer; offer: PipeOffer }> {
    let o = this.offered.get(producerId);
    if (!o) {
      o = this.consume(producerId);
      this.offered.set(producerId, o);
      o.catch(() => this.offered.delete(producerId));
    }
    return o;
  }

  private async consume(producerId: string): Promise<{ consumer: types.Consumer; offer: PipeOffer }> {
    const consumer = await this.transport.consume({ producerId });
    consumer.observer.once("close", () => this.offered.delete(producerId));
    const offer: PipeOffer = {
      producerId,
      kind: consumer.kind,
      rtpParameters: consumer.rtpParameters as unknown as PipeOffer["rtpParameters"],
      paused: consumer.producerPaused,
    };
    return { consumer, offer };
  }

  /** Produces the peer's offer on this side (the copy keeps the source id). */
  async accept(offer: PipeOffer): Promise<types.Producer> {
    return this.transport.produce({
      id: offer.producerId,
      kind: offer.kind,
      rtpParameters: offer.rtpParameters as unknown as types.RtpParameters,
      paused: offer.paused,
    });
  }

  /** Bytes sent and received on the pipe so far (SRTP payload + headers, from the worker). */
  async bytes(): Promise<{ sent: number; received: number }> {
    const [s] = await this.transport.getStats();
    return { sent: s?.bytesSent ?? 0, received: s?.bytesReceived ?? 0 };
  }

  close(): void {
    this.transport.close();
  }
}
