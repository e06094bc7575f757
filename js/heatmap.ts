// The heatmap view: the selected head's m×m attention drawn through ImageData, labelled axes, hover tooltip.

import { MASK_TEXT, SEEN, maskOf, maskedColour, paintMask } from "./causal";
import { halfTableF32 } from "./codec";
import type { LayerData } from "./client";
import { colorBar } from "./colorbar";
import { Disposer, Frames, context2d, clear, h, localPoint } from "./dom";
import { HEATMAP_COL_LABELS, HEATMAP_ROW_LABELS, cellAt, heatmapSide, segmentBoundary, thinnedIndices } from "./layout";
import { fillFromHalf, maxAbsOfHalf, maxOfHalf } from "./paint";
import { saveHeatmap } from "./save";
import type { Changed } from "./store";
import { type View, type ViewContext, formatValue, headWords, loadLayer, mapRange } from "./view";

const LABEL_MIN_PX = 14;

export interface HeatmapView extends View {
  /** The side of the map in CSS pixels, from the widget's layout. */
  setSide(px: number): void;
}

export function mountHeatmap(ctx: ViewContext): HeatmapView {
  const { store, client, root, tooltip, theme } = ctx;
  const bag = new Disposer();
  const frames = new Frames();

  const el = h("div", "tw-panel tw-heatmap");
  const titleRow = h("div", "tw-titlerow");
  const title = h("div", "tw-title");
  const bar = colorBar();
  const save = h("span", "tw-save");
  const savePng = h("button", "tw-button", "PNG");
  const saveSvg = h("button", "tw-button", "SVG");
  savePng.type = saveSvg.type = "button";
  savePng.title = "save this map (labels and colour bar included) as a PNG image";
  saveSvg.title = "save this map as an SVG drawing";
  save.append(savePng, saveSvg);
  titleRow.append(title, bar.el, save);
  const grid = h("div", "tw-hm-grid");
  const colLabels = h("div", "tw-hm-collabels");
  const rowLabels = h("div", "tw-hm-rowlabels");
  const plot = h("div", "tw-hm-plot");
  const canvas = h("canvas", "tw-hm-canvas");
  const hlRow = h("div", "tw-hm-hl tw-hm-hlrow");
  const hlCol = h("div", "tw-hm-hl tw-hm-hlcol");
  const sepH = h("div", "tw-hm-sep tw-hm-sep-h");
  const sepV = h("div", "tw-hm-sep tw-hm-sep-v");
  const status = h("div", "tw-loading");
  const corner = h("div", "tw-hm-corner", "rows attend to columns");
  // the highlighted row's (and hovered column's) own label, over the thinned ones
  const rowNow = h("span", "tw-label tw-label-now");
  const colNow = h("span", "tw-label tw-collabel tw-label-now");
  canvas.width = 1;
  canvas.height = 1;
  plot.append(canvas, sepH, sepV, hlRow, hlCol, status);
  grid.append(corner, colLabels, rowLabels, plot);
  el.append(titleRow, grid);
  for (const node of [hlRow, hlCol, sepH, sepV]) node.hidden = true;

  let side = heatmapSide(store.m, 320);
  let available = 320;
  let range: [number, number] = [0, 1];
  let image: ImageData | null = null;
  let image32: Uint32Array | null = null;
  let hover: { row: number; col: number } | null = null;
  let shown: LayerData | null = null;
  let switchStart = 0;

  const layout = () => {
    const m = store.m;
    side = heatmapSide(m, available);
    grid.style.gridTemplateColumns = `${HEATMAP_ROW_LABELS}px ${side}px`;
    grid.style.gridTemplateRows = `${HEATMAP_COL_LABELS}px ${side}px`;
    plot.style.width = `${side}px`;
    // whole cells stay crisp; under a pixel per cell the browser averages them (nearest would drop rows)
    canvas.style.imageRendering = m > side ? "auto" : "pixelated";
    el.style.width = `${HEATMAP_ROW_LABELS + side}px`; // the title row wraps within the map's width
    plot.style.height = `${side}px`;
    const { labels, segments, special } = store.variant;
    const cell = m > 0 ? side / m : side;
    clear(rowLabels);
    clear(colLabels);
    const step = thinnedIndices(m, cell, LABEL_MIN_PX);
    for (const i of step) {
      const text = labels[i] ?? "";
      const segClass = `tw-seg${segments[i] === 1 ? 1 : 0}${special[i] ? " tw-special" : ""}`;
      const r = h("span", `tw-label ${segClass}`, text);
      r.dataset.index = String(i);
      r.style.top = `${Math.min(side - 6, Math.max(6, (i + 0.5) * cell))}px`;
      rowLabels.appendChild(r);
      const c = h("span", `tw-label tw-collabel ${segClass}`, text);
      c.dataset.index = String(i);
      c.style.left = `${Math.min(side - 6, Math.max(6, (i + 0.5) * cell))}px`;
      colLabels.appendChild(c);
    }
    rowLabels.dataset.count = String(step.length);
    rowLabels.appendChild(rowNow);
    colLabels.appendChild(colNow);
    const boundary = segmentBoundary(segments);
    sepH.hidden = sepV.hidden = boundary < 0;
    if (boundary >= 0) {
      sepH.style.top = `${boundary * cell}px`;
      sepV.style.left = `${boundary * cell}px`;
    }
    placeHighlights();
  };

  const placeHighlights = () => {
    const m = store.m;
    const cell = m > 0 ? side / m : side;
    const row = hover ? hover.row : store.selection.token;
    hlRow.hidden = !(row >= 0 && row < m);
    if (!hlRow.hidden) {
      hlRow.style.top = `${row * cell}px`;
      hlRow.style.height = `${Math.max(1, cell)}px`;
    }
    hlCol.hidden = !hover;
    if (hover) {
      hlCol.style.left = `${hover.col * cell}px`;
      hlCol.style.width = `${Math.max(1, cell)}px`;
    }
    const { labels } = store.variant;
    const place = (node: HTMLElement, i: number, prop: "top" | "left") => {
      node.hidden = !(i >= 0 && i < m);
      if (node.hidden) return;
      node.textContent = labels[i] ?? "";
      node.style[prop] = `${Math.min(side - 6, Math.max(6, (i + 0.5) * cell))}px`;
    };
    place(rowNow, row, "top");
    place(colNow, hover ? hover.col : -1, "left");
  };

  const writeTitle = () => {
    const { layer, variant } = store.selection;
    const kind = store.variant.group === "contributions" ? "Contributions" : "Attention";
    title.textContent = `${ctx.caption ? ctx.caption(variant) : kind} · layer ${layer} · ${headWords(store)} · ${variant}`;
  };

  /** Colours the selected head into the canvas; the one place that touches pixels. */
  const paint = () => {
    const { variant, layer } = store.selection;
    const head = store.shownHead;
    const data = client.peekLayer(variant, layer);
    if (!data || head >= data.heads) return;
    const t0 = performance.now();
    const m = data.m;
    const g = context2d(canvas);
    if (canvas.width !== m || canvas.height !== m) {
      canvas.width = m;
      canvas.height = m;
      image = null;
    }
    if (!g) return;
    if (!image) {
      image = g.createImageData(m, m);
      image32 = new Uint32Array(image.data.buffer);
    }
    const table = halfTableF32();
    const offset = head * m * m;
    const info = store.variant;
    // a difference (signed) is diverging around 0 up to ±its largest |value|; a view on its own scale otherwise
    const signedMax = data.signed ? maxAbsOfHalf(data.bits, offset, m * m, table) : 0;
    const layerMax = !data.signed && info.scale === "max" ? maxOfHalf(data.bits, 0, data.heads * m * m, table) : 0;
    range = data.signed ? [-(signedMax || 1), signedMax || 1]
      : mapRange(info.scale, store.selection.color_scale, maxOfHalf(data.bits, offset, m * m, table), layerMax);
    const lut = data.signed ? theme.palette.diverging : theme.palette.sequential;
    fillFromHalf(image32!, data.bits, offset, m * m, table, lut, range[0], range[1]);
    // a causal model's masked cells are not values of 0: they are grey, off the colour ramp
    const mask = maskOf(store.meta, variant, layer, m);
    if (mask) paintMask(image32!, mask, maskedColour(theme.palette));
    g.putImageData(image, 0, 0);
    const t1 = performance.now();
    shown = data;
    if (data.signed) bar.set(theme.palette.divergingRGBA, range[0], range[1], "difference b − a, ± its largest |value| in this head");
    else bar.set(theme.palette.sequentialRGBA, range[0], range[1], store.selection.color_scale === "head" ? "0 … this head's max" : info.quantity);
    canvas.dataset.painted = "1"; // the benchmark's first-paint mark (benchmarks/browser.py)
    root.dataset.lastPaintMs = (t1 - t0).toFixed(2);
    if (switchStart > 0) {
      root.dataset.lastSwitchMs = (t1 - switchStart).toFixed(2);
      switchStart = 0;
    }
  };

  const load = () => {
    if (store.meta.n_layers === 0) {
      status.textContent = "waiting for data…";
      status.hidden = false;
      return;
    }
    loadLayer(ctx, status, () => frames.request("paint", paint));
  };

  const onChange = (_: unknown, changed: Changed) => {
    writeTitle();
    if (changed.has("meta") || changed.has("variant")) layout();
    if (changed.has("head")) switchStart = performance.now();
    if (changed.has("meta") || changed.has("variant") || changed.has("layer") || changed.has("head")) load();
    else if (changed.has("color_scale")) frames.request("paint", paint);
    if (changed.has("token")) placeHighlights();
    if (changed.has("panels")) el.hidden = !store.selection.panels.includes("heatmap");
  };

  const onMove = (event: MouseEvent) => {
    const p = localPoint(event, plot);
    const m = store.m;
    const cell = cellAt(p.x, p.y, p.width, p.height, m, m);
    if (!cell) return onLeave();
    hover = cell;
    const { labels } = store.variant;
    const data = shown && shown === client.peekLayer(store.selection.variant, store.selection.layer) ? shown : null;
    const value = data ? halfTableF32()[data.bits[store.shownHead * m * m + cell.row * m + cell.col]!]! : Number.NaN;
    const masked = maskOf(store.meta, store.selection.variant, store.selection.layer, m)?.[cell.row * m + cell.col] ?? SEEN;
    tooltip.show(
      `${labels[cell.row] ?? cell.row} → ${labels[cell.col] ?? cell.col}: ${
        masked !== SEEN ? MASK_TEXT[masked] : data ? formatValue(value) : "…"}`,
      event.clientX,
      event.clientY,
    );
    store.hoverToken(cell.row);
    placeHighlights();
  };

  const onLeave = () => {
    if (!hover) return;
    hover = null;
    tooltip.hide();
    store.leaveToken();
    placeHighlights();
  };

  const onClick = (event: MouseEvent) => {
    const p = localPoint(event, plot);
    const cell = cellAt(p.x, p.y, p.width, p.height, store.m, store.m);
    if (cell) store.pinToken(cell.row);
  };

  const onRowLabels = (event: MouseEvent) => {
    const p = localPoint(event, plot);
    const row = cellAt(0, p.y, 1, p.height, store.m, 1)?.row ?? -1;
    if (event.type === "click" && row >= 0) store.pinToken(row);
    else if (row >= 0) {
      store.hoverToken(row);
      const label = store.variant.labels[row] ?? "";
      tooltip.show(`row ${row}: ${label}`, event.clientX, event.clientY);
    }
  };

  bag.listen(plot, "mousemove", onMove);
  bag.listen(plot, "mouseleave", onLeave);
  bag.listen(plot, "click", onClick);
  bag.listen(rowLabels, "mousemove", onRowLabels);
  bag.listen(rowLabels, "click", onRowLabels);
  bag.listen(rowLabels, "mouseleave", () => {
    tooltip.hide();
    store.leaveToken();
  });
  const saveAs = (kind: "png" | "svg") => {
    const data = shown;
    const { variant, layer } = store.selection;
    const head = store.shownHead;
    if (!data || head >= data.heads) return;
    const { labels } = store.variant;
    const m = data.m;
    const table = halfTableF32();
    const values = new Float32Array(m * m);
    for (let i = 0; i < m * m; i++) values[i] = table[data.bits[head * m * m + i]!]!;
    saveHeatmap(kind, {
      name: `${data.signed ? "difference" : store.variant.group}-L${layer}-${store.perHead ? `H${head}` : "layer"}-${variant}`,
      title: `${store.meta.model_name} · ${ctx.caption ? `${ctx.caption(variant)} · ` : ""}layer ${layer} · ${headWords(store)} · ${variant}`,
      signed: data.signed === true,
      labels,
      values,
      m,
      range,
      palette: theme.palette,
    });
  };
  bag.listen(savePng, "click", () => saveAs("png"));
  bag.listen(saveSvg, "click", () => saveAs("svg"));
  bag.add(store.subscribe(onChange));
  bag.add(
    theme.subscribe(() => {
      frames.request("paint", paint);
    }),
  );

  writeTitle();
  layout();
  load();

  el.hidden = !store.selection.panels.includes("heatmap");

  return {
    el,
    setSide(px: number) {
      if (Math.abs(px - available) < 4) return;
      available = px;
      layout();
    },
    dispose() {
      frames.dispose();
      bag.dispose();
    },
  };
}
