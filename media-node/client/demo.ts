// The demo page's script (bundled as /client.js): join a room with a media token, publish
// camera + mic, show everyone else. Query: ?token=…[&url=ws://…/rtc][&publish=0][&data=1].
// State is on `window.meridian` so tests can drive and inspect the page.
import { MeridianClient, type RemoteTrack } from "./meridian-client.ts";

export interface DemoState {
  client: MeridianClient | undefined;
  joinStartedAt: number | undefined;
  joinedAt: number | undefined;
  /** performance.now() once camera + mic are published. */
  publishedAt: number | undefined;
  /** performance.now() when the first remote video frame was shown. */
  firstFrameAt: number | undefined;
  messages: { identity: string; data: string }[];
  errors: string[];
  sendData: ((text: string) => void) | undefined;
}

const state: DemoState = {
  client: undefined,
  joinStartedAt: undefined,
  joinedAt: undefined,
  publishedAt: undefined,
  firstFrameAt: undefined,
  messages: [],
  errors: [],
  sendData: undefined,
};
(globalThis as unknown as { meridian: DemoState }).meridian = state;
(globalThis as unknown as { MeridianClient: typeof MeridianClient }).MeridianClient = MeridianClient;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const defaultUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/rtc`;

function status(text: string): void {
  $("status").textContent = text;
}

function showRemote(r: RemoteTrack): void {
  const tile = document.createElement("div");
  tile.className = "tile";
  tile.id = `tile-${r.trackId}`;
  const el = document.createElement(r.kind) as HTMLMediaElement;
  el.autoplay = true;
  el.srcObject = new MediaStream([r.track]);
  if (el instanceof HTMLVideoElement) {
    el.muted = true; // autoplay policy; audio plays from its own element
    el.playsInline = true;
    el.requestVideoFrameCallback(() => (state.firstFrameAt ??= performance.now()));
  }
  const label = document.createElement("span");
  label.textContent = `${r.identity} · ${r.kind}`;
  tile.append(el, label);
  $("remote").append(tile);
}

function wire(client: MeridianClient): void {
  state.client = client;
  client.on("trackSubscribed", showRemote);
  client.on("trackUnsubscribed", ({ trackId }) => document.getElementById(`tile-${trackId}`)?.remove());
  client.on("data", ({ identity, data }) => {
    const text = typeof data === "string" ? data : new TextDecoder().decode(data);
    state.messages.push({ identity, data: text });
    const li = document.createElement("li");
    li.textContent = `${identity}: ${text}`;
    $("messages").append(li);
  });
  client.on("disconnected", ({ code, reason }) => status(`disconnected (${code} ${reason})`));
  client.on("reconnected", wire);
}

async function join(url: string, token: string): Promise<void> {
  state.joinStartedAt = performance.now();
  status("joining…");
  const client = await MeridianClient.connect({ url, token });
  state.joinedAt = performance.now();
  wire(client);
  status(`joined ${client.joined.room} as ${client.joined.participant.identity} on ${client.joined.node.id}`);
  if (params.get("publish") !== "0" && client.joined.permissions.canPublish) {
    const local = await client.publishMedia();
    $<HTMLVideoElement>("local").srcObject = local;
    state.publishedAt = performance.now();
  }
  if (params.get("data") === "1") {
    const dp = await client.publishData("chat");
    state.sendData = (text) => dp.send(text);
  }
}

function start(): void {
  $<HTMLInputElement>("url").value = params.get("url") ?? defaultUrl;
  $<HTMLInputElement>("token").value = params.get("token") ?? "";
  const run = () =>
    join($<HTMLInputElement>("url").value, $<HTMLInputElement>("token").value).catch((e: unknown) => {
      state.errors.push(String(e));
      status(`error: ${String(e)}`);
    });
  $("join").addEventListener("click", () => void run());
  $("send").addEventListener("click", () => state.sendData?.($<HTMLInputElement>("text").value));
  if (params.get("token")) void run();
}

start();
