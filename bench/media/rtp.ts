// Generated VP8-over-RTP video for the forwarding benchmark: a frame source that paces packets
// like a camera encoder (30 fps, ~5 packets per delta frame, keyframes on PLI and every few
// seconds), and a sink that counts the RTP packets consumers deliver. Loopback UDP only.
import { createSocket, type Socket } from "node:dgram";
import { readFileSync } from "node:fs";

export const VP8_PAYLOAD_TYPE = 101;
const RTP_HEADER_BYTES = 12;

export interface VideoProfile {
  fps: number;
  packetsPerFrame: number;
  packetsPerKeyframe: number;
  payloadBytes: number;
  keyframeEveryMs: number;
}

/** ~1.35 Mbit/s, ~150 packets/s: a 720p camera track. */
export const CAMERA_720P: VideoProfile = {
  fps: 30,
  packetsPerFrame: 5,
  packetsPerKeyframe: 15,
  payloadBytes: 1100,
  keyframeEveryMs: 3_000,
};

export function packetsPerSecond(p: VideoProfile): number {
  return p.fps * p.packetsPerFrame; // keyframes are rare enough to ignore here
}

/** One RTP packet carrying part of a VP8 frame. The first packet of a keyframe carries a real
 * VP8 keyframe header, so mediasoup's VP8 parser marks it as one (consumers wait for it). */
export function vp8Packet(o: {
  ssrc: number;
  seq: number;
  timestamp: number;
  first: boolean;
  last: boolean;
  keyframe: boolean;
  payloadBytes: number;
}): Buffer {
  const b = Buffer.alloc(RTP_HEADER_BYTES + o.payloadBytes);
  b[0] = 0x80;
  b[1] = (o.last ? 0x80 : 0) | VP8_PAYLOAD_TYPE;
  b.writeUInt16BE(o.seq & 0xffff, 2);
  b.writeUInt32BE(o.timestamp >>> 0, 4);
  b.writeUInt32BE(o.ssrc >>> 0, 8);
  // VP8 payload descriptor: S bit on the frame's first packet, partition 0, no extensions.
  b[12] = o.first ? 0x10 : 0x00;
  if (o.first) {
    // VP8 frame tag: P bit (0x01) clear = keyframe; show_frame set; then the keyframe start code
    // and a 1280x720 size.
    b[13] = o.keyframe ? 0x10 : 0x11;
    b[14] = 0x02;
    b[15] = 0x00;
    if (o.keyframe) {
      b.set([0x9d, 0x01, 0x2a], 16);
      b.writeUInt16LE(1280, 19);
      b.writeUInt16LE(720, 21);
    }
  }
  return b;
}

/** RTP (not RTCP) by the first byte and payload type (RTCP packet types are 200–206). */
export function isRtp(b: Buffer): boolean {
  if (b.length < RTP_HEADER_BYTES || (b[0]! & 0xc0) !== 0x80) return false;
  const pt = b[1]!;
  return pt < 200 || pt > 206;
}

/** Whether an RTCP compound packet asks for a keyframe (PLI: PT 206 FMT 1; FIR: PT 206 FMT 4). */
export function asksForKeyframe(b: Buffer): boolean {
  for (let off = 0; off + 4 <= b.length; ) {
    const fmt = b[off]! & 0x1f;
    const pt = b[off + 1]!;
    if (pt === 206 && (fmt === 1 || fmt === 4)) return true;
    off += (b.readUInt16BE(off + 2) + 1) * 4;
  }
  return false;
}

/** Sends the same generated video stream to every target port (one producer per target). */
export class VideoSource {
  private readonly socket: Socket = createSocket("udp4");
  private readonly targets: number[] = [];
  private readonly profile: VideoProfile;
  private readonly ssrc: number;
  private seq = 0;
  private frame = 0;
  private lastKeyframeAt = -Infinity;
  private keyframeWanted = true;
  private timer: NodeJS.Timeout | undefined;
  sent = 0;

  constructor(profile: VideoProfile, ssrc: number) {
    this.profile = profile;
    this.ssrc = ssrc;
    this.socket.on("message", (m) => {
      if (asksForKeyframe(m)) this.keyframeWanted = true;
    });
  }

  async start(targets: number[]): Promise<void> {
    this.targets.push(...targets);
    await new Promise<void>((resolve) => this.socket.bind(0, "127.0.0.1", resolve));
    this.timer = setInterval(() => this.sendFrame(), 1000 / this.profile.fps);
  }

  private sendFrame(): void {
    const now = Date.now();
    const keyframe = this.keyframeWanted || now - this.lastKeyframeAt >= this.profile.keyframeEveryMs;
    if (keyframe) {
      this.keyframeWanted = false;
      this.lastKeyframeAt = now;
    }
    const n = keyframe ? this.profile.packetsPerKeyframe : this.profile.packetsPerFrame;
    const timestamp = this.frame++ * (90_000 / this.profile.fps);
    for (let i = 0; i < n; i++) {
      const pkt = vp8Packet({
        ssrc: this.ssrc,
        seq: this.seq++,
        timestamp,
        first: i === 0,
        last: i === n - 1,
        keyframe,
        payloadBytes: this.profile.payloadBytes,
      });
      for (const port of this.targets) this.socket.send(pkt, port, "127.0.0.1");
      this.sent++;
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.socket.close();
  }
}

/** Packets the kernel dropped on the loopback UDP socket bound to `port` (receive buffer full),
 * from /proc/net/udp; 0 when the socket is not listed. */
export function kernelDrops(port: number): number {
  const hexPort = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  for (const line of readFileSync("/proc/net/udp", "utf8").split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[1]?.endsWith(hexPort)) return Number(cols[cols.length - 1]);
  }
  return 0;
}

/** Counts RTP packets arriving on one loopback port (every consumer of one side sends here).
 * When this process cannot read them all, the kernel's drop count for the socket makes up the
 * rest: those packets were delivered to the host, which is what the benchmark checks. */
export class RtpSink {
  private readonly socket: Socket = createSocket({ type: "udp4", recvBufferSize: 8 * 1024 * 1024 });
  private port = 0;
  private received = 0;

  async start(): Promise<number> {
    this.socket.on("message", (m) => {
      if (isRtp(m)) this.received++;
    });
    await new Promise<void>((resolve) => this.socket.bind(0, "127.0.0.1", resolve));
    this.port = this.socket.address().port;
    return this.port;
  }

  /** RTP packets read + packets the kernel dropped at this socket (the few RTCP among those
   * drops count too). */
  delivered(): number {
    return this.received + kernelDrops(this.port);
  }

  close(): void {
    this.socket.close();
  }
}
