// The selection store: mirrors the synced traits, tells subscribers what changed, writes user actions back.

import { readMeta, variantInfo, variantKeys } from "./meta";
import { clampIndex } from "./layout";
import {
  COLOR_SCALES,
  type Handler,
  type Meta,
  PANELS,
  SELECTION_KEYS,
  type Selection,
  type SelectionKey,
  type VariantInfo,
  type WidgetModel,
} from "./types";

export type Changed = ReadonlySet<SelectionKey | "meta">;
export type Subscriber = (selection: Selection, changed: Changed) => void;

function readSelection(model: WidgetModel): Selection {
  const n = (k: string, d: number) => {
    const v = model.get(k);
    return typeof v === "number" && Number.isFinite(v) ? v : d;
  };
  const s = (k: string, d: string) => {
    const v = model.get(k);
    return typeof v === "string" ? v : d;
  };
  return {
    layer: n("layer", 0),
    head: n("head", 0),
    token: n("token", -1),
    variant: s("variant", "raw"),
    arcs_all_heads: model.get("arcs_all_heads") === true,
    stage: s("stage", ""),
    panels: panelList(model.get("panels")),
    color_scale: s("color_scale", "fixed"),
  };
}

/** Known panel names in display order, each once (the default view where the trait holds nothing usable). */
export function panelList(value: unknown): string[] {
  if (!Array.isArray(value)) return ["overview", "heatmap", "arcs"];
  return PANELS.filter((p) => value.includes(p));
}

function same(a: unknown, b: unknown): boolean {
  return Array.isArray(a) && Array.isArray(b) ? a.join("\u0000") === b.join("\u0000") : a === b;
}

export class SelectionStore {
  private current: Selection;
  private metaValue: Meta;
  private subscribers = new Set<Subscriber>();
  private handlers: Array<[string, Handler]> = [];
  private saveTimer: ReturnType<typeof setTimeout> | null = null;
  private ownTokenWrite = false;
  /** The token a click (or Python) chose; hovering shows others for a while, leaving returns here. */
  pinnedToken: number;

  constructor(
    private model: WidgetModel,
    private debounceMs = 60,
  ) {
    this.current = readSelection(model);
    this.metaValue = readMeta(model.get("meta"));
    this.pinnedToken = this.current.token;
    for (const key of SELECTION_KEYS) this.listen(`change:${key}`, () => this.pull(key));
    this.listen("change:meta", () => {
      this.metaValue = readMeta(model.get("meta"));
      this.emit(new Set(["meta"]));
    });
  }

  private listen(event: string, fn: Handler): void {
    this.model.on(event, fn);
    this.handlers.push([event, fn]);
  }

  private pull(key: SelectionKey): void {
    const next = readSelection(this.model);
    if (same(next[key], this.current[key])) return;
    this.current = { ...this.current, [key]: next[key] };
    if (key === "token" && !this.ownTokenWrite) this.pinnedToken = this.current.token;
    this.emit(new Set([key]));
  }

  private emit(changed: Changed): void {
    for (const fn of [...this.subscribers]) fn(this.current, changed);
  }

  get selection(): Selection {
    return this.current;
  }

  get meta(): Meta {
    return this.metaValue;
  }

  /** Labels and segments of the selected variant. */
  get variant(): VariantInfo {
    return variantInfo(this.metaValue, this.current.variant);
  }

  /** Whether the selected variant has one matrix per head (else one per layer, and the head is not used). */
  get perHead(): boolean {
    return this.variant.per_head;
  }

  /** The head whose matrix the views show: the selected head, or 0 (the only one) in a per-layer view. */
  get shownHead(): number {
    return this.variant.per_head ? this.current.head : 0;
  }

  /** Rows (= columns) of the selected variant's matrices. */
  get m(): number {
    return this.variant.labels.length;
  }

  subscribe(fn: Subscriber): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  /** Valid values only: indices clamped, unknown variants and stages dropped. */
  private validated(patch: Partial<Selection>): Partial<Selection> {
    const meta = this.metaValue;
    const out: Partial<Selection> = {};
    if (patch.layer !== undefined) out.layer = clampIndex(patch.layer, meta.n_layers);
    if (patch.head !== undefined) out.head = clampIndex(patch.head, meta.n_heads);
    if (patch.variant !== undefined && variantKeys(meta).includes(patch.variant)) out.variant = patch.variant;
    if (patch.token !== undefined) {
      const m = variantInfo(meta, out.variant ?? this.current.variant).labels.length;
      out.token = patch.token < 0 || m === 0 ? -1 : clampIndex(patch.token, m);
    }
    if (patch.arcs_all_heads !== undefined) out.arcs_all_heads = patch.arcs_all_heads;
    if (patch.stage !== undefined && meta.stages.some((s) => s.name === patch.stage)) out.stage = patch.stage;
    if (patch.panels !== undefined) out.panels = panelList(patch.panels);
    if (patch.color_scale !== undefined && (COLOR_SCALES as readonly string[]).includes(patch.color_scale)) {
      out.color_scale = patch.color_scale;
    }
    return out;
  }

  /** A user action: sets the changed traits and saves at once (a pending hover save rides along). */
  select(patch: Partial<Selection>): void {
    const valid = this.validated(patch);
    if (valid.variant !== undefined && valid.variant !== this.current.variant && valid.token === undefined) {
      valid.token = -1; // token indexes the variant's rows: start the new variant without one
    }
    if (valid.token !== undefined) this.pinnedToken = valid.token;
    // token before variant: -1 is valid for every variant, a row index maybe not for the old one
    const order: SelectionKey[] = ["token", "variant", "layer", "head", "arcs_all_heads", "stage", "panels", "color_scale"];
    let dirty = false;
    for (const key of order) {
      const value = valid[key];
      if (value === undefined || same(value, this.current[key])) continue;
      this.write(key, value);
      dirty = true;
    }
    if (dirty || this.saveTimer !== null) this.saveNow();
  }

  /** Hover: the token moves at once for every view; Python hears of it after `debounceMs` of calm. */
  hoverToken(token: number): void {
    const valid = this.validated({ token }).token;
    if (valid === undefined || valid === this.current.token) return;
    this.write("token", valid, true);
    if (this.saveTimer !== null) clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => this.saveNow(), this.debounceMs);
  }

  /** Shows or hides one panel (the `panels` trait, so Python and every view of the model agree). */
  togglePanel(panel: string, on: boolean): void {
    const now = this.current.panels;
    this.select({ panels: on ? [...now, panel] : now.filter((p) => p !== panel) });
  }

  /** Click on a row: pins it, or unpins when it is already the pinned one. */
  pinToken(token: number): void {
    this.select({ token: token === this.pinnedToken ? -1 : token });
  }

  /** Pointer left: back to the pinned token. */
  leaveToken(): void {
    this.hoverToken(this.pinnedToken);
  }

  private write(key: SelectionKey, value: unknown, hover = false): void {
    this.ownTokenWrite = hover;
    try {
      this.model.set(key, value);
    } finally {
      this.ownTokenWrite = false;
    }
  }

  private saveNow(): void {
    if (this.saveTimer !== null) clearTimeout(this.saveTimer);
    this.saveTimer = null;
    this.model.save_changes();
  }

  /** Stops listening; a hover still waiting to be saved is saved now rather than lost. */
  dispose(): void {
    if (this.saveTimer !== null) this.saveNow();
    for (const [event, fn] of this.handlers) this.model.off(event, fn);
    this.handlers = [];
    this.subscribers.clear();
  }
}
