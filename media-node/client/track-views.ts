// Adaptive stream, the client's half: watches the elements subscribed video is shown in (size on
// screen, in view or not, page hidden or not) and reports each change to the node, which picks
// the layer and pauses what nobody sees. Reports are coalesced per track and sent only on change.
export interface TrackView {
  visible: boolean;
  /** Rendered size in device pixels (0: unknown). */
  width: number;
  height: number;
}

const REPORT_DELAY_MS = 100;

export class TrackViews {
  private readonly report: (trackId: string, view: TrackView) => void;
  private readonly elements = new Map<string, Element>();
  private readonly inView = new Map<Element, boolean>();
  private readonly sent = new Map<string, string>();
  private readonly pending = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private intersections: IntersectionObserver | undefined;
  private resizes: ResizeObserver | undefined;
  private readonly onVisibility = () => this.schedule(...this.elements.keys());

  constructor(report: (trackId: string, view: TrackView) => void) {
    this.report = report;
  }

  /** Reports `trackId` as shown in `el` from now on. */
  observe(trackId: string, el: Element): void {
    this.unobserve(trackId, false);
    this.start();
    this.elements.set(trackId, el);
    this.intersections!.observe(el);
    this.resizes!.observe(el);
    this.schedule(trackId);
  }

  /** `trackId` is subscribed but shown nowhere: hidden. */
  hide(trackId: string): void {
    this.unobserve(trackId, false);
    this.send(trackId, { visible: false, width: 0, height: 0 });
  }

  unobserve(trackId: string, forget = true): void {
    const el = this.elements.get(trackId);
    if (el) {
      this.intersections?.unobserve(el);
      this.resizes?.unobserve(el);
      this.inView.delete(el);
      this.elements.delete(trackId);
    }
    if (forget) this.sent.delete(trackId);
  }

  close(): void {
    clearTimeout(this.timer);
    this.intersections?.disconnect();
    this.resizes?.disconnect();
    if (typeof document !== "undefined") document.removeEventListener("visibilitychange", this.onVisibility);
    this.elements.clear();
  }

  private start(): void {
    if (this.intersections) return;
    this.intersections = new IntersectionObserver((entries) => {
      for (const e of entries) this.inView.set(e.target, e.isIntersecting);
      this.schedule(...this.idsOf(entries.map((e) => e.target)));
    });
    this.resizes = new ResizeObserver((entries) => this.schedule(...this.idsOf(entries.map((e) => e.target))));
    document.addEventListener("visibilitychange", this.onVisibility);
  }

  private idsOf(targets: Element[]): string[] {
    return [...this.elements].filter(([, el]) => targets.includes(el)).map(([id]) => id);
  }

  private schedule(...ids: string[]): void {
    for (const id of ids) this.pending.add(id);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      for (const id of this.pending) this.measure(id);
      this.pending.clear();
    }, REPORT_DELAY_MS);
  }

  private measure(trackId: string): void {
    const el = this.elements.get(trackId);
    if (!el) return;
    const box = el.getBoundingClientRect();
    const dpr = globalThis.devicePixelRatio || 1;
    const visible =
      document.visibilityState !== "hidden" && this.inView.get(el) !== false && box.width > 0 && box.height > 0;
    this.send(trackId, { visible, width: Math.round(box.width * dpr), height: Math.round(box.height * dpr) });
  }

  private send(trackId: string, view: TrackView): void {
    const key = `${view.visible}:${view.width}x${view.height}`;
    if (this.sent.get(trackId) === key) return;
    this.sent.set(trackId, key);
    this.report(trackId, view);
  }
}
