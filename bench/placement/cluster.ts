// Discrete-event simulation of a media-node fleet under a room-creation burst. Nodes report stats
// every REPORT_INTERVAL_MS with their own phase; between reports selectors see the last report
// only. sysload is a Linux-style 1-minute load average (5 s ticks), so it lags the real load the
// way it does on a real host. CPU demand is modelled proportional to hosted participants
// (subscriptions capped by simulcast/pagination), so "load" below = participants hosted. A room
// lives on the node its placement chose unless the placer also places each participant (cascade
// spill-over: a room's participants may be hosted by several nodes).
import { REPORT_INTERVAL_MS } from "#shared/node.ts";
import { MinHeap } from "../lib/heap.ts";
import type { Rng } from "../lib/prng.ts";
import type { RoomSpec } from "./workload.ts";
import type { NodeSpec } from "./world.ts";

/** What a node's stats report says (copied at report time, then stale until the next one). */
export interface Snapshot {
  at: number;
  rooms: number;
  clients: number;
  tracksIn: number;
  tracksOut: number;
  loadAvg1: number;
  cpuLoad: number;
  bytesPerSec: number;
}

export interface NodeView {
  spec: NodeSpec;
  report: Snapshot;
  /** Participants hosted right now: the truth no real selector has (only the oracle reads it). */
  readonly clients: number;
}

export interface Placer {
  readonly name: string;
  /** Chooses a node id for a new room, seeing only the nodes' last reports. */
  place(room: RoomSpec, now: number, nodes: readonly NodeView[]): string | Promise<string>;
  /** A node just reported (Meridian carries its outstanding reservations forward here). */
  onReport(node: NodeView, now: number): void | Promise<void>;
  /** Optional: the node hosting one joining participant's media (default: the room's node).
   * `local(id)` = the room's participants on node `id` so far. */
  join?(room: RoomSpec, now: number, local: (nodeId: string) => number): string | Promise<string>;
  /** Optional: the room ended; `shares` = node id → its participants of the room. */
  ended?(room: RoomSpec, now: number, shares: ReadonlyMap<string, number>): void | Promise<void>;
}

export interface SimOptions {
  nodes: NodeSpec[];
  rooms: RoomSpec[];
  /** Cores of CPU one participant costs. */
  cpuPerClient: number;
  /** Per-node phases of the report and load-average clocks. */
  rng: Rng;
  sampleEveryMs: number;
  endMs: number;
}

export interface SimResult {
  /** Per sample: time and participants hosted per node (same order as options.nodes). */
  samples: { at: number; load: number[] }[];
  /** room id → node id */
  placement: Map<string, string>;
  /** Participants hosted on another node than their room's (cascade spill-over). */
  joinsElsewhere: number;
  /** Rooms whose participants were hosted by more than one node. */
  roomsSpanning: number;
}

const LOADAVG_TICK_MS = 5_000;
const LOADAVG_DECAY = Math.exp(-LOADAVG_TICK_MS / 60_000);
const BYTES_PER_TRACK = 60_000;

class SimNode implements NodeView {
  readonly spec: NodeSpec;
  readonly roomClients = new Map<string, number>();
  clients = 0;
  loadAvg = 0;
  report: Snapshot;

  constructor(spec: NodeSpec) {
    this.spec = spec;
    this.report = {
      at: -Infinity,
      rooms: 0,
      clients: 0,
      tracksIn: 0,
      tracksOut: 0,
      loadAvg1: 0,
      cpuLoad: 0,
      bytesPerSec: 0,
    };
  }

  demand(cpuPerClient: number): number {
    return this.clients * cpuPerClient;
  }

  snapshot(at: number, cpuPerClient: number, roomTotal: ReadonlyMap<string, number>): Snapshot {
    let tracksOut = 0;
    let tracksIn = 0;
    // audio + video published per participant, each subscribed by every other participant of the
    // room (a room spanning nodes: its other nodes' tracks come in once, over the pipe)
    for (const [room, n] of this.roomClients) {
      const total = Math.max(n, roomTotal.get(room) ?? n);
      tracksOut += 2 * n * Math.max(0, total - 1);
      tracksIn += 2 * total;
    }
    return {
      at,
      rooms: this.roomClients.size,
      clients: this.clients,
      tracksIn,
      tracksOut,
      loadAvg1: this.loadAvg,
      cpuLoad: Math.min(1, this.demand(cpuPerClient) / this.spec.numCpus),
      bytesPerSec: (tracksIn + tracksOut) * BYTES_PER_TRACK,
    };
  }
}

type Event =
  | { kind: "create"; room: RoomSpec }
  | { kind: "join"; room: RoomSpec; node: SimNode }
  | { kind: "end"; room: RoomSpec }
  | { kind: "report"; node: SimNode }
  | { kind: "tick"; node: SimNode }
  | { kind: "sample" };

export async function simulate(o: SimOptions, placer: Placer): Promise<SimResult> {
  const nodes = o.nodes.map((s) => new SimNode(s));
  const byId = new Map(nodes.map((n) => [n.spec.id, n]));
  const q = new MinHeap<Event>();
  // Start 10 s early so every node has reported (and is eligible) when the burst begins.
  const start = -10_000;
  for (const n of nodes) {
    q.push(start + o.rng() * REPORT_INTERVAL_MS, { kind: "report", node: n });
    q.push(start + o.rng() * LOADAVG_TICK_MS, { kind: "tick", node: n });
  }
  for (const room of o.rooms) q.push(room.createdAt, { kind: "create", room });
  for (let t = 0; t <= o.endMs; t += o.sampleEveryMs) q.push(t, { kind: "sample" });

  const samples: SimResult["samples"] = [];
  const placement = new Map<string, string>();
  /** room → node → participants hosted there; room → participants in all. */
  const shares = new Map<string, Map<SimNode, number>>();
  const roomTotal = new Map<string, number>();
  let joinsElsewhere = 0;
  let roomsSpanning = 0;
  while (q.size > 0) {
    const now = q.peekKey()!;
    if (now > o.endMs) break;
    const ev = q.pop()!;
    switch (ev.kind) {
      case "create": {
        const nodeId = await placer.place(ev.room, now, nodes);
        const node = byId.get(nodeId);
        if (!node) throw new Error(`${placer.name} placed ${ev.room.id} on unknown node ${nodeId}`);
        placement.set(ev.room.id, nodeId);
        node.roomClients.set(ev.room.id, 0);
        shares.set(ev.room.id, new Map([[node, 0]]));
        roomTotal.set(ev.room.id, 0);
        for (const off of ev.room.joinOffsets) q.push(now + off, { kind: "join", room: ev.room, node });
        q.push(now + ev.room.lifetimeMs, { kind: "end", room: ev.room });
        break;
      }
      case "join": {
        const share = shares.get(ev.room.id);
        if (!share) break; // room already over
        let node = ev.node;
        if (placer.join) {
          const id = await placer.join(ev.room, now, (nid) => byId.get(nid)?.roomClients.get(ev.room.id) ?? 0);
          const chosen = byId.get(id);
          if (!chosen) throw new Error(`${placer.name} put a participant of ${ev.room.id} on unknown node ${id}`);
          if (chosen !== ev.node) {
            joinsElsewhere++;
            if (!share.has(chosen) && share.size === 1) roomsSpanning++;
          }
          node = chosen;
        }
        share.set(node, (share.get(node) ?? 0) + 1);
        node.roomClients.set(ev.room.id, (node.roomClients.get(ev.room.id) ?? 0) + 1);
        roomTotal.set(ev.room.id, (roomTotal.get(ev.room.id) ?? 0) + 1);
        node.clients++;
        break;
      }
      case "end": {
        const share = shares.get(ev.room.id);
        if (!share) break;
        for (const [node, n] of share) {
          node.clients -= n;
          node.roomClients.delete(ev.room.id);
        }
        shares.delete(ev.room.id);
        roomTotal.delete(ev.room.id);
        await placer.ended?.(ev.room, now, new Map([...share].map(([node, n]) => [node.spec.id, n])));
        break;
      }
      case "report": {
        ev.node.report = ev.node.snapshot(now, o.cpuPerClient, roomTotal);
        await placer.onReport(ev.node, now);
        q.push(now + REPORT_INTERVAL_MS, ev);
        break;
      }
      case "tick": {
        ev.node.loadAvg = ev.node.loadAvg * LOADAVG_DECAY + ev.node.demand(o.cpuPerClient) * (1 - LOADAVG_DECAY);
        q.push(now + LOADAVG_TICK_MS, ev);
        break;
      }
      case "sample":
        samples.push({ at: now, load: nodes.map((n) => n.clients) });
        break;
    }
  }
  return { samples, placement, joinsElsewhere, roomsSpanning };
}
