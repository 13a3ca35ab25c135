// What the dashboard shows of a room, pure (no DOM; the tests import it): the shape the map draws
// (map.ts roomLines) and, for rooms that span nodes (cascade), one table row per serving node.
import type { z } from "@hono/zod-openapi";
import type { Room as RoomSchema } from "../src/schemas.ts";
import type { RoomShape } from "./map.ts";

type Room = z.infer<typeof RoomSchema>;
type MediaNode = Room["mediaNodes"][number];

/** Rows of the "rooms across nodes" table at most (a room spans at most 64 nodes: 1000 rows are
 * 15 such rooms, or 333 of three nodes). */
export const MAX_SPAN_ROWS = 1000;

/** The nodes serving the room's media, when more than one does (else empty). */
export function spanOf(r: Pick<Room, "mediaNodes">): readonly MediaNode[] {
  const m = r.mediaNodes ?? []; // a Worker from before cascade sends none
  return m.length > 1 ? m : [];
}

/** A room on one node: lines from the signal nodes bridged to its host. A room that spans nodes:
 * a line from each edge to the origin (its participants' media is on the edge, and the edge's
 * own signaling is not bridged); a node whose participants' signaling is relayed to one of the
 * serving nodes gets no line, as the listing does not say which one (the rooms table lists it). */
export function roomShape(r: Pick<Room, "name" | "node" | "signalNodes" | "mediaNodes">): RoomShape {
  const span = spanOf(r);
  if (span.length === 0) return { name: r.name, host: r.node, nodes: r.signalNodes };
  return {
    name: r.name,
    host: r.node,
    nodes: [],
    // a reserved node has no link yet: a row of the table, no line
    edges: span
      .filter((m) => m.role === "edge" && !m.reserved)
      .map((m) => ({ node: m.node, participants: m.participants })),
  };
}

export interface SpanRow {
  room: string;
  node: string;
  /** "edge (reserved)": named by a join, not serving the room yet. */
  role: string;
  region: string;
  participants: number;
  /** undefined: the node has not reported its pipes yet. */
  pipes: number | undefined;
  pipedIn: number | undefined;
}

/** One row per serving node of each room that spans nodes, the origin first, at most `max` rows;
 * `more` counts the rows left out. */
export function spanRows(rooms: readonly Room[], max = MAX_SPAN_ROWS): { rows: SpanRow[]; more: number } {
  const rows: SpanRow[] = [];
  let more = 0;
  for (const r of rooms) {
    const span = [...spanOf(r)].sort((a, b) => Number(b.node === r.node) - Number(a.node === r.node));
    for (const m of span) {
      if (rows.length >= max) {
        more++;
        continue;
      }
      rows.push({
        room: r.name,
        node: m.node,
        role: m.reserved ? `${m.role} (reserved)` : m.role,
        region: m.region,
        participants: m.participants,
        pipes: m.pipes,
        pipedIn: m.pipedIn,
      });
    }
  }
  return { rows, more };
}
