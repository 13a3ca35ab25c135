// Messages published on a node's inbox channel (keys.nodeBus(id)). The control plane sends
// `room.delete`; the signaling bridge shares the channel with its own envelopes (tagged
// {t:"bridge"}, media-node/src/bridge/envelope.ts) and hands everything else here. Receivers ignore
// types they do not know (forward compatibility), so parse with `parseBusMessage` and skip
// `undefined`.
import { z } from "zod";
import { RoomName } from "./limits.ts";

export const RoomDeleteMessage = z.object({ type: z.literal("room.delete"), room: RoomName });

export const NodeBusMessage = z.discriminatedUnion("type", [RoomDeleteMessage]);
export type NodeBusMessage = z.infer<typeof NodeBusMessage>;

/** `msg`: the raw channel message, or an object already JSON-parsed (the bridge endpoint does). */
export function parseBusMessage(msg: string | Record<string, unknown>): NodeBusMessage | undefined {
  try {
    const r = NodeBusMessage.safeParse(typeof msg === "string" ? JSON.parse(msg) : msg);
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}
