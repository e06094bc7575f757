// The overview: every head of every layer as a thumbnail on one canvas, on ONE colour scale (the heatmap's); a click
// selects layer and head. Thumbnails are sized to the space the layout gives (widget.ts → mainLayout).

import { colorBar } from "./colorbar";
import type { OverviewData } from "./client";
import { packRGBA } from "./colors";
import { Disposer, Frames, clear, context2d, h, localPoint } from "./dom";
import { OVERVIEW_ROW_LABELS, type OverviewGeometry, overviewGeometry, overviewHit, thinnedIndices, thumbOrigin } from "./layout";
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
  titleRow.append(title, bar.el);
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
    const { n_layers: layers, n_heads: heads } = store.meta;
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
      const s = h("span", "tw-ov-label", `H${hd}`);
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
    const { layer, head } = store.selection;
    place(mark, layer, head, 3);
    mark.dataset.layer = String(layer);
    mark.dataset.head = String(head);
  };

  const paint = () => {
    const g = context2d(canvas);
    const { color_scale: scale } = store.selection;
    const perHead = scale === "head";
    const palette = theme.palette;
    bar.set(palette.sequentialRGBA, 0, perHead ? 1 : (data?.vmax ?? 1), perHead ? "0 … each head's own max" : "attention weight");
    if (perHead) bar.el.querySelector(".tw-cbar-hi")!.textContent = "head max";
    if (!g || !geom || !data) return;
    const image = g.createImageData(geom.width, geom.height);
    const [r, gr, b] = palette.background;
    // a thumbnail of t×t values drawn at `thumb` px: each pixel reads the value under it (nearest)
    const gain = data.headMax.map((mx) => (perHead && mx > 0 ? data!.vmax / mx : 1));
    fillOverview(new Uint32Array(image.data.buffer), geom, data.data, data.thumb, palette.sequential, packRGBA(r, gr, b, 0), gain);
    g.putImageData(image, 0, 0);
  };

  const load = () => {
    const meta = store.meta;
    const variant = store.selection.variant;
    title.textContent = `Heads · ${variant}`;
    if (meta.n_layers === 0) return;
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
    if (changed.has("meta") || changed.has("variant")) load();
    if (changed.has("layer") || changed.has("head")) markSelection();
    if (changed.has("color_scale")) frames.request("paint", paint);
    if (changed.has("panels")) el.hidden = !store.selection.panels.includes("overview");
  };

  const hitAt = (event: MouseEvent) => {
    if (!geom) return null;
    const p = localPoint(event, canvas);
    return overviewHit(geom, p.x, p.y);
  };

  bag.listen(canvas, "click", (event: MouseEvent) => {
    const hit = hitAt(event);
    if (hit) store.select({ layer: hit.layer, head: hit.head });
  });
  bag.listen(canvas, "mousemove", (event: MouseEvent) => {
    const hit = hitAt(event);
    if (!hit) return;
    const mx = data?.headMax[hit.layer * (data?.heads ?? 0) + hit.head];
    const max = mx === undefined ? "" : ` · max ${formatValue(mx)}`;
    tooltip.show(`layer ${hit.layer} · head ${hit.head}${max}`, event.clientX, event.clientY);
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
