// A comparison (transeasy_widget/compare.py, `tw.compare(a, b)`): the widget of a, with b's heatmap and the
// difference b − a beside a's, and the head statistics' deltas beside the overview. One selection drives all:
// b's and the difference's views are the ordinary views over a *side model*, which reads and writes the same
// traits and asks for its data with the same requests plus `analysis: "b" | "diff"` (docs/PROTOCOL.md).

import "./compare.css";
import { DataClient } from "./client";
import { fromBase64, inflate, toHalfBits } from "./codec";
import { colorBar } from "./colorbar";
import { firstPaintSource } from "./firstpaint";
import { Disposer, Frames, clear, context2d, h, localPoint } from "./dom";
import { OVERVIEW_ROW_LABELS, thinnedIndices } from "./layout";
import { type HeatmapView, mountHeatmap } from "./heatmap";
import { PackData, type Manifest } from "./pack";
import { fillFromFloat } from "./paint";
import type { Answer } from "./standalone";
import { SelectionStore } from "./store";
import type { Handler, WidgetModel } from "./types";
import { type View, type ViewContext, formatValue } from "./view";

export type Side = "b" | "diff";

export interface DiffVariant {
  labels: string[];
  /** The variant the difference is taken in (itself, or "reduced" where only the words line up); null: none. */
  shows: string | null;
  error?: string;
}

export interface StatDeltas {
  /** L×H values, layer-major; null where not finite (not computed) */
  a: Array<number | null>;
  b: Array<number | null>;
  delta: Array<number | null>;
  description: string;
}

export interface CompareInfo {
  names: [string, string];
  b: Record<string, unknown>;
  diff: Record<string, DiffVariant & Record<string, unknown>>;
  stats: Record<string, StatDeltas>;
}

/** meta.compare, or null for the widget of one analysis. */
export function compareInfo(meta: unknown): CompareInfo | null {
  const c = meta && typeof meta === "object" ? (meta as { compare?: unknown }).compare : undefined;
  if (!c || typeof c !== "object") return null;
  const o = c as Record<string, unknown>;
  const names = Array.isArray(o.names) ? o.names.map(String) : ["a", "b"];
  return {
    names: [names[0] ?? "a", names[1] ?? "b"],
    b: (o.b && typeof o.b === "object" ? o.b : {}) as Record<string, unknown>,
    diff: (o.diff && typeof o.diff === "object" ? o.diff : {}) as CompareInfo["diff"],
    stats: (o.stats && typeof o.stats === "object" ? o.stats : {}) as Record<string, StatDeltas>,
  };
}

/** The meta a side's views read: b's own, or a's with the difference's rows as each variant's labels. */
export function sideMeta(meta: Record<string, unknown>, info: CompareInfo, side: Side): Record<string, unknown> {
  if (side === "b") return { ...info.b, variants: info.b.variants };
  return { ...meta, variants: info.diff };
}

/**
 * A view of the model for one side: every trait but `meta` (the side's) and `_first_paint` (a's alone) is the
 * model's, so the selection is one; requests go out with `analysis: side`.
 */
export function sideModel(model: WidgetModel, side: Side): WidgetModel {
  let source: unknown = undefined;
  let derived: Record<string, unknown> = {};
  const meta = () => {
    const now = model.get("meta");
    if (now !== source) {
      source = now;
      const info = compareInfo(now);
      derived = info ? sideMeta(now as Record<string, unknown>, info, side) : {};
    }
    return derived;
  };
  // the token (a row) is shared only where this side's rows are a's: not where b's pieces or the difference's
  // words differ in number from a's rows (a row index would name another token there)
  const rows = (m: unknown, variant: unknown) =>
    ((m as { variants?: Record<string, { labels?: unknown[] }> }).variants?.[String(variant)]?.labels ?? []).length;
  const ownRows = () => rows(meta(), model.get("variant")) !== rows(model.get("meta"), model.get("variant"));
  const proxy: WidgetModel & { widget_manager?: unknown } = {
    get: (name) =>
      name === "meta" ? meta() : name === "_first_paint" ? undefined : name === "token" && ownRows() ? -1 : model.get(name),
    set: (name, value) => {
      if (name !== "token" || !ownRows()) model.set(name, value);
    },
    on: (event: string, fn: Handler) => model.on(event, fn),
    off: (event?: string | null, fn?: Handler | null) => model.off(event, fn),
    save_changes: () => model.save_changes(),
    send: (content, callbacks, buffers) =>
      model.send({ ...(content as Record<string, unknown>), analysis: side }, callbacks, buffers),
  };
  proxy.widget_manager = (model as { widget_manager?: unknown }).widget_manager;
  return proxy;
}

/** The caption of a's heatmap in a comparison; undefined for the widget of one analysis. */
export function captionA(model: WidgetModel): ((variant: string) => string) | undefined {
  return compareInfo(model.get("meta")) ? () => "a: Attention" : undefined;
}

/** The heatmap title of each side. */
function caption(info: CompareInfo, side: "a" | Side): (variant: string) => string {
  if (side !== "diff") return () => `${side}: Attention`;
  return (variant) => {
    const shows = info.diff[variant]?.shows;
    return shows && shows !== variant ? `b − a (words: the pieces differ in number)` : "b − a";
  };
}

// ------------------------------------------------------------------------------------------- head statistics

/** The overview's companion: a head statistic's delta b − a per layer and head, diverging around 0. */
function mountDeltas(ctx: ViewContext, info: CompareInfo): View & { setThumb(px: number): void } {
  const { store, tooltip, theme } = ctx;
  const bag = new Disposer();
  const frames = new Frames();
  const el = h("div", "tw-panel tw-deltas");
  const titleRow = h("div", "tw-titlerow");
  const title = h("div", "tw-title", "Heads · Δ (b − a)");
  const pick = h("select", "tw-deltas-stat");
  const names = Object.keys(info.stats);
  for (const name of names) {
    const option = h("option", undefined, name);
    option.value = name;
    option.title = info.stats[name]!.description;
    pick.appendChild(option);
  }
  const bar = colorBar(72);
  titleRow.append(title, pick, bar.el);
  // laid out as the overview (its label classes): heads along the top, layers down the side
  const body = h("div", "tw-ov-body");
  const colLabels = h("div", "tw-ov-collabels");
  const rowLabels = h("div", "tw-ov-rowlabels");
  const plot = h("div", "tw-ov-plot");
  const canvas = h("canvas", "tw-deltas-canvas");
  const mark = h("div", "tw-ov-mark");
  plot.append(canvas, mark);
  body.append(colLabels, rowLabels, plot);
  body.style.paddingLeft = `${OVERVIEW_ROW_LABELS}px`;
  colLabels.style.left = `${OVERVIEW_ROW_LABELS}px`;
  rowLabels.style.width = `${OVERVIEW_ROW_LABELS - 2}px`;
  el.append(titleRow, body);
  let thumb = 24;
  const gap = 2;

  const place = () => {
    const { layer, head } = store.selection;
    mark.style.left = `${head * (thumb + gap) - 3}px`;
    mark.style.top = `${layer * (thumb + gap) - 3}px`;
    mark.style.width = mark.style.height = `${thumb + 6}px`;
  };

  const paint = () => {
    const { n_layers: layers, n_heads: heads } = store.meta;
    const stat = info.stats[pick.value];
    const g = context2d(canvas);
    if (!stat || !g || layers === 0) return;
    const width = heads * (thumb + gap) - gap;
    const height = layers * (thumb + gap) - gap;
    canvas.width = width;
    canvas.height = height;
    canvas.style.width = plot.style.width = `${width}px`;
    canvas.style.height = plot.style.height = `${height}px`;
    clear(colLabels);
    clear(rowLabels);
    for (const hd of thinnedIndices(heads, thumb + gap, 22)) {
      const label = h("span", "tw-ov-label", `H${hd}`);
      label.style.left = `${hd * (thumb + gap) + thumb / 2}px`;
      colLabels.appendChild(label);
    }
    for (const l of thinnedIndices(layers, thumb + gap, 14)) {
      const label = h("span", "tw-ov-label", `L${l}`);
      label.style.top = `${l * (thumb + gap) + thumb / 2}px`;
      rowLabels.appendChild(label);
    }
    let max = 0;
    for (const v of stat.delta) if (v !== null && Number.isFinite(v)) max = Math.max(max, Math.abs(v));
    const hi = max || 1;
    const cell = new Uint32Array(1);
    const image = g.createImageData(width, height);
    const px = new Uint32Array(image.data.buffer);
    for (let l = 0; l < layers; l++) {
      for (let hd = 0; hd < heads; hd++) {
        const v = stat.delta[l * heads + hd];
        // a head without a value (not computed) keeps the background: the middle of the diverging ramp
        fillFromFloat(cell, Float32Array.of(v === null || v === undefined ? 0 : v), 0, 1, theme.palette.diverging, -hi, hi);
        for (let y = 0; y < thumb; y++) {
          const row = (l * (thumb + gap) + y) * width + hd * (thumb + gap);
          px.fill(cell[0]!, row, row + thumb);
        }
      }
    }
    g.putImageData(image, 0, 0);
    bar.set(theme.palette.divergingRGBA, -hi, hi, `${pick.value}: b − a`);
    title.textContent = `Heads · Δ ${pick.value} (b − a)`;
    place();
  };

  const hit = (event: MouseEvent) => {
    const p = localPoint(event, canvas);
    const { n_layers: layers, n_heads: heads } = store.meta;
    const layer = Math.floor(p.y / (thumb + gap));
    const head = Math.floor(p.x / (thumb + gap));
    return layer >= 0 && layer < layers && head >= 0 && head < heads ? { layer, head } : null;
  };
  bag.listen(canvas, "click", (event: MouseEvent) => {
    const at = hit(event);
    if (at) store.select(at);
  });
  bag.listen(canvas, "mousemove", (event: MouseEvent) => {
    const at = hit(event);
    const stat = info.stats[pick.value];
    if (!at || !stat) return tooltip.hide();
    const i = at.layer * store.meta.n_heads + at.head;
    const f = (v: number | null | undefined) => (v === null || v === undefined ? "not computed" : formatValue(v));
    tooltip.show(`layer ${at.layer} · head ${at.head} · ${pick.value}: a ${f(stat.a[i])} → b ${f(stat.b[i])} ` +
      `(Δ ${f(stat.delta[i])})`, event.clientX, event.clientY);
  });
  bag.listen(canvas, "mouseleave", () => tooltip.hide());
  bag.listen(pick, "change", () => frames.request("paint", paint));
  bag.add(store.subscribe((_, changed) => {
    if (changed.has("layer") || changed.has("head")) place();
    if (changed.has("meta")) frames.request("paint", paint);
    if (changed.has("panels")) el.hidden = !store.selection.panels.includes("overview");
  }));
  bag.add(theme.subscribe(() => frames.request("paint", paint)));
  el.hidden = !store.selection.panels.includes("overview") || names.length === 0;
  paint();
  return {
    el,
    setThumb(px: number) {
      const next = Math.max(6, Math.round(px));
      if (next === thumb) return;
      thumb = next;
      frames.request("paint", paint);
    },
    dispose() {
      frames.dispose();
      bag.dispose();
    },
  };
}

// ------------------------------------------------------------------------------------------- the widget

export interface ComparisonViews {
  views: View[];
  /** The row of maps: a's heatmap (moved here), b's, the difference; and a line naming a and b. */
  maps: HTMLElement;
  deltas: HTMLElement;
  /** Sizes the three maps and the delta grid to the widget's width. */
  fit(width: number, side: number, thumb: number): void;
}

/** b's heatmap, the difference and the deltas, or null when the model is not a comparison. */
export function mountComparison(ctx: ViewContext, model: WidgetModel, heatmapA: HeatmapView): ComparisonViews | null {
  const info = compareInfo(model.get("meta"));
  if (!info) return null;
  const views: View[] = [];
  const maps: HeatmapView[] = [heatmapA];
  heatmapA.el.classList.add("tw-side-a");
  for (const side of ["b", "diff"] as const) {
    const proxy = sideModel(model, side);
    const client = new DataClient(proxy, { local: firstPaintSource(proxy) });
    const store = new SelectionStore(proxy);
    const view = mountHeatmap({ ...ctx, store, client, caption: caption(info, side) });
    view.el.classList.add(`tw-side-${side}`);
    views.push({ el: view.el, dispose: () => {
      view.dispose();
      store.dispose();
      client.dispose();
    } });
    maps.push(view);
  }
  const deltas = mountDeltas(ctx, info);
  views.push(deltas);
  const row = h("div", "tw-main tw-compare-maps");
  const legend = h("div", "tw-compare-legend");
  for (const [key, name] of [["a", info.names[0]], ["b", info.names[1]]] as const) {
    const item = h("span", `tw-compare-name tw-compare-${key}`);
    item.append(h("b", undefined, `${key}: `), document.createTextNode(name));
    legend.appendChild(item);
  }
  const wrap = h("div", "tw-compare");
  row.append(...maps.map((v) => v.el));
  wrap.append(legend, row);
  return {
    views,
    maps: wrap,
    deltas: deltas.el,
    fit(width, side, thumb) {
      // three maps in a row where they fit at 160 px or more, else as the layout says (they wrap)
      const each = Math.floor((width - 2 * 12) / 3) - 64 - 4;
      for (const v of maps) v.setSide(each >= 160 ? Math.min(side, each) : side);
      deltas.setThumb(Math.min(thumb, 24));
    },
  };
}

// ------------------------------------------------------------------------------------------- the exported page

interface DiffPack {
  layers: Record<string, { chunk: number; shape: [number, number, number] }>;
  errors: Record<string, string>;
  chunks: Array<[number, number]>;
  text: string;
}

export interface ComparePack {
  b: { manifest: Manifest; text: string };
  diff: DiffPack;
}

/** A difference from the page: 8-bit rows (pack.py stage_slice: scale | q), back to float16 for the heatmap. */
async function diffLayer(pack: DiffPack, variant: string, layer: number): Promise<Answer> {
  if (pack.errors[variant]) throw new Error(pack.errors[variant]);
  const entry = pack.layers[`${variant}|${layer}`];
  if (!entry) throw new Error(`no difference of layer ${layer} (${variant}) in this page`);
  const span = pack.chunks[entry.chunk]!;
  const bytes = await inflate(fromBase64(pack.text.slice(span[0], span[1])));
  const [heads, m] = entry.shape;
  const rows = heads * m;
  const scale = new Float32Array(bytes, 0, rows);
  const q = new Int8Array(bytes, 4 * rows, rows * m);
  const values = new Float32Array(rows * m);
  for (let r = 0; r < rows; r++) for (let c = 0; c < m; c++) values[r * m + c] = (q[r * m + c]! * scale[r]!) / 127;
  return { content: { what: "layer", variant, layer, dtype: "float16", shape: [heads, m, m], signed: true },
           buffers: [toHalfBits(values)] };
}

/** The page's answer function for a comparison: a's pack, b's, and the differences, by `analysis`. */
export function comparePageAnswer(
  packA: PackData,
  compare: ComparePack,
  tokensB: string[],
): (request: Record<string, unknown>) => Promise<Answer> {
  const packB = new PackData(compare.b.manifest, compare.b.text, tokensB, (what) => `${what} of b is not in this page`);
  return (request) => {
    const side = request.analysis;
    if (side === "b") return packB.answer(request);
    if (side === "diff") {
      if (request.what !== "layer") return Promise.reject(new Error("the difference view answers layer requests only"));
      return diffLayer(compare.diff, String(request.variant), Number(request.layer));
    }
    return packA.answer(request);
  };
}
