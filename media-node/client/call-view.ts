// What a page shows of a call — remote tracks as tiles (a media element and a "who · kind" label)
// and the connection's status through rejoins — for the node's demo page and the local cluster's
// dev app page. Nothing happens on import; the DOM is touched only through what is handed in.
import type { MeridianClient, RemoteTrack } from "./meridian-client.ts";

/** The part of a page's `window.meridian` state the call view keeps (tests read it). */
export interface CallState {
  /** The client now answering for the page: a replacement after each rejoin. */
  client: MeridianClient | undefined;
  /** performance.now() when the first remote video frame was shown. */
  firstFrameAt: number | undefined;
  errors: string[];
}

export interface CallView {
  state: CallState;
  /** Where remote tiles go. */
  remote: HTMLElement;
  /** The page's status line. */
  status(text: string): void;
  /** How the page rejoins, for the status line ("through the launcher"). */
  rejoinWith: string;
}

const tileId = (trackId: string) => `tile-${trackId}`;

/** A tile for one remote track. Video is muted (autoplay policy): audio plays from its own element. */
export function remoteTile(doc: Document, r: RemoteTrack, onFirstVideoFrame?: () => void): HTMLElement {
  const tile = doc.createElement("div");
  tile.className = "tile";
  tile.id = tileId(r.trackId);
  const el = doc.createElement(r.kind);
  el.autoplay = true;
  el.srcObject = new MediaStream([r.track]);
  if (el instanceof HTMLVideoElement) {
    el.muted = true;
    el.playsInline = true;
    if (onFirstVideoFrame) el.requestVideoFrameCallback(() => onFirstVideoFrame());
  }
  const label = doc.createElement("span");
  label.textContent = `${r.identity} · ${r.kind}`;
  tile.append(el, label);
  return tile;
}

/** Shows `client`'s call on the page and keeps it current across rejoins. Once per page, not per
 * client: a client hands its listeners to its replacement. */
export function showCall(client: MeridianClient, view: CallView): void {
  const { state, remote, status } = view;
  const doc = remote.ownerDocument;
  const tile = (r: RemoteTrack) => remoteTile(doc, r, () => (state.firstFrameAt ??= performance.now()));
  // A replacement subscribes before it inherits the listeners: start from the tracks it holds.
  const follow = (c: MeridianClient) => {
    state.client = c;
    remote.replaceChildren(...c.remoteTracks.map(tile));
  };
  follow(client);
  client.on("trackSubscribed", (r) => {
    doc.getElementById(tileId(r.trackId))?.remove();
    remote.append(tile(r));
  });
  client.on("trackUnsubscribed", ({ trackId }) => doc.getElementById(tileId(trackId))?.remove());
  client.on("disconnected", ({ code, reason }) => status(`disconnected (${code} ${reason})`));
  client.on("reconnect", () => status(`node asked to reconnect; rejoining ${view.rejoinWith}…`));
  client.on("reconnected", (next) => {
    follow(next);
    status(`rejoined ${next.joined.room} on ${next.joined.node.id}`);
  });
  client.on("reconnectFailed", ({ error }) => {
    state.errors.push(error);
    status(`rejoin failed: ${error}`);
  });
}
