// The demo page's own controls: mute/unmute the microphone, turn the camera off/on, share the
// screen (and stop). They act on whichever client now answers for the page (state.client), so
// they keep working across rejoins.
import type { CallState } from "./call-view.ts";
import type { TrackSource } from "#shared/protocol.ts";

export interface ControlElements {
  mic: HTMLElement;
  camera: HTMLElement;
  screen: HTMLElement;
  box: HTMLElement;
  status(text: string): void;
}

export function wireControls(state: CallState, el: ControlElements): void {
  el.box.hidden = false;
  const toggle = async (source: TrackSource, button: HTMLElement, labels: [string, string]) => {
    const c = state.client;
    const t = c?.localTracks.find((x) => x.source === source);
    if (!c || !t) return el.status(`no ${source} published`);
    await c.setMuted(t.trackId, !t.paused);
    button.textContent = labels[t.paused ? 0 : 1]; // t was read before the toggle
    button.setAttribute("aria-pressed", String(!t.paused));
  };
  el.mic.addEventListener(
    "click",
    () =>
      void toggle("microphone", el.mic, ["Mute mic", "Unmute mic"]).catch((e: unknown) =>
        el.status(`mute failed: ${String(e)}`),
      ),
  );
  el.camera.addEventListener(
    "click",
    () =>
      void toggle("camera", el.camera, ["Turn camera off", "Turn camera on"]).catch((e: unknown) =>
        el.status(`camera failed: ${String(e)}`),
      ),
  );
  let screen: MediaStream | undefined;
  el.screen.addEventListener("click", () => {
    const c = state.client;
    if (!c) return;
    if (screen) {
      for (const t of screen.getTracks()) {
        t.stop();
        void c.unpublishTrack(t);
      }
      screen = undefined;
      el.screen.textContent = "Share screen";
      return;
    }
    c.publishScreen()
      .then((s) => {
        screen = s;
        el.screen.textContent = "Stop sharing";
      })
      .catch((e: unknown) => el.status(`screen share failed: ${String(e)}`));
  });
}
