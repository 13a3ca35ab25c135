// Participant tiles for the pages that show a call (the node's demo page, the dev app page): one
// tile per participant, all the same size — the video when there is one, else a placeholder with
// the participant's initial — with a name line saying what they send. Audio plays from hidden
// elements inside the tile. Nothing happens on import; the DOM is touched only through the
// Tiles instance a page creates. A tile is the place for per-participant controls and states
// (`data-identity` finds it; a class such as `speaking` can be set on it).
import type { RemoteTrack } from "./meridian-client.ts";

/** Tile styles, added once to a page's <head> (both pages share them). */
export const TILE_CSS = `
.tiles { display: flex; flex-wrap: wrap; gap: .5rem; margin-top: 1rem; }
.tile { display: flex; flex-direction: column; gap: .25rem; width: 320px; }
.tile .media { width: 320px; height: 180px; background: #000; border-radius: 4px; overflow: hidden; display: flex; align-items: center; justify-content: center; }
.tile video { width: 100%; height: 100%; object-fit: cover; }
.tile .avatar { width: 72px; height: 72px; border-radius: 50%; background: #2b4660; color: #cfe6ff; display: flex; align-items: center; justify-content: center; font: 600 32px system-ui, sans-serif; }
.tile .name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.tile.speaking .media { outline: 3px solid #3fb950; outline-offset: -3px; }
.tile .quality { font-size: .8em; color: #8b949e; margin-left: .4em; }
.tile .quality[data-quality="poor"], .tile .quality[data-quality="lost"] { color: #d29922; }

`;

const STYLE_ID = "meridian-tile-css";

export function addTileStyles(doc: Document): void {
  if (doc.getElementById(STYLE_ID)) return;
  const style = doc.createElement("style");
  style.id = STYLE_ID;
  style.textContent = TILE_CSS;
  doc.head.append(style);
}

/** What the name line says about a participant's tracks. */
export function describeKinds(kinds: readonly ("audio" | "video")[]): string {
  const has = (k: "audio" | "video") => kinds.includes(k);
  return has("audio") && has("video")
    ? "audio + video"
    : has("video")
      ? "video"
      : has("audio")
        ? "audio only"
        : "no media";
}

/** First letter (or symbol) of an identity, for the placeholder. */
export const initial = (identity: string): string => (Array.from(identity.trim())[0] ?? "?").toUpperCase();

/** The round placeholder with the participant's initial, for a tile without video. */
export function placeholder(doc: Document, identity: string): HTMLElement {
  const avatar = doc.createElement("div");
  avatar.className = "avatar";
  avatar.textContent = initial(identity);
  return avatar;
}

/** Fills the page's own tile (its `.media` box holds the #local video): the camera when the
 * stream has video, else the placeholder, like everyone else's tile. */
export function showLocal(video: HTMLVideoElement, stream: MediaStream, identity: string): void {
  if (stream.getVideoTracks().length > 0) {
    video.srcObject = stream;
    return;
  }
  video.hidden = true;
  video.parentElement?.querySelector(".avatar")?.remove();
  video.parentElement?.append(placeholder(video.ownerDocument, identity));
}

/** Where shown video is reported for adaptive stream (MeridianClient.views). */
export interface VideoViews {
  observe(trackId: string, el: Element): void;
  hide(trackId: string): void;
  unobserve(trackId: string): void;
}

interface Tile {
  el: HTMLElement;
  media: HTMLElement;
  name: HTMLElement;
  tracks: Map<string, RemoteTrack>;
  quality: string | undefined;
}

/** The remote participants' tiles inside `container`. */
export class Tiles {
  private readonly doc: Document;
  private readonly container: HTMLElement;
  private readonly onFirstVideoFrame: (() => void) | undefined;
  private readonly tiles = new Map<string, Tile>();
  /** Which participant a track belongs to, for removals that name only the track. */
  private readonly owner = new Map<string, string>();

  /** Set by the page's call view to the current client's views (adaptive stream). */
  views: VideoViews | undefined;

  constructor(container: HTMLElement, onFirstVideoFrame?: () => void) {
    this.doc = container.ownerDocument;
    this.container = container;
    this.onFirstVideoFrame = onFirstVideoFrame;
    addTileStyles(this.doc);
  }

  /** The tile of a participant, made if new (a participant who sends nothing yet gets one too). */
  participant(identity: string): HTMLElement {
    return this.tile(identity).el;
  }

  addTrack(r: RemoteTrack): void {
    const t = this.tile(r.identity);
    this.owner.set(r.trackId, r.identity);
    t.tracks.set(r.trackId, r);
    this.redraw(t, r.identity);
  }

  removeTrack(trackId: string): void {
    const identity = this.owner.get(trackId);
    const t = identity === undefined ? undefined : this.tiles.get(identity);
    this.owner.delete(trackId);
    if (!t?.tracks.delete(trackId)) return;
    this.views?.unobserve(trackId);
    this.redraw(t, identity!);
  }

  removeParticipant(identity: string): void {
    const t = this.tiles.get(identity);
    if (!t) return;
    for (const id of t.tracks.keys()) {
      this.owner.delete(id);
      this.views?.unobserve(id);
    }
    t.el.remove();
    this.tiles.delete(identity);
  }

  clear(): void {
    this.tiles.clear();
    this.owner.clear();
    this.container.replaceChildren();
  }

  private tile(identity: string): Tile {
    let t = this.tiles.get(identity);
    if (t) return t;
    const el = this.doc.createElement("div");
    el.className = "tile";
    el.dataset.identity = identity;
    const media = this.doc.createElement("div");
    media.className = "media";
    const name = this.doc.createElement("span");
    name.className = "name";
    el.append(media, name);
    t = { el, media, name, tracks: new Map(), quality: undefined };
    this.tiles.set(identity, t);
    this.container.append(el);
    this.redraw(t, identity);
    return t;
  }

  /** Shows the participant's newest video (or the placeholder) and plays every audio track. */
  private redraw(t: Tile, identity: string): void {
    const tracks = [...t.tracks.values()];
    const video = tracks.filter((r) => r.kind === "video").at(-1);
    const shown = t.media.firstElementChild as HTMLVideoElement | null;
    if (!video) {
      if (shown?.tagName !== "DIV") t.media.replaceChildren(placeholder(this.doc, identity));
    } else if (shown?.dataset.trackId !== video.trackId) {
      const v = this.doc.createElement("video");
      v.dataset.trackId = video.trackId;
      v.autoplay = true;
      v.muted = true; // autoplay policy: sound comes from the audio elements
      v.playsInline = true;
      v.srcObject = new MediaStream([video.track]);
      if (this.onFirstVideoFrame) v.requestVideoFrameCallback(() => this.onFirstVideoFrame?.());
      t.media.replaceChildren(v);
      this.views?.observe(video.trackId, v);
    }
    // Video the tile does not show (an older camera behind a screen share) is hidden: paused.
    for (const r of tracks) if (r.kind === "video" && r !== video) this.views?.hide(r.trackId);
    const audioIds = new Set(tracks.filter((r) => r.kind === "audio").map((r) => r.trackId));
    for (const a of [...t.el.querySelectorAll("audio")]) if (!audioIds.has(a.dataset.trackId ?? "")) a.remove();
    for (const r of tracks) {
      if (r.kind !== "audio" || t.el.querySelector(`audio[data-track-id="${CSS.escape(r.trackId)}"]`)) continue;
      const a = this.doc.createElement("audio");
      a.dataset.trackId = r.trackId;
      a.autoplay = true;
      a.hidden = true;
      a.srcObject = new MediaStream([r.track]);
      t.el.append(a);
    }
    const muted = tracks.filter((r) => r.muted).map((r) => (r.kind === "audio" ? "mic muted" : "camera off"));
    const sharing = tracks.some((r) => r.source === "screen_share") ? " · sharing screen" : "";
    t.name.textContent = `${identity} · ${describeKinds(tracks.map((r) => r.kind))}${sharing}${muted.length ? ` · ${muted.join(", ")}` : ""}`;
    t.el.dataset.muted = muted.join(",");
    if (t.quality) {
      const q = this.doc.createElement("span");
      q.className = "quality";
      q.dataset.quality = t.quality;
      q.textContent = t.quality;
      t.name.append(q);
    }
  }

  /** A remote track was muted or unmuted: the name line says so. */
  setMuted(trackId: string, muted: boolean): void {
    const identity = this.owner.get(trackId);
    const t = identity === undefined ? undefined : this.tiles.get(identity);
    const r = t?.tracks.get(trackId);
    if (!t || !r) return;
    r.muted = muted;
    this.redraw(t, identity!);
  }

  /** Highlights the active speaker's tile (and only it). */
  setSpeaking(identity: string): void {
    for (const [id, t] of this.tiles) t.el.classList.toggle("speaking", id === identity);
  }

  /** Shows a participant's connection quality on its name line. */
  setQuality(identity: string, quality: string): void {
    const t = this.tiles.get(identity);
    if (!t || t.quality === quality) return;
    t.quality = quality;
    t.el.dataset.quality = quality;
    this.redraw(t, identity);
  }
}
