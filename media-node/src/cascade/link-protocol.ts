// Messages of a cascade link: one reliable, ordered signaling-bridge session per (room, edge node)
// between the edge and the room's origin (the bridge gives the delivery guarantees: sequence
// numbers, acks, retransmission, peer liveness). Every frame is zod-validated; a frame that does
// not parse is dropped and counted, never thrown.
//
//   edge → origin   hello      its pipe endpoint and its participants (first frame)
//   origin → edge   welcome    the origin's pipe endpoint and every participant of the room it
//                              knows (its own and other edges'), not the edge's own
//   both ways       participants  more of them, after hello / welcome: a node's participants are
//                              announced in batches that each fit a bridge frame
//   both ways       joined / left / updated / published / unpublished / muted: participant and
//                              track changes; the origin forwards each to its other edges
//   both ways       want       "send me this track" (media or data): the holder answers with
//                              `offer` (its pipe consumer's parameters, or its pipe data consumer's
//                              SCTP stream) or `unavailable`; a track crosses a node pair once,
//                              however many subscribers the far node has
//   origin → edge   admin      a RoomService operation (shared/room-admin.ts) for the edge's own
//                              participants: one naming a participant the edge serves (with an id:
//                              the edge answers `adminReply`), or one for everyone (SendData,
//                              room metadata; no id)
//   edge → origin   adminReply the operation's outcome, as a room.rpc reply
//   origin → edge   duplicate  close your participant of this identity and sid: the identity
//                              connected on another node since (the origin decides which
//                              connection is the newer: the one it heard of last)
import { z } from "zod";
import { ParticipantInfo, TrackInfo } from "#shared/protocol.ts";
import { RoomOp, RoomRpcReply } from "#shared/room-admin.ts";
import { defaultBridgeOptions } from "../bridge/options.ts";
import { PipeDataOffer, PipeEndpoint, PipeOffer } from "./node-pipe.ts";

/** Most participants one message may carry (welcome): a bound on what a peer can make us hold. */
export const MAX_LINK_PARTICIPANTS = 5_000;
/** Largest link message: a bridge frame (a larger send would close the link). */
export const MAX_LINK_FRAME_BYTES = defaultBridgeOptions.maxFrameBytes;
/** Room left in a frame for the rest of a message around its participant list (hello: room name
 * and pipe endpoint). */
const FRAME_OVERHEAD_BYTES = 2_048;
const Identity = z.string().min(1).max(256);
const TrackId = z.string().min(1).max(64);
const AdminId = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const LinkMessage = z.discriminatedUnion("t", [
  z.object({
    t: z.literal("hello"),
    room: z.string().min(1).max(256),
    endpoint: PipeEndpoint,
    participants: z.array(ParticipantInfo).max(MAX_LINK_PARTICIPANTS),
  }),
  z.object({
    t: z.literal("welcome"),
    endpoint: PipeEndpoint,
    participants: z.array(ParticipantInfo).max(MAX_LINK_PARTICIPANTS),
  }),
  z.object({ t: z.literal("participants"), participants: z.array(ParticipantInfo).max(MAX_LINK_PARTICIPANTS) }),
  z.object({ t: z.literal("joined"), participant: ParticipantInfo }),
  z.object({ t: z.literal("left"), identity: Identity }),
  z.object({ t: z.literal("updated"), participant: ParticipantInfo }),
  z.object({ t: z.literal("published"), identity: Identity, track: TrackInfo }),
  z.object({ t: z.literal("unpublished"), identity: Identity, trackId: TrackId }),
  z.object({ t: z.literal("muted"), identity: Identity, trackId: TrackId, muted: z.boolean() }),
  z.object({ t: z.literal("want"), trackId: TrackId }),
  z.object({ t: z.literal("offer"), trackId: TrackId, offer: z.union([PipeOffer, PipeDataOffer]) }),
  z.object({ t: z.literal("unavailable"), trackId: TrackId }),
  z.object({ t: z.literal("admin"), id: AdminId.optional(), op: RoomOp }),
  z.object({ t: z.literal("adminReply"), id: AdminId, reply: RoomRpcReply }),
  z.object({ t: z.literal("duplicate"), identity: Identity, sid: z.string().min(1).max(64) }),
]);
export type LinkMessage = z.infer<typeof LinkMessage>;

/** The frame as a message, or undefined when it is not one (garbage, wrong shape, too large). */
export function parseLinkMessage(frame: string): LinkMessage | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(frame);
  } catch {
    return undefined;
  }
  const r = LinkMessage.safeParse(raw);
  return r.success ? r.data : undefined;
}

/** Participants in batches whose messages each fit a link frame (at least one batch, maybe empty;
 * a participant too large for any frame is a batch of its own, which the link then refuses). */
export function participantBatches(infos: readonly ParticipantInfo[]): ParticipantInfo[][] {
  const budget = MAX_LINK_FRAME_BYTES - FRAME_OVERHEAD_BYTES;
  const batches: ParticipantInfo[][] = [[]];
  let bytes = 0;
  for (const p of infos) {
    const size = Buffer.byteLength(JSON.stringify(p)) + 1;
    const last = batches[batches.length - 1]!;
    if (last.length > 0 && (bytes + size > budget || last.length >= MAX_LINK_PARTICIPANTS)) {
      batches.push([p]);
      bytes = size;
    } else {
      last.push(p);
      bytes += size;
    }
  }
  return batches;
}

/** What the edge opens its link with (the bridge session's init query). */
export const CASCADE_QUERY = "cascade";
