// The overview: every head of every layer as a thumbnail on one canvas, on ONE colour scale (the heatmap's); a click
// selects layer and head. Thumbnails are sized to the space the layout gives (widget.ts → mainLayout).

import { SEEN, maskOf, maskedColour, paintThumbMasks } from "./causal";
import { colorBar } from "./colorbar";
import type { OverviewData } from "./client";
import { cssColor, packRGBA } from "./colors";
import { Disposer, Frames, clear, context2d, h, localPoint } from "./dom";
import { OVERVIEW_ROW_LABELS, type OverviewGeometry, overviewGeometry, overviewHit, thinnedIndices, thumbOrigin } from "./layout";
import { variantHeads } from "./meta";
import { fillOverview } from "./paint";
import type { Changed } from "./store";
import { type View, type ViewContext, formatValue } from "./view";

const GAP = 2;

export interface OverviewView extends View {
  /** Thumbnail side in CSS pixels, from the widget's layout. */
  setThumb(px: number): void;
}

export function mountOverview(ctx: ViewContext): OverviewView {
  const { store, client, tooltip, theme } = ctx;
  const bag = new Disposer();
  const frames = new Frames();

  const el = h("div", "tw-panel tw-overview");
  const titleRow = h("div", "tw-titlerow");
  const title = h("div", "tw-title");
  const bar = colorBar(72);
  // thumbnails as small heatmaps (default) or as bertviz-like arcs (left: attending rows, right: attended columns)
  const asArcs = h("button", "tw-button tw-ov-mode", "as arcs");
  asArcs.type = "button";
  asArcs.title = "draw each head as arcs (rows on the left attend to columns on the right) instead of a map";
  titleRow.append(title, bar.el, asArcs);
  const body = h("div", "tw-ov-body");
  const colLabels = h("div", "tw-ov-collabels");
  const rowLabels = h("div", "tw-ov-rowlabels");
  const plot = h("div", "tw-ov-plot");
  const canvas = h("canvas", "tw-ov-canvas");
  const mark = h("div", "tw-ov-mark");
  const hoverMark = h("div", "tw-ov-hover");
  const status = h("div", "tw-loading");
  hoverMark.hidden = true;
  plot.append(canvas, hoverMark, mark);
  body.append(colLabels, rowLabels, plot);
  el.append(titleRow, body, status);
  body.style.paddingLeft = `${OVERVIEW_ROW_LABELS}px`;
  colLabels.style.left = `${OVERVIEW_ROW_LABELS}px`;
  rowLabels.style.width = `${OVERVIEW_ROW_LABELS - 2}px`;

  let thumbPx = 32;
  let arcsMode = false;
  let geom: OverviewGeometry | null = null;
  let data: OverviewData | null = null;

  const place = (node: HTMLElement, layer: number, head: number, pad: number) => {
    if (!geom) return;
    const [x, y] = thumbOrigin(geom, layer, head);
    node.style.left = `${x - pad}px`;
    node.style.top = `${y - pad}px`;
    node.style.width = `${geom.thumb + 2 * pad}px`;
    node.style.height = `${geom.thumb + 2 * pad}px`;
  };

  const layout = () => {
    const layers = store.meta.n_layers;
    // one thumbnail per head, or one per layer for a per-layer view
    const heads = variantHeads(store.meta, store.selection.variant);
    geom = overviewGeometry(layers, heads, thumbPx, GAP);
    canvas.width = geom.width;
    canvas.height = geom.height;
    canvas.style.width = `${geom.width}px`;
    canvas.style.height = `${geom.height}px`;
    plot.style.width = canvas.style.width;
    el.style.width = `${OVERVIEW_ROW_LABELS + geom.width}px`;
    plot.style.height = canvas.style.height;
    clear(colLabels);
    clear(rowLabels);
    const pitch = thumbPx + GAP;
    for (const hd of thinnedIndices(heads, pitch, 22)) {
      const s = h("span", "tw-ov-label", store.perHead ? `H${hd}` : "per layer");
      s.style.left = `${hd * pitch + thumbPx / 2}px`;
      colLabels.appendChild(s);
    }
    for (const l of thinnedIndices(layers, pitch, 14)) {
      const s = h("span", "tw-ov-label", `L${l}`);
      s.style.top = `${l * pitch + thumbPx / 2}px`;
      rowLabels.appendChild(s);
    }
    colLabels.style.width = canvas.style.width;
    rowLabels.style.height = canvas.style.height;
    markSelection();
    frames.request("paint", paint);
  };

  const markSelection = () => {
    const layer = store.selection.layer;
    const head = store.shownHead;
    place(mark, layer, head, 3);
    mark.dataset.layer = String(layer);
    mark.dataset.head = String(head);
  };

  const paint = () => {
    const g = context2d(canvas);
    const { color_scale: scale } = store.selection;
    const perHead = scale === "head";
    const palette = theme.palette;
    bar.set(palette.sequentialRGBA, 0, perHead ? 1 : (data?.vmax ?? 1), perHead ? "0 … each head's own max" : store.variant.quantity);
    if (perHead) bar.el.querySelector(".tw-cbar-hi")!.textContent = "head max";
    if (!g || !geom || !data) return;
    if (arcsMode) return paintArcs(g, geom, data, perHead);
    const image = g.createImageData(geom.width, geom.height);
    const [r, gr, b] = palette.background;
    // a thumbnail of t×t values drawn at `thumb` px: each pixel reads the value under it (nearest)
    const gain = data.headMax.map((mx) => (perHead && mx > 0 ? data!.vmax / mx : 1));
    const out = new Uint32Array(image.data.buffer);
    fillOverview(out, geom, data.data, data.thumb, palette.sequential, packRGBA(r, gr, b, 0), gain);
    // a causal model's masked blocks in grey, as on the heatmap
    const d = data;
    const m = store.meta.variants[d.variant]?.labels.length ?? 0;
    paintThumbMasks(out, geom.width, geom.layers, geom.heads, geom.thumb, geom.gap, d.thumb,
                    (l) => maskOf(store.meta, d.variant, l, m, d.thumb), maskedColour(palette));
    g.putImageData(image, 0, 0);
  };

  /** Each head as arcs from its t×t thumbnail: a line from row i (left edge) to column j (right edge), its colour
   * and opacity the heatmap's colour for that (max-pooled) weight; weights under 5 % of the scale are left out. */
  const paintArcs = (g: CanvasRenderingContext2D, geo: OverviewGeometry, d: OverviewData, perHead: boolean) => {
    const palette = theme.palette;
    const ramp = palette.sequentialRGBA;
    const n = ramp.length / 4;
    g.clearRect(0, 0, geo.width, geo.height);
    g.lineWidth = 1;
    const t = d.thumb;
    const buckets = 6;
    const m = store.meta.variants[d.variant]?.labels.length ?? 0;
    for (let l = 0; l < geo.layers; l++) {
      const mask = maskOf(store.meta, d.variant, l, m, t); // a causal model's masked blocks draw no arc
      for (let hd = 0; hd < geo.heads; hd++) {
        const [x0, y0] = thumbOrigin(geo, l, hd);
        const head = l * geo.heads + hd;
        const gain = perHead && (d.headMax[head] ?? 0) > 0 ? d.vmax / d.headMax[head]! : 1;
        g.fillStyle = cssColor(palette.foreground, 0.04);
        g.fillRect(x0, y0, geo.thumb, geo.thumb);
        const paths: number[][] = Array.from({ length: buckets }, () => []);
        for (let i = 0; i < t; i++) {
          for (let j = 0; j < t; j++) {
            const w = Math.min(1, ((d.data[head * t * t + i * t + j] ?? 0) / 255) * gain);
            if (w < 0.05 || (mask && mask[i * t + j] !== SEEN)) continue;
            paths[Math.min(buckets - 1, Math.floor(w * buckets))]!.push(i, j);
          }
        }
        const y = (k: number) => y0 + ((k + 0.5) / t) * geo.thumb;
        paths.forEach((pairs, b) => {
          if (!pairs.length) return;
          const level = (b + 0.5) / buckets;
          const k = Math.min(n - 1, Math.floor(level * n)) * 4;
          g.strokeStyle = `rgb(${ramp[k]}, ${ramp[k + 1]}, ${ramp[k + 2]})`;
          g.globalAlpha = 0.3 + 0.7 * level;
          g.beginPath();
          for (let p = 0; p < pairs.length; p += 2) {
            g.moveTo(x0 + 1, y(pairs[p]!));
            g.lineTo(x0 + geo.thumb - 1, y(pairs[p + 1]!));
          }
          g.stroke();
        });
        g.globalAlpha = 1;
      }
    }
  };

  const load = () => {
    const meta = store.meta;
    const variant = store.selection.variant;
    title.textContent = `${store.perHead ? "Heads" : "Layers"} · ${variant}`;
    if (data && data.variant !== variant) data = null; // another variant's thumbnails: not in this geometry
    if (meta.n_layers === 0 || !store.selection.panels.includes("overview")) return; // closed: nothing asked for
    layout();
    const hit = client.peekOverview(variant);
    const show = (d: OverviewData) => {
      data = d;
      status.hidden = true;
      frames.request("paint", paint);
    };
    if (hit) return show(hit);
    status.textContent = "loading overview…";
    status.hidden = false;
    client
      .overview(variant)
      .then((d) => {
        if (store.selection.variant === variant) show(d);
      })
      .catch((err: Error) => {
        status.textContent = `could not load the overview: ${err.message}`;
        status.hidden = false;
      });
  };

  const onChange = (_: unknown, changed: Changed) => {
    if (changed.has("meta") || changed.has("variant") || changed.has("panels")) load();
    if (changed.has("layer") || changed.has("head")) markSelection();
    if (changed.has("color_scale")) frames.request("paint", paint);
    if (changed.has("panels")) el.hidden = !store.selection.panels.includes("overview");
  };

  const hitAt = (event: MouseEvent) => {
    if (!geom) return null;
    const p = localPoint(event, canvas);
    return overviewHit(geom, p.x, p.y);
  };

  bag.listen(asArcs, "click", () => {
    arcsMode = !arcsMode;
    asArcs.textContent = arcsMode ? "as maps" : "as arcs";
    frames.request("paint", paint);
  });
  bag.listen(canvas, "click", (event: MouseEvent) => {
    const hit = hitAt(event);
    // a per-layer view's single column selects the layer and keeps the head for the per-head views
    if (hit) store.select(store.perHead ? { layer: hit.layer, head: hit.head } : { layer: hit.layer });
  });
  bag.listen(canvas, "mousemove", (event: MouseEvent) => {
    const hit = hitAt(event);
    if (!hit) return;
    const mx = data?.headMax[hit.layer * (data?.heads ?? 0) + hit.head];
    const max = mx === undefined ? "" : ` · max ${formatValue(mx)}`;
    const who = store.perHead ? `head ${hit.head}` : "per layer";
    tooltip.show(`layer ${hit.layer} · ${who}${max}`, event.clientX, event.clientY);
    hoverMark.hidden = false;
    place(hoverMark, hit.layer, hit.head, 1);
  });
  bag.listen(canvas, "mouseleave", () => {
    tooltip.hide();
    hoverMark.hidden = true;
  });
  bag.add(store.subscribe(onChange));
  bag.add(theme.subscribe(() => frames.request("paint", paint)));

  el.hidden = !store.selection.panels.includes("overview");
  load();

  return {
    el,
    setThumb(px: number) {
      const next = Math.max(4, Math.round(px));
      if (next === thumbPx && geom) return;
      thumbPx = next;
      if (store.meta.n_layers > 0) layout();
    },
    dispose() {
      frames.dispose();
      bag.dispose();
    },
  };
}
