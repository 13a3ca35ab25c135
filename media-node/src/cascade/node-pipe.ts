// One mediasoup PipeTransport from a room's router on this node toward the same room's router on a
// peer node (cascade). UDP, SRTP on (AEAD_AES_256_GCM: the only suite pipe transports take), RTX on
// so the far side can repair losses, SCTP on for data producers. Each side creates its transport,
// they swap endpoints (PipeEndpoint) and connect once; then the source side `offer`s a producer
// (a pipe consumer, once per producer: a track crosses a node pair once) and the far side
// `accept`s the offer (a pipe producer its subscribers consume). Data producers cross the same way
// (`offerData` / `acceptData`: a pipe data consumer and a data producer on the pipe's SCTP
// association, with the publisher's stream parameters, so a lossy channel stays lossy). Unlike
// pipeToRouter inside one host, nothing links the two ends: the caller relays pause/resume/close
// between the nodes.
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

/** A data producer offered across the pipe: the far side produces it on the pipe's SCTP
 * association with the publisher's stream parameters (ordered/reliable, or lossy). */
export const PipeDataOffer = z.object({
  producerId: z.string().min(1).max(64),
  kind: z.literal("data"),
  sctpStreamParameters: z.object({
    streamId: z.number().int().min(0).max(65534),
    ordered: z.boolean(),
    maxPacketLifeTime: z.number().int().min(0).max(65535).optional(),
    maxRetransmits: z.number().int().min(0).max(65535).optional(),
  }),
  // As the signaling protocol bounds them (produceData).
  label: z.string().max(256),
  protocol: z.string().max(256),
});
export type PipeDataOffer = z.infer<typeof PipeDataOffer>;

/** Largest data message a pipe carries: what a participant's transport takes (mediasoup's
 * WebRtcTransport default, announced to clients as their SCTP max-message-size), so every message
 * a publisher may send fits, and nothing larger is taken from a peer. */
export const PIPE_MAX_DATA_MESSAGE_BYTES = 262_144;
/** Data bytes a pipe queues toward its peer, all of the room's piped data tracks together; per
 * track at most a quarter, so one busy channel cannot starve the others. A message that does not
 * fit is dropped by the worker (counted: `onDataDropped`) — data outrunning the node pair's SCTP
 * congestion window is shed here, not buffered without bound. */
export const PIPE_SCTP_SEND_BUFFER_BYTES = 2_000_000;
const PIPE_SCTP_STREAM_QUEUE_BYTES = PIPE_SCTP_SEND_BUFFER_BYTES / 4;

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
  /** Pipe data consumers by source data producer id. */
  private readonly offeredData = new Map<string, Promise<{ consumer: types.DataConsumer; offer: PipeDataOffer }>>();
  /** The peer's data producers produced here (acceptData), while open. */
  private readonly acceptedData = new Set<types.DataProducer>();
  private readonly onDataDropped: () => void;
  private connected = false;

  private constructor(transport: types.PipeTransport, onDataDropped: () => void) {
    this.transport = transport;
    this.onDataDropped = onDataDropped;
  }

  /** `onDataDropped`: a data message this side could not queue toward the peer (send buffer full). */
  static async create(router: types.Router, o: NodePipeOptions, onDataDropped = () => {}): Promise<NodePipe> {
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
      maxSendMessageSize: PIPE_MAX_DATA_MESSAGE_BYTES,
      maxReceiveMessageSize: PIPE_MAX_DATA_MESSAGE_BYTES,
      sctpSendBufferSize: PIPE_SCTP_SEND_BUFFER_BYTES,
      sctpPerStreamSendQueueLimit: PIPE_SCTP_STREAM_QUEUE_BYTES,
    });
    return new NodePipe(transport, onDataDropped);
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
    return once(this.offered, producerId, () => this.consume(producerId));
  }

  /** Offers a data producer of this side's router to the peer: one pipe data consumer per producer. */
  async offerData(dataProducerId: string): Promise<PipeDataOffer> {
    return (await once(this.offeredData, dataProducerId, () => this.consumeData(dataProducerId))).offer;
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

  private async consumeData(dataProducerId: string): Promise<{ consumer: types.DataConsumer; offer: PipeDataOffer }> {
    const consumer = await this.transport.consumeData({ dataProducerId });
    consumer.observer.once("close", () => this.offeredData.delete(dataProducerId));
    consumer.on("sctpsendbufferfull", this.onDataDropped);
    const offer = PipeDataOffer.parse({
      producerId: dataProducerId,
      kind: "data",
      sctpStreamParameters: consumer.sctpStreamParameters,
      label: consumer.label,
      protocol: consumer.protocol,
    });
    return { consumer, offer };
  }

  /** Produces the peer's data offer on this side (the copy keeps the source id). */
  async acceptData(offer: PipeDataOffer): Promise<types.DataProducer> {
    const producer = await this.transport.produceData({
      id: offer.producerId,
      sctpStreamParameters: offer.sctpStreamParameters,
      label: offer.label,
      protocol: offer.protocol,
    });
    this.acceptedData.add(producer);
    producer.observer.once("close", () => this.acceptedData.delete(producer));
    return producer;
  }

  /** Data messages sent to the peer and received from it on the pipe's open data tracks. */
  async dataMessages(): Promise<{ sent: number; received: number }> {
    const consumers = (await Promise.allSettled(this.offeredData.values())).flatMap((r) =>
      r.status === "fulfilled" && !r.value.consumer.closed ? [r.value.consumer] : [],
    );
    const sent = consumers.map(async (c) => (await c.getStats().catch(() => []))[0]?.messagesSent ?? 0);
    const received = [...this.acceptedData].map(
      async (p) => (await p.getStats().catch(() => []))[0]?.messagesReceived ?? 0,
    );
    const sum = async (ns: Promise<number>[]) => (await Promise.all(ns)).reduce((a, b) => a + b, 0);
    return { sent: await sum(sent), received: await sum(received) };
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

/** The value of `key`, made by `make` on first use and shared while it is pending or held; a
 * failed one is forgotten, so the next call tries again. */
function once<T>(cache: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  let p = cache.get(key);
  if (!p) {
    p = make();
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}
