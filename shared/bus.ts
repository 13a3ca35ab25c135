// Messages published on a node's inbox channel (keys.nodeBus(id)). The control plane sends
// `room.delete`; the signaling bridge will add its own types. Receivers ignore types they do not
// know (forward compatibility), so parse with `parseBusMessage` and skip `undefined`.
import { z } from "zod";

export const RoomDeleteMessage = z.object({ type: z.literal("room.delete"), room: z.string().min(1).max(256) });

export const NodeBusMessage = z.discriminatedUnion("type", [RoomDeleteMessage]);
export type NodeBusMessage = z.infer<typeof NodeBusMessage>;

export function parseBusMessage(raw: string): NodeBusMessage | undefined {
  try {
    const r = NodeBusMessage.safeParse(JSON.parse(raw));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}
