// The hosting node's end of the control plane's RoomService calls: a room.rpc bus message
// (shared/room-admin.ts; authenticated by the bus, from the control plane only: media-node.ts) is
// applied to the room and answered by pushing the reply to keys.rpcReply(id), where the Worker is
// waiting in BLPOP. A request past its deadline (the caller gave up) or whose id was seen before is
// dropped, never applied.
import { ErrorCode } from "#shared/errors.ts";
import { ProtocolError } from "#shared/protocol.ts";
import type { RoomRpcMessage, RoomRpcReply } from "#shared/room-admin.ts";
import type { Logger } from "../log.ts";
import type { RoomManager } from "../rooms/room-manager.ts";

/** Request ids remembered against replays (each until its deadline). */
const MAX_SEEN = 10_000;

export interface RoomRpcOptions {
  rooms: RoomManager;
  /** Pushes the reply (RPUSH + PEXPIRE). */
  reply: (id: string, reply: RoomRpcReply) => Promise<void>;
  /** Resolves once the node's pending Redis writes (participant records) are done, so a listing
   * right after the reply shows the change. */
  flushed: () => Promise<void>;
  /** Counts outcomes: ok, or an error code, late, replay. */
  count: (op: string, result: string) => void;
  log: Logger;
}

export class RoomRpcServer {
  private readonly o: RoomRpcOptions;
  private readonly seen = new Map<string, number>();

  constructor(o: RoomRpcOptions) {
    this.o = o;
  }

  /** A room.rpc from a sender other than the control plane (authenticated, but not allowed). */
  refused(req: RoomRpcMessage): void {
    this.o.count(req.op.op, "refused");
  }

  async handle(req: RoomRpcMessage): Promise<void> {
    const now = Date.now();
    if (now > req.deadline) return this.o.count(req.op.op, "late");
    if (!this.remember(req.id, req.deadline, now)) return this.o.count(req.op.op, "replay");
    let reply: RoomRpcReply;
    try {
      reply = { ok: true, ...(await this.o.rooms.admin(req.room, req.op, req.deadline)) };
      await this.o.flushed();
    } catch (e) {
      const code = e instanceof ProtocolError ? e.code : ErrorCode.Internal;
      if (code === ErrorCode.Internal) this.o.log.error({ err: e, op: req.op.op }, "room.rpc failed");
      reply = {
        ok: false,
        code,
        message: code === ErrorCode.Internal ? "internal error" : (e as Error).message.slice(0, 1024),
      };
    }
    this.o.count(req.op.op, reply.ok ? "ok" : reply.code);
    try {
      await this.o.reply(req.id, reply);
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message, op: req.op.op }, "room.rpc reply not delivered (Redis)");
    }
  }

  private remember(id: string, deadline: number, now: number): boolean {
    if (this.seen.has(id)) return false;
    if (this.seen.size >= MAX_SEEN) for (const [k, d] of this.seen) if (d < now) this.seen.delete(k);
    if (this.seen.size >= MAX_SEEN) return false; // flooded with live ids: refuse rather than grow
    this.seen.set(id, deadline);
    return true;
  }
}
