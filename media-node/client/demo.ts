// The demo page's script (bundled as /client.js): join a room with a media token, publish
// camera + mic, show everyone else, rejoin when the node asks or the connection drops.
// URL: /demo[?url=ws://…/rtc][&publish=0|audio][&data=1][&simulcast=0][&dynacast=0][&codec=h264|vp9]#token=… — the
// token goes in the fragment, which browsers never send to a server (a query would end up in
// proxies' logs); publish=audio: microphone only; simulcast=0: one camera encoding; dynacast=0:
// every encoding stays on whatever the node says; codec: the camera's video codec (default vp8); relay=1: media only through the node's TURN servers.
// State is on `window.meridian` so tests can drive and inspect the page.
import { MeridianClient } from "./meridian-client.ts";
import type { VideoCodec } from "./simulcast.ts";
import { joinedStatus, showCall, type CallState } from "./call-view.ts";
import { addTileStyles, showLocal } from "./tiles.ts";
import { wireControls } from "./controls.ts";

export interface DemoState extends CallState {
  joinStartedAt: number | undefined;
  joinedAt: number | undefined;
  /** performance.now() once camera + mic are published. */
  publishedAt: number | undefined;
  messages: { identity: string; data: string }[];
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
const fragment = new URLSearchParams(location.hash.slice(1));
const urlToken = fragment.get("token") ?? params.get("token");
const defaultUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/rtc`;

function status(text: string): void {
  $("status").textContent = text;
}

/** Once per page: the client hands its listeners to each replacement after a rejoin. */
function wire(client: MeridianClient): void {
  showCall(client, { state, remote: $("remote"), status, rejoinWith: "at the same URL" });
  client.on("data", ({ identity, data }) => {
    const text = typeof data === "string" ? data : new TextDecoder().decode(data);
    state.messages.push({ identity, data: text });
    const li = document.createElement("li");
    li.textContent = `${identity}: ${text}`;
    $("messages").append(li);
  });
}

async function join(url: string, token: string): Promise<void> {
  state.joinStartedAt = performance.now();
  status("joining…");
  // No control plane here to ask for a new node: rejoin the same URL with the same token. That
  // follows a restarted node, and in a cluster the node re-resolves a moved room (wrong node); it
  // fails once the token expires or the node stays away (the client's bounded retries).
  const client = await MeridianClient.connect({
    url,
    token,
    onReconnect: async () => ({ url, token }),
    dynacast: params.get("dynacast") !== "0",
    ...(params.get("relay") === "1" ? { iceTransportPolicy: "relay" as const } : {}),
  });
  state.joinedAt = performance.now();
  wire(client);
  status(joinedStatus(client));
  const publish = params.get("publish");
  const codec = videoCodecParam(params.get("codec"));
  if (publish !== "0" && client.joined.permissions.canPublish) {
    const local = await client.publishMedia({
      audio: true,
      video: publish !== "audio",
      simulcast: params.get("simulcast") !== "0",
      ...(codec ? { videoCodec: codec } : {}),
    });
    showLocal($<HTMLVideoElement>("local"), local, client.joined.participant.identity);
    state.publishedAt = performance.now();
  }
  if (client.joined.permissions.canPublish)
    wireControls(state, {
      mic: $("mute-mic"),
      camera: $("mute-camera"),
      screen: $("share-screen"),
      box: $("controls"),
      status,
    });
  if (params.get("data") === "1") {
    const dp = await client.publishData("chat");
    state.sendData = (text) => dp.send(text);
  }
}

/** The `codec` query parameter; anything else is refused rather than silently sent as VP8. */
function videoCodecParam(v: string | null): VideoCodec | undefined {
  if (v === null || v === "") return undefined;
  if (v === "vp8" || v === "h264" || v === "vp9") return v;
  throw new Error(`unknown codec ${v} (vp8, h264 or vp9)`);
}

function start(): void {
  addTileStyles(document);
  $<HTMLInputElement>("url").value = params.get("url") ?? defaultUrl;
  $<HTMLInputElement>("token").value = urlToken ?? "";
  const run = () =>
    join($<HTMLInputElement>("url").value, $<HTMLInputElement>("token").value).catch((e: unknown) => {
      state.errors.push(String(e));
      status(`error: ${String(e)}`);
    });
  $("join").addEventListener("click", () => void run());
  $("send").addEventListener("click", () => state.sendData?.($<HTMLInputElement>("text").value));
  if (urlToken) void run();
}

start();
