// The dev app page's script (bundled by server.ts as /app.js): asks the launcher (the "app
// server") to join a room from a chosen client location, connects with the media node's client
// (media-node/client/meridian-client.ts), and rejoins through the launcher when told to.
// State is on `window.meridian` in the demo page's shape, so test/support/browser.ts works here.
import { MeridianClient } from "../../../media-node/client/meridian-client.ts";
import { joinedStatus, showCall, type CallState } from "../../../media-node/client/call-view.ts";
import { addTileStyles, showLocal } from "../../../media-node/client/tiles.ts";

interface JoinAnswer {
  url: string;
  token: string;
  node: string;
  region: string;
  signalRegion: string;
}

const state: CallState & { joins: Omit<JoinAnswer, "token">[] } = {
  client: undefined,
  joins: [],
  firstFrameAt: undefined,
  errors: [],
};
(globalThis as unknown as { meridian: typeof state }).meridian = state;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = (text: string) => ($("status").textContent = text);

async function askJoin(failedNode?: string): Promise<JoinAnswer> {
  const body = {
    room: $<HTMLInputElement>("room").value,
    identity: $<HTMLInputElement>("identity").value,
    location: $<HTMLSelectElement>("location").value,
    ...(failedNode ? { failedNode } : {}),
  };
  const res = await fetch("/api/join", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = (await res.json()) as JoinAnswer & { error?: { message: string } };
  if (!res.ok) throw new Error(answer.error?.message ?? res.statusText);
  const { token: _token, ...shown } = answer;
  state.joins.push(shown);
  $("route").textContent =
    `signal: ${answer.url} (${answer.signalRegion}) → room hosted on ${answer.node} (${answer.region})`;
  return answer;
}

async function join(): Promise<void> {
  status("joining…");
  const first = await askJoin();
  const client = await MeridianClient.connect({
    url: first.url,
    token: first.token,
    onReconnect: async (_reason, hint) => {
      const next = await askJoin(hint.failedNode);
      return { url: next.url, token: next.token };
    },
  });
  showCall(client, { state, remote: $("remote"), status, rejoinWith: "through the launcher" });
  status(joinedStatus(client));
  if (client.joined.permissions.canPublish)
    showLocal($<HTMLVideoElement>("local"), await client.publishMedia(), client.joined.participant.identity);
}

addTileStyles(document);
$("identity").setAttribute("value", `guest-${Math.random().toString(36).slice(2, 6)}`);
$("join").addEventListener("click", () => {
  $<HTMLButtonElement>("join").disabled = true;
  join().catch((e: unknown) => {
    state.errors.push(String(e));
    status(`error: ${String(e)}`);
    $<HTMLButtonElement>("join").disabled = false;
  });
});
