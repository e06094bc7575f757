// The arcs view: attending tokens (left) joined to attended tokens (right), opacity = weight, drawn on a canvas.

import { SEEN, maskOf, seenPairs } from "./causal";
import { halfTableF32 } from "./codec";
import { colorBar } from "./colorbar";
import { cssColor, headColor, lutIndex, type RGB } from "./colors";
import { Disposer, Frames, clear, context2d, h, localPoint } from "./dom";
import { type ArcsGeometry, arcsGeometry, arcsRowAt, arcsRowY, segmentBoundary, visibleRows } from "./layout";
import { arcBuckets, arcThreshold, maxOfHalf } from "./paint";
import type { Changed } from "./store";
import { type View, type ViewContext, formatValue, headWords, loadLayer, mapRange } from "./view";

const MAX_VIEWPORT = 300;
const BUCKETS = 8;
const SEGMENT1: RGB = [214, 110, 30];
const SEGMENT1_DARK: RGB = [255, 170, 90];

/** A label shortened with an ellipsis to fit `width` pixels. */
function fitLabel(g: CanvasRenderingContext2D, text: string, width: number): string {
  if (g.measureText(text).width <= width) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (g.measureText(`${text.slice(0, mid)}…`).width <= width) lo = mid;
    else hi = mid - 1;
  }
  return `${text.slice(0, lo)}…`;
}

export interface ArcsView extends View {
  /** Width in CSS pixels, from the widget's layout. */
  setWidth(px: number): void;
}

export function mountArcs(ctx: ViewContext): ArcsView {
  const { store, client, root, tooltip, theme } = ctx;
  const bag = new Disposer();
  const frames = new Frames();

  const el = h("div", "tw-panel tw-arcs");
  const titleRow = h("div", "tw-titlerow");
  const title = h("div", "tw-title");
  const bar = colorBar(72);
  titleRow.append(title, bar.el);
  const scroller = h("div", "tw-arcs-scroll");
  const canvas = h("canvas", "tw-arcs-canvas");
  const spacer = h("div", "tw-arcs-spacer");
  const status = h("div", "tw-loading");
  const legend = h("div", "tw-arcs-legend");
  scroller.append(canvas, spacer);
  el.append(titleRow, legend, scroller, status);

  let WIDTH = 340;
  /** Heads left out of the all-heads overlay (the legend's chips toggle them). */
  const hiddenHeads = new Set<number>();
  let geom: ArcsGeometry = arcsGeometry(store.m, WIDTH);
  let viewport = 0;
  let hoverRow = -1;

  const layout = () => {
    geom = arcsGeometry(store.m, WIDTH);
    viewport = Math.max(60, Math.min(MAX_VIEWPORT, geom.contentHeight));
    scroller.style.height = `${viewport}px`;
    scroller.style.width = `${WIDTH}px`;
    el.style.width = `${WIDTH}px`;
    canvas.style.width = `${WIDTH}px`;
    canvas.style.height = `${viewport}px`;
    spacer.style.height = `${Math.max(0, geom.contentHeight - viewport)}px`;
    const dpr = Math.min(2, globalThis.devicePixelRatio || 1);
    canvas.width = Math.round(WIDTH * dpr);
    canvas.height = Math.round(viewport * dpr);
    canvas.dataset.dpr = String(dpr);
  };

  const writeTitle = () => {
    const { layer, token } = store.selection;
    const all = store.selection.arcs_all_heads && store.perHead;
    const who = all ? "all heads" : headWords(store);
    const which = token >= 0 ? ` · from “${store.variant.labels[token] ?? token}”` : "";
    title.textContent = `${ctx.side ?? ""}Arcs · layer ${layer} · ${who}${which}`;
    writeLegend();
  };

  /** Head colours while all heads are overlaid; each chip shows or hides its head. */
  const writeLegend = () => {
    const all = store.selection.arcs_all_heads && store.perHead; // a per-layer view has no heads to overlay
    const heads = store.meta.n_heads;
    legend.hidden = !all;
    if (!all) return;
    if (legend.childElementCount !== heads) {
      clear(legend);
      for (let hd = 0; hd < heads; hd++) {
        const chip = h("button", "tw-arcs-chip", `H${hd}`);
        chip.type = "button";
        chip.dataset.head = String(hd);
        chip.style.color = cssColor(headColor(hd, heads, theme.palette.dark));
        legend.appendChild(chip);
      }
    }
    for (const chip of legend.children) {
      const off = hiddenHeads.has(Number((chip as HTMLElement).dataset.head));
      chip.classList.toggle("tw-off", off);
      chip.setAttribute("aria-pressed", off ? "false" : "true");
      (chip as HTMLElement).title = off ? "show this head's arcs" : "hide this head's arcs";
    }
  };

  /** Brings the selected row into view when it was chosen elsewhere (heatmap, Python). */
  const reveal = () => {
    const token = store.selection.token;
    if (token < 0 || token === hoverRow || token >= geom.m) return;
    const [first, last] = visibleRows(geom, scroller.scrollTop, viewport);
    if (token > first && token < last) return;
    scroller.scrollTop = Math.max(0, arcsRowY(geom, token) - viewport / 2);
  };

  const paint = () => {
    const { variant, layer, token } = store.selection;
    const head = store.shownHead;
    const all = store.selection.arcs_all_heads && store.perHead;
    const data = client.peekLayer(variant, layer);
    const g = context2d(canvas);
    if (!data || !g) return;
    const t0 = performance.now();
    const m = data.m;
    const palette = theme.palette;
    const dpr = Number(canvas.dataset.dpr) || 1;
    const scrollTop = scroller.scrollTop;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, WIDTH, viewport);
    g.translate(0, -scrollTop);
    const [first, last] = visibleRows(geom, scrollTop, viewport);
    const table = halfTableF32();
    const only = token >= 0 && token < m ? token : -1;
    const threshold = only >= 0 ? 0.002 : arcThreshold(m);
    const x0 = geom.labelWidth + 6;
    const x1 = WIDTH - geom.labelWidth - 6;
    // a causal model's masked cells draw no line (a variant that rescales rows may give them a weight)
    const mask = maskOf(store.meta, variant, layer, m);
    const heads = all ? Array.from({ length: data.heads }, (_, i) => i).filter((i) => !hiddenHeads.has(i)) : [head];
    const ramp = palette.sequentialRGBA;
    let lines = 0;
    g.lineWidth = m > 128 ? 0.8 : 1.4;
    const info = store.variant;
    const layerMax = info.scale === "max" ? maxOfHalf(data.bits, 0, data.heads * m * m, table) : 0;
    const rangeOf = (hd: number) =>
      mapRange(info.scale, store.selection.color_scale, maxOfHalf(data.bits, hd * m * m, m * m, table), layerMax);
    for (const hd of heads) {
      // the heatmap's colour rule: value w drawn at w / hi (hi = 1 or the layer's max, or the head's max)
      const [, hi] = rangeOf(hd);
      const arcs = arcBuckets(data.bits, hd * m * m, m, table, threshold, first, last, only, BUCKETS, hi);
      if (mask) {
        arcs.pairs = arcs.pairs.map((pairs) => seenPairs(pairs, mask, m));
        arcs.count = arcs.pairs.reduce((n, pairs) => n + pairs.length / 2, 0);
      }
      lines += arcs.count;
      arcs.pairs.forEach((pairs, b) => {
        if (pairs.length === 0) return;
        const level = (b + 0.5) / BUCKETS;
        // one head: the heatmap's colour for that weight (and as opaque); all heads: the head's colour
        const k = lutIndex(level, 0, 1, ramp.length / 4) * 4;
        const color: RGB = all ? headColor(hd, data.heads, palette.dark) : [ramp[k]!, ramp[k + 1]!, ramp[k + 2]!];
        g.strokeStyle = cssColor(color);
        g.globalAlpha = Math.min(1, all ? level * 0.8 : 0.25 + 0.75 * level);
        g.beginPath();
        for (let k = 0; k < pairs.length; k += 2) {
          g.moveTo(x0, arcsRowY(geom, pairs[k]!));
          g.lineTo(x1, arcsRowY(geom, pairs[k + 1]!));
        }
        g.stroke();
      });
    }
    g.globalAlpha = 1;
    drawLabels(g, first, last, only);
    g.setTransform(1, 0, 0, 1, 0, 0);
    const [lo, hi] = rangeOf(head);
    if (all) bar.hide();
    else bar.set(palette.sequentialRGBA, lo, hi, `arc colour and opacity: ${info.quantity}`);
    canvas.dataset.lines = String(lines);
    canvas.dataset.paintMs = (performance.now() - t0).toFixed(1);
  };

  const drawLabels = (g: CanvasRenderingContext2D, first: number, last: number, only: number) => {
    const palette = theme.palette;
    const { labels, segments, special } = store.variant;
    const font = getComputedStyle(root).getPropertyValue("--jp-code-font-family").trim() || "monospace";
    const size = geom.rowHeight >= 18 ? 12 : 11;
    g.font = `${size}px ${font}`;
    g.textBaseline = "middle";
    const fg = palette.foreground;
    const seg1 = palette.dark ? SEGMENT1_DARK : SEGMENT1;
    const boundary = segmentBoundary(segments);
    if (boundary > 0) {
      const y = geom.top + boundary * geom.rowHeight;
      g.strokeStyle = cssColor(fg, 0.45);
      g.setLineDash([4, 3]);
      g.lineWidth = 1;
      g.beginPath();
      g.moveTo(2, y);
      g.lineTo(geom.labelWidth, y);
      g.moveTo(WIDTH - geom.labelWidth, y);
      g.lineTo(WIDTH - 2, y);
      g.stroke();
      g.setLineDash([]);
    }
    for (let i = first; i <= last; i++) {
      const text = labels[i] ?? "";
      const y = arcsRowY(geom, i);
      const mark = i === only || i === hoverRow;
      if (mark) {
        g.fillStyle = cssColor(fg, 0.12);
        g.fillRect(0, y - geom.rowHeight / 2, geom.labelWidth + 2, geom.rowHeight);
      }
      const color = segments[i] === 1 ? seg1 : fg;
      const alpha = special[i] ? 0.55 : 1;
      g.fillStyle = cssColor(color, only >= 0 && !mark ? alpha * 0.6 : alpha);
      g.textAlign = "right";
      g.fillText(fitLabel(g, text, geom.labelWidth - 8), geom.labelWidth - 2, y);
      g.fillStyle = cssColor(color, alpha);
      g.textAlign = "left";
      g.fillText(fitLabel(g, text, geom.labelWidth - 8), WIDTH - geom.labelWidth + 2, y);
    }
  };

  const load = () => {
    if (store.meta.n_layers === 0) return;
    loadLayer(ctx, status, () => frames.request("paint", paint));
  };

  const onChange = (_: unknown, changed: Changed) => {
    writeTitle();
    if (changed.has("meta") || changed.has("variant")) layout();
    if (changed.has("token")) reveal();
    if (changed.has("meta") || changed.has("variant") || changed.has("layer")) load();
    else frames.request("paint", paint);
    if (changed.has("panels")) el.hidden = !store.selection.panels.includes("arcs");
  };

  const rowUnder = (event: MouseEvent): { row: number; left: boolean } => {
    const p = localPoint(event, canvas);
    return { row: arcsRowAt(geom, p.y + scroller.scrollTop), left: p.x < WIDTH / 2 };
  };

  /** "the (row 3) attends most to cat: 0.412" — or, on the right, who attends most to a column. */
  const describe = (row: number, left: boolean): string => {
    const { labels } = store.variant;
    const { variant, layer } = store.selection;
    const head = store.shownHead;
    const label = labels[row] ?? String(row);
    const data = client.peekLayer(variant, layer);
    if (!data || row >= data.m) return label;
    const m = data.m;
    const table = halfTableF32();
    const base = head * m * m;
    let best = -1;
    let bestW = Number.NEGATIVE_INFINITY;
    const mask = maskOf(store.meta, variant, layer, m);
    for (let k = 0; k < m; k++) {
      if (mask && mask[left ? row * m + k : k * m + row] !== SEEN) continue;
      const w = table[data.bits[left ? base + row * m + k : base + k * m + row]!]!;
      if (w > bestW) {
        bestW = w;
        best = k;
      }
    }
    const other = labels[best] ?? String(best);
    return left
      ? `${label} (row ${row}) attends most to ${other}: ${formatValue(bestW)}`
      : `${label} (column ${row}) is attended most by ${other}: ${formatValue(bestW)}`;
  };

  const onMove = (event: MouseEvent) => {
    const { row, left } = rowUnder(event);
    if (row < 0) return;
    tooltip.show(describe(row, left), event.clientX, event.clientY);
    if (left) {
      if (hoverRow !== row) {
        hoverRow = row;
        store.hoverToken(row);
      }
    } else if (hoverRow >= 0) {
      hoverRow = -1;
      store.leaveToken();
    }
  };

  const onLeave = () => {
    tooltip.hide();
    if (hoverRow >= 0) {
      hoverRow = -1;
      store.leaveToken();
    }
  };

  const onClick = (event: MouseEvent) => {
    const { row, left } = rowUnder(event);
    if (row >= 0 && left) store.pinToken(row);
  };

  bag.listen(canvas, "mousemove", onMove);
  bag.listen(canvas, "mouseleave", onLeave);
  bag.listen(canvas, "click", onClick);
  bag.listen(scroller, "scroll", () => frames.request("paint", paint), { passive: true });
  bag.listen(legend, "click", (event: MouseEvent) => {
    const chip = (event.target as HTMLElement).closest?.(".tw-arcs-chip") as HTMLElement | null;
    if (!chip) return;
    const hd = Number(chip.dataset.head);
    if (hiddenHeads.has(hd)) hiddenHeads.delete(hd);
    else hiddenHeads.add(hd);
    writeLegend();
    frames.request("paint", paint);
  });
  bag.add(store.subscribe(onChange));
  bag.add(
    theme.subscribe(() => {
      clear(legend);
      writeLegend();
      frames.request("paint", paint);
    }),
  );

  el.hidden = !store.selection.panels.includes("arcs");
  writeTitle();
  layout();
  load();

  return {
    el,
    setWidth(px: number) {
      const next = Math.max(220, Math.round(px));
      if (next === WIDTH) return;
      WIDTH = next;
      layout();
      frames.request("paint", paint);
    },
    dispose() {
      frames.dispose();
      bag.dispose();
    },
  };
}
