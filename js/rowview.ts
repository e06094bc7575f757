// The row view (what bertviz's neuron view shows, for any family): for the selected layer, head and query piece,
// q, every key k_j, q∘k_j, q·k_j, the scaled score and the softmax, side by side; the query follows the heatmap's
// selected row, and the column headings open the stage they come from in the stage viewer.

import type { RowData } from "./client";
import { colorBar } from "./colorbar";
import { type Palette, lutIndex } from "./colors";
import { Disposer, Frames, clear, context2d, h } from "./dom";
import { piecePosition } from "./meta";
import type { Changed } from "./store";
import { type View, type ViewContext, formatValue } from "./view";

/** Largest |x| of a Float32Array range (the diverging colour scales of q, k and q∘k). */
export function absMax(values: Float32Array, from: number, to: number): number {
  let m = 0;
  for (let i = from; i < to; i++) {
    const a = Math.abs(values[i]!);
    if (a > m) m = a;
  }
  return m > 0 ? m : 1;
}

/** Pixels per vector component: the two strips (k_j and q∘k_j) share what is left of `width` after the numbers. */
export function stripCell(dh: number, width: number): number {
  return Math.max(1, Math.min(8, Math.floor((width - 84 - 3 * 64 - 110 - 24) / (2 * Math.max(1, dh)))));
}

function paintStrip(canvas: HTMLCanvasElement, values: Float32Array, from: number, dh: number, hi: number, palette: Palette): void {
  canvas.width = dh;
  canvas.height = 1;
  const g = context2d(canvas);
  if (!g) return;
  const image = g.createImageData(dh, 1);
  const rgba = palette.divergingRGBA;
  const n = rgba.length / 4;
  for (let c = 0; c < dh; c++) {
    const k = lutIndex(values[from + c]!, -hi, hi, n) * 4;
    image.data.set(rgba.subarray(k, k + 4), c * 4);
  }
  g.putImageData(image, 0, 0);
}

export function mountRowView(ctx: ViewContext): View {
  const { store, client, theme, tooltip } = ctx;
  const bag = new Disposer();
  const frames = new Frames();

  const el = h("div", "tw-panel tw-row");
  const title = h("div", "tw-title");
  const explain = h("div", "tw-row-explain");
  const bars = h("div", "tw-row-bars");
  const vecBar = colorBar(64);
  const prodBar = colorBar(64);
  const softBar = colorBar(64);
  const named = (name: string, bar: HTMLElement) => {
    const unit = h("span", "tw-row-barunit");
    unit.append(h("span", "tw-row-barname", name), bar);
    return unit;
  };
  bars.append(named("q, k", vecBar.el), named("q∘k", prodBar.el), named("softmax", softBar.el));
  const status = h("div", "tw-row-status");
  const grid = h("div", "tw-row-grid");
  const scroller = h("div", "tw-row-scroll");
  scroller.appendChild(grid);
  el.append(title, explain, bars, status, scroller);

  let shown: RowData | null = null;
  let renderedWidth = 0;

  const heading = (text: string, stage: string | null, tip: string) => {
    const b = h(stage ? "button" : "span", `tw-row-head${stage ? " tw-row-link" : ""}`, text);
    b.title = tip;
    if (stage) {
      (b as HTMLButtonElement).type = "button";
      b.dataset.stage = stage;
    }
    return b;
  };

  const render = (d: RowData) => {
    shown = d;
    status.hidden = true;
    const { layer, head, query, n, dh, values } = d;
    title.textContent = `${ctx.side ?? ""}Attention row · layer ${layer} · head ${head} · query “${d.labels[query] ?? query}” (piece ${query})`;
    // what the reply's stages say of this model: rotary queries and keys, a causal mask
    const rotary = (d.stages.q ?? "").endsWith("_rot_hidden");
    const masked = (d.stages.scaled ?? "").includes("_masked");
    const scale = Math.abs(d.scale * Math.sqrt(dh) - 1) < 1e-4 ? `${formatValue(d.scale)} (= 1/√${dh})` : formatValue(d.scale);
    explain.textContent = `score_j = (q · k_j) × ${scale}${masked ? ", −∞ where the causal mask hides k_j" : ""}, ` +
      `then softmax over the ${n} keys: the heatmap's row${rotary ? " (q and k_j turned by the rotary embedding)" : ""}` +
      (d.note ? ` · ${d.note}` : "");
    clear(grid);
    const width = el.clientWidth || 760;
    renderedWidth = width;
    const cw = stripCell(dh, width);
    grid.style.gridTemplateColumns = `minmax(48px, 84px) ${dh * cw}px ${dh * cw}px 64px 64px 110px`;
    // each heading opens the stage its column comes from (the reply names them)
    const s = (part: string) => d.stages[part] ?? null;
    const of = (part: string) => (s(part) ? ` (stage ${s(part)}: click to open it in the stage viewer)` : "");
    grid.append(
      heading("key", null, "the key pieces"),
      heading("k_j", s("k"), `each key vector${of("k")}`),
      heading("q∘k_j", s("q"), `q times k_j, component by component; q is its own row above${of("q")}`),
      heading("q·k_j", s("dot"), `the sum of q∘k_j${of("dot")}`),
      heading("scaled", s("scaled"), `q·k_j × the model's scaling${of("scaled")}`),
      heading("softmax", s("softmax"), `the attention weight${of("softmax")}`),
    );
    const vecHi = absMax(values, 0, (n + 1) * dh);
    const prodHi = absMax(values, (n + 1) * dh, (2 * n + 1) * dh);
    const palette = theme.palette;
    vecBar.set(palette.divergingRGBA, -vecHi, vecHi, "q and k_j components");
    prodBar.set(palette.divergingRGBA, -prodHi, prodHi, "q∘k_j components");
    softBar.set(palette.sequentialRGBA, 0, 1, "attention weight (the heatmap's scale)");
    // the query's own row: q
    const qCanvas = h("canvas", "tw-row-strip");
    qCanvas.style.width = `${dh * cw}px`;
    paintStrip(qCanvas, values, 0, dh, vecHi, palette);
    qCanvas.dataset.vector = "q";
    grid.append(h("span", "tw-row-label tw-row-q", `q: ${d.labels[query] ?? query}`), qCanvas, h("span"), h("span"), h("span"), h("span"));
    const ramp = palette.sequentialRGBA;
    for (let j = 0; j < n; j++) {
      const label = h("span", `tw-row-label${j === query ? " tw-row-self" : ""}`, d.labels[j] ?? String(j));
      const k = h("canvas", "tw-row-strip");
      k.style.width = `${dh * cw}px`;
      k.dataset.key = String(j);
      k.dataset.vector = "k";
      paintStrip(k, values, (1 + j) * dh, dh, vecHi, palette);
      const p = h("canvas", "tw-row-strip");
      p.style.width = `${dh * cw}px`;
      p.dataset.key = String(j);
      p.dataset.vector = "qk";
      paintStrip(p, values, (1 + n + j) * dh, dh, prodHi, palette);
      const w = d.softmax[j] ?? 0;
      const soft = h("span", "tw-row-soft");
      const fill = h("span", "tw-row-softbar");
      const kk = lutIndex(w, 0, 1, ramp.length / 4) * 4;
      fill.style.width = `${Math.round(Math.max(0, Math.min(1, w)) * 60)}px`;
      fill.style.background = `rgb(${ramp[kk]}, ${ramp[kk + 1]}, ${ramp[kk + 2]})`;
      soft.append(fill, h("span", "tw-row-num", formatValue(w)));
      grid.append(label, k, p, h("span", "tw-row-num", formatValue(d.dot[j] ?? 0)),
        h("span", "tw-row-num", d.scaled[j] === -Infinity ? "−∞" : formatValue(d.scaled[j] ?? 0)), soft);
    }
  };

  const load = () => {
    if (!store.selection.panels.includes("row")) return;
    const { layer, head, variant } = store.selection;
    const query = piecePosition(store.meta, variant, store.selection.token);
    if (query < 0) {
      shown = null;
      clear(grid);
      title.textContent = `${ctx.side ?? ""}Attention row · layer ${layer} · head ${head}`;
      explain.textContent = "";
      status.hidden = false;
      status.textContent =
        variant === "reduced"
          ? "The row view follows one query piece: choose the raw or a nosep variant, then a row of the heatmap."
          : "Click a row of the heatmap (a query token) to see how its attention row is computed.";
      return;
    }
    const hit = client.peekRow(layer, head, query);
    if (hit) return render(hit);
    status.hidden = false;
    status.textContent = `loading the row of piece ${query}…`;
    client
      .row(layer, head, query)
      .then((d) => {
        const now = store.selection;
        if (now.layer === layer && now.head === head && piecePosition(store.meta, now.variant, now.token) === query) render(d);
      })
      .catch((err: Error) => {
        const now = store.selection;
        if (now.layer !== layer || now.head !== head || piecePosition(store.meta, now.variant, now.token) !== query) return;
        shown = null;  // never another row's numbers under this row's error
        clear(grid);
        title.textContent = `${ctx.side ?? ""}Attention row · layer ${layer} · head ${head} · piece ${query}`;
        explain.textContent = "";
        status.textContent = `could not load the row: ${err.message}`;
      });
  };

  bag.listen(grid, "click", (event: MouseEvent) => {
    const link = (event.target as HTMLElement).closest?.(".tw-row-link") as HTMLElement | null;
    if (!link?.dataset.stage) return;
    const panels = store.selection.panels.includes("stages") ? store.selection.panels : [...store.selection.panels, "stages"];
    store.select({ stage: link.dataset.stage, panels });
  });
  bag.listen(grid, "mousemove", (event: MouseEvent) => {
    const strip = (event.target as HTMLElement).closest?.(".tw-row-strip") as HTMLCanvasElement | null;
    const d = shown;
    if (!strip || !d) return tooltip.hide();
    const box = strip.getBoundingClientRect();
    const c = Math.min(d.dh - 1, Math.max(0, Math.floor(((event.clientX - box.left) / box.width) * d.dh)));
    const j = Number(strip.dataset.key ?? -1);
    const which = strip.dataset.vector;
    const at = which === "q" ? c : which === "k" ? (1 + j) * d.dh + c : (1 + d.n + j) * d.dh + c;
    const name = which === "q" ? "q" : which === "k" ? `k_${j}` : `q∘k_${j}`;
    tooltip.show(`${name}[${c}] = ${formatValue(d.values[at]!)}`, event.clientX, event.clientY);
  });
  bag.listen(grid, "mouseleave", () => tooltip.hide());

  const visible = () => {
    el.hidden = !store.selection.panels.includes("row");
  };
  const onChange = (_: unknown, changed: Changed) => {
    if (changed.has("panels")) visible();
    if ((["meta", "layer", "head", "token", "variant", "panels"] as const).some((k) => changed.has(k))) {
      frames.request("load", load);
    }
  };
  bag.add(store.subscribe(onChange));
  bag.add(theme.subscribe(() => shown && render(shown)));
  bag.observeResize(el, () => {
    if (shown && Math.abs((el.clientWidth || 0) - renderedWidth) > 24) render(shown);
  });
  visible();
  load();

  return {
    el,
    dispose() {
      frames.dispose();
      bag.dispose();
    },
  };
}
