// What a page shows of a call — the other participants as tiles (tiles.ts) and the connection's
// status (signal node, hosting node) through rejoins — for the node's demo page and the local
// cluster's dev app page. Nothing happens on import; the DOM is touched only through what is
// handed in.
import type { MeridianClient } from "./meridian-client.ts";
import { Tiles } from "./tiles.ts";

/** The part of a page's `window.meridian` state the call view keeps (tests read it). */
export interface CallState {
  /** The client now answering for the page: a replacement after each rejoin. */
  client: MeridianClient | undefined;
  /** performance.now() when the first remote video frame was shown. */
  firstFrameAt: number | undefined;
  errors: string[];
  /** The room's active speaker as last notified, and the notifications so far (tests read them). */
  activeSpeaker?: string;
  activeSpeakers?: string[];
}

export interface CallView {
  state: CallState;
  /** Where the other participants' tiles go. */
  remote: HTMLElement;
  /** The page's status line. */
  status(text: string): void;
  /** How the page rejoins, for the status line ("through the launcher"). */
  rejoinWith: string;
}

/** The status line's account of where a client is: the node its signaling goes through and the
 * node hosting the room (the same node, or two when the join was bridged). */
export function describeRoute(joined: Pick<MeridianClient["joined"], "node" | "signalNode">): string {
  const host = `${joined.node.id} (${joined.node.region})`;
  if (!joined.signalNode) return `host ${host}`; // a node from before the join answer named it
  return joined.signalNode === joined.node.id
    ? `signal node and host ${host}`
    : `signal node ${joined.signalNode} → host ${host} (bridged)`;
}

/** The status line once joined. */
export const joinedStatus = (c: MeridianClient, verb = "joined"): string =>
  `${verb} ${c.joined.room} as ${c.joined.participant.identity} · ${describeRoute(c.joined)}`;

/** Shows `client`'s call on the page and keeps it current across rejoins. Once per page, not per
 * client: a client hands its listeners to its replacement. */
export function showCall(client: MeridianClient, view: CallView): void {
  const { state, status } = view;
  const tiles = new Tiles(view.remote, () => (state.firstFrameAt ??= performance.now()));
  // A replacement subscribes before it inherits the listeners: start from what it holds.
  const follow = (c: MeridianClient) => {
    state.client = c;
    tiles.views = c.views;
    tiles.clear();
    for (const p of c.joined.participants) tiles.participant(p.identity);
    for (const r of c.remoteTracks) tiles.addTrack(r);
    for (const [identity, q] of c.quality) tiles.setQuality(identity, q);
    state.activeSpeaker = c.activeSpeaker;
    if (c.activeSpeaker) tiles.setSpeaking(c.activeSpeaker);
  };
  follow(client);
  client.on("participantJoined", (p) => tiles.participant(p.identity));
  client.on("participantLeft", ({ identity }) => tiles.removeParticipant(identity));
  client.on("trackSubscribed", (r) => tiles.addTrack(r));
  client.on("trackUnsubscribed", ({ trackId }) => tiles.removeTrack(trackId));
  client.on("trackMuted", ({ trackId, muted }) => tiles.setMuted(trackId, muted));
  client.on("activeSpeaker", ({ identity }) => {
    state.activeSpeaker = identity;
    state.activeSpeakers ??= [];
    if (state.activeSpeakers.length < 1000) state.activeSpeakers.push(identity);
    tiles.setSpeaking(identity);
  });
  client.on("connectionQuality", (updates) => {
    for (const u of updates) tiles.setQuality(u.identity, u.quality);
  });
  client.on("disconnected", ({ code, reason }) => status(`disconnected (${code} ${reason})`));
  client.on("reconnect", () => status(`node asked to reconnect; rejoining ${view.rejoinWith}…`));
  client.on("reconnected", (next) => {
    follow(next);
    status(joinedStatus(next, "rejoined"));
  });
  client.on("reconnectFailed", ({ error }) => {
    state.errors.push(error);
    status(`rejoin failed: ${error}`);
  });
}
