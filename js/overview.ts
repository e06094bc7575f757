// The overview: every head of every layer as a small thumbnail on one canvas; a click selects layer and head.

import type { OverviewData } from "./client";
import { packRGBA } from "./colors";
import { Disposer, Frames, clear, context2d, h, localPoint } from "./dom";
import { type OverviewGeometry, overviewGeometry, overviewHit, thinnedIndices, thumbOrigin } from "./layout";
import { fillOverview } from "./paint";
import type { Changed } from "./store";
import { type View, type ViewContext, formatValue } from "./view";

const GAP = 2;
const TARGET_PITCH = 26;

/** CSS magnification so that small thumbnails are still about TARGET_PITCH pixels apart. */
export function overviewZoom(thumb: number, gap = GAP): number {
  return Math.max(1, Math.floor(TARGET_PITCH / (thumb + gap)));
}

export function mountOverview(ctx: ViewContext): View {
  const { store, client, tooltip, theme } = ctx;
  const bag = new Disposer();
  const frames = new Frames();

  const el = h("div", "tw-panel tw-overview");
  const title = h("div", "tw-title");
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
  el.append(title, body, status);

  let geom: OverviewGeometry | null = null;
  let zoom = 1;
  let data: OverviewData | null = null;

  const place = (node: HTMLElement, layer: number, head: number) => {
    if (!geom) return;
    const [x, y] = thumbOrigin(geom, layer, head);
    node.style.left = `${x * zoom - 2}px`;
    node.style.top = `${y * zoom - 2}px`;
    node.style.width = `${geom.thumb * zoom + 4}px`;
    node.style.height = `${geom.thumb * zoom + 4}px`;
  };

  const layout = (layers: number, heads: number, thumb: number) => {
    geom = overviewGeometry(layers, heads, thumb, GAP);
    zoom = overviewZoom(thumb);
    const pitch = (thumb + GAP) * zoom;
    canvas.width = geom.width;
    canvas.height = geom.height;
    canvas.style.width = `${geom.width * zoom}px`;
    canvas.style.height = `${geom.height * zoom}px`;
    plot.style.width = canvas.style.width;
    plot.style.height = canvas.style.height;
    clear(colLabels);
    clear(rowLabels);
    for (const hd of thinnedIndices(heads, pitch, 22)) {
      const s = h("span", "tw-ov-label", `H${hd}`);
      s.style.left = `${hd * pitch + (thumb * zoom) / 2}px`;
      colLabels.appendChild(s);
    }
    for (const l of thinnedIndices(layers, pitch, 14)) {
      const s = h("span", "tw-ov-label", `L${l}`);
      s.style.top = `${l * pitch + (thumb * zoom) / 2}px`;
      rowLabels.appendChild(s);
    }
    colLabels.style.width = canvas.style.width;
    rowLabels.style.height = canvas.style.height;
    markSelection();
  };

  const markSelection = () => {
    const { layer, head } = store.selection;
    place(mark, layer, head);
    mark.dataset.layer = String(layer);
    mark.dataset.head = String(head);
  };

  const paint = () => {
    const g = context2d(canvas);
    if (!g || !geom || !data) return;
    const image = g.createImageData(geom.width, geom.height);
    const [r, gr, b] = theme.palette.background;
    const lit = fillOverview(new Uint32Array(image.data.buffer), geom, data.data, theme.palette.sequential, packRGBA(r, gr, b, 0));
    g.putImageData(image, 0, 0);
    canvas.dataset.painted = lit > 0 ? "1" : "0";
    canvas.dataset.lit = String(lit);
  };

  const load = () => {
    const meta = store.meta;
    const variant = store.selection.variant;
    title.textContent = `Heads · ${variant}`;
    if (meta.n_layers === 0) return;
    const hit = client.peekOverview(variant);
    const show = (d: OverviewData) => {
      data = d;
      status.hidden = true;
      layout(d.layers, d.heads, d.thumb);
      frames.request("paint", paint);
    };
    if (hit) return show(hit);
    if (!geom) layout(meta.n_layers, meta.n_heads, Math.max(1, Math.min(meta.thumb, store.m || meta.thumb)));
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
  };

  const hitAt = (event: MouseEvent) => {
    if (!geom) return null;
    const p = localPoint(event, canvas);
    return overviewHit(geom, p.x / zoom, p.y / zoom);
  };

  bag.listen(canvas, "click", (event: MouseEvent) => {
    const hit = hitAt(event);
    if (hit) store.select({ layer: hit.layer, head: hit.head });
  });
  bag.listen(canvas, "mousemove", (event: MouseEvent) => {
    const hit = hitAt(event);
    if (!hit) return;
    const scale = data?.scale[hit.layer * (data?.heads ?? 0) + hit.head];
    const max = scale === undefined ? "" : ` · max ${formatValue(scale)}`;
    tooltip.show(`layer ${hit.layer} · head ${hit.head}${max}`, event.clientX, event.clientY);
    hoverMark.hidden = false;
    place(hoverMark, hit.layer, hit.head);
  });
  bag.listen(canvas, "mouseleave", () => {
    tooltip.hide();
    hoverMark.hidden = true;
  });
  bag.add(store.subscribe(onChange));
  bag.add(theme.subscribe(() => frames.request("paint", paint)));

  load();

  return {
    el,
    dispose() {
      frames.dispose();
      bag.dispose();
    },
  };
}
