// The stage viewer: the encoder diagram (one box per stage) and the panel showing the selected stage's tensor.

import { type StageData, requestKey, stageRequest } from "./client";
import { colorBar } from "./colorbar";
import { cssColor } from "./colors";
import { type DiagramRow, diagramRows } from "./diagram";
import { Disposer, Frames, clear, context2d, h, localPoint } from "./dom";
import { cellAt, thinnedIndices } from "./layout";
import { piecePosition } from "./meta";
import { barLengths, fillFromFloat } from "./paint";
import type { Changed } from "./store";
import type { StageInfo } from "./types";
import { type View, type ViewContext, formatValue } from "./view";

const BAR_WIDTH = 64;
const ROW_LABEL_WIDTH = 84;
const COL_AXIS = 16; // px of the column axis above the tensor

/**
 * CSS pixels per cell of a stage heatmap in `width` pixels: every column visible where 1 px each fits (wider
 * tensors scroll sideways, never shrink below a pixel), at most 16 px; rows 1 … 18 px, about 360 px in all.
 */
export function stageCellSize(rows: number, cols: number, width = 640): { cw: number; ch: number } {
  const cw = Math.max(1, Math.min(16, Math.floor(width / Math.max(1, cols))));
  const ch = Math.max(1, Math.min(18, Math.floor(360 / Math.max(1, rows))));
  return { cw, ch };
}

/** "columns a–b of N" for a scrolled strip of `cols` columns of `cw` px at scrollLeft, `view` px wide; "" when all show. */
export function columnRange(cols: number, cw: number, scrollLeft: number, view: number): string {
  if (cols * cw <= view + 1) return "";
  const first = Math.max(0, Math.floor(scrollLeft / cw));
  const last = Math.min(cols - 1, Math.ceil((scrollLeft + view) / cw) - 1);
  return `columns ${first}–${last} of ${cols} (scroll sideways for the rest)`;
}

/** The text of the shape line: the full tensor with dimension names, then the slice shown. */
export function shapeText(info: StageInfo | undefined, content: Record<string, unknown>, rows: number, cols: number): string {
  const full = info && info.shape.length ? `${info.dims.join("×")} = ${info.shape.join("×")}` : "";
  const dims = Array.isArray(content.dims) ? (content.dims as unknown[]).map((d) => String(d || "1")) : [];
  const whole = Array.isArray(content.full_shape) ? (content.full_shape as unknown[]).map(Number) : [];
  const of = whole.length === 2 && (whole[0] !== rows || whole[1] !== cols) ? ` of ${whole.join("×")}` : "";
  const shown = rows > 0 ? `shown: ${dims.length ? `${dims.join("×")} = ` : ""}${rows}×${cols}${of}` : "";
  return [full && `tensor ${full}`, shown].filter(Boolean).join(" · ");
}

/** Rows of a parity table: nested objects flattened to dotted keys (three levels at most). */
export function parityRows(value: unknown, prefix = "", depth = 0): Array<[string, unknown]> {
  if (!value || typeof value !== "object" || Array.isArray(value) || depth >= 3) return [[prefix || "value", value]];
  const rows: Array<[string, unknown]> = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === "object" && !Array.isArray(v)) rows.push(...parityRows(v, key, depth + 1));
    else rows.push([key, v]);
  }
  return rows;
}

/** The note under an aggregated reply, or "" when every value is shown. */
export function aggregationNote(content: Record<string, unknown>): string {
  const rs = Number(content.row_step ?? 1) || 1;
  const cs = Number(content.col_step ?? 1) || 1;
  if (rs <= 1 && cs <= 1) return "";
  return `aggregated: each cell is the mean of ${rs} row${rs > 1 ? "s" : ""} × ${cs} column${cs > 1 ? "s" : ""} (statistics and norms use every value)`;
}

function formatCell(v: unknown): string {
  if (typeof v === "number") return formatValue(v);
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

export function mountStages(ctx: ViewContext): View {
  const { store, client, tooltip, theme } = ctx;
  const bag = new Disposer();
  const frames = new Frames();

  const el = h("div", "tw-panel tw-stages");
  const heading = h("div", "tw-title", "Stages of the forward pass · click a box to see its tensor");
  const diagram = h("div", "tw-diagram");
  const panel = h("div", "tw-stage-panel");
  el.append(heading, diagram, panel);

  const pTitle = h("div", "tw-stage-title");
  const pShape = h("div", "tw-stage-shape");
  const pFormula = h("div", "tw-stage-formula");
  const pMeaning = h("div", "tw-stage-meaning");
  const pStats = h("div", "tw-stage-stats");
  const pNote = h("div", "tw-stage-note");
  const pScale = h("div", "tw-stage-scale");
  const bar = colorBar();
  const pCols = h("div", "tw-stage-cols");
  const pStatus = h("div", "tw-loading");
  const plotRow = h("div", "tw-stage-plotrow");
  const rowLabels = h("div", "tw-stage-rowlabels");
  const scroll = h("div", "tw-stage-scroll");
  const colAxis = h("div", "tw-stage-colaxis");
  const canvasBox = h("div", "tw-stage-canvasbox");
  const canvas = h("canvas", "tw-stage-canvas");
  const rowMark = h("div", "tw-stage-rowmark");
  const bars = h("canvas", "tw-stage-norms");
  const parity = h("table", "tw-stage-parity");
  const textOut = h("div", "tw-stage-text");
  rowMark.hidden = true;
  canvasBox.append(canvas, rowMark);
  scroll.append(colAxis, canvasBox);
  plotRow.append(rowLabels, scroll, bars);
  pScale.append(bar.el);
  panel.append(pTitle, pShape, pFormula, pMeaning, pStats, pNote, pStatus, pScale, pCols, plotRow, parity, textOut);

  let boxes = new Map<string, HTMLElement>();
  let layerTitle: HTMLElement | null = null;
  let shown: StageData | null = null;
  let cells = { cw: 1, ch: 1 };

  const stageInfo = (name: string) => store.meta.stages.find((s) => s.name === name);

  const buildDiagram = () => {
    clear(diagram);
    boxes = new Map();
    layerTitle = null;
    let section: string | null = null;
    let sectionEl: HTMLElement | null = null;
    for (const row of diagramRows(store.meta.steps, store.meta.stages)) {
      if (row.section !== section || !sectionEl) {
        section = row.section;
        sectionEl = h("div", `tw-diagram-section${section === "encoder layer" ? " tw-section-layer" : ""}`);
        const title = h("div", "tw-diagram-heading", section);
        if (section === "encoder layer") layerTitle = title;
        sectionEl.appendChild(title);
        diagram.appendChild(sectionEl);
      }
      sectionEl.appendChild(buildRow(row));
    }
    diagram.dataset.count = String(boxes.size);
    markSelected();
    writeLayerTitle();
  };

  const box = (name: string, param: boolean) => {
    const b = h("button", `tw-stage-box${param ? " tw-stage-param" : ""}`, name);
    b.type = "button";
    b.dataset.stage = name;
    const info = stageInfo(name);
    if (info?.meaning) b.title = info.meaning;
    boxes.set(name, b);
    return b;
  };

  const buildRow = (row: DiagramRow) => {
    const r = h("div", "tw-diagram-row");
    r.appendChild(h("span", "tw-diagram-step", row.title));
    const main = h("div", "tw-diagram-boxes");
    for (const name of row.stages) main.appendChild(box(name, false));
    for (const name of row.params) main.appendChild(box(name, true));
    r.appendChild(main);
    return r;
  };

  const writeLayerTitle = () => {
    if (!layerTitle) return;
    const { layer, head } = store.selection;
    layerTitle.textContent = `encoder layer ${layer} of ${store.meta.n_layers} (head ${head}) · repeated for every layer`;
  };

  const markSelected = () => {
    const current = store.selection.stage;
    for (const [name, b] of boxes) {
      const on = name === current;
      b.classList.toggle("tw-selected", on);
      b.setAttribute("aria-pressed", on ? "true" : "false");
    }
  };

  /** Symbolic stages reply with text (the sentence, the pieces): shown as pieces, through textContent. */
  const showText = (value: unknown) => {
    clear(textOut);
    const items = Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
    textOut.hidden = items.length === 0;
    for (const item of items) textOut.appendChild(h("span", "tw-stage-piece", typeof item === "string" ? item : JSON.stringify(item)));
  };

  const describeStage = (info: StageInfo | undefined, name: string) => {
    pTitle.textContent = `${ctx.side ?? ""}${info ? `${name} · ${info.kind || info.group}` : name}`;
    pFormula.textContent = info?.formula ?? "";
    pMeaning.textContent = info?.meaning ?? "";
  };

  const clearPlot = () => {
    shown = null;
    plotRow.hidden = true;
    parity.hidden = true;
    textOut.hidden = true;
    pStats.textContent = "";
    pNote.textContent = "";
    pShape.textContent = "";
    pCols.textContent = "";
    bar.hide();
  };

  const load = () => {
    if (!store.selection.panels.includes("stages")) return; // closed: nothing asked for
    const { stage, layer, head } = store.selection;
    const info = stageInfo(stage);
    if (!stage || !info) {
      clearPlot();
      pTitle.textContent = store.meta.stages.length ? "Click a box to see its tensor." : "";
      pFormula.textContent = pMeaning.textContent = "";
      pStatus.hidden = true;
      return;
    }
    describeStage(info, stage);
    const key = requestKey(stageRequest(stage, layer, head, info.per_layer, info.per_head));
    const hit = client.peekStage(stage, layer, head, info.per_layer, info.per_head);
    if (hit) return show(hit, info);
    pStatus.textContent = `loading ${stage}…`;
    pStatus.hidden = false;
    client
      .stage(stage, layer, head, info.per_layer, info.per_head)
      .then((data) => {
        const now = store.selection;
        if (requestKey(stageRequest(now.stage, now.layer, now.head, info.per_layer, info.per_head)) === key) show(data, info);
      })
      .catch((err: Error) => {
        clearPlot();
        pStatus.textContent = `could not load ${stage}: ${err.message}`;
        pStatus.hidden = false;
      });
  };

  const show = (data: StageData, info: StageInfo) => {
    pStatus.hidden = true;
    const c = data.content;
    pShape.textContent = shapeText(info, c, data.rows, data.cols);
    const stats = c.stats && typeof c.stats === "object" ? (c.stats as Record<string, unknown>) : null;
    pStats.textContent = stats
      ? ["min", "max", "mean", "std"].filter((k) => k in stats).map((k) => `${k} ${formatCell(stats[k])}`).join(" · ")
      : "";
    pNote.textContent = (typeof c.note === "string" && c.note) || aggregationNote(c);
    showParity(c.parity);
    showText(c.text);
    shown = data;
    plotRow.hidden = !data.values;
    if (!data.values) {
      bar.hide(); // a text or parity stage: no colour scale (not the last tensor's)
      pCols.textContent = "";
    }
    if (data.values) {
      layoutPlot(data);
      frames.request("paint", paint);
    }
  };

  const showParity = (value: unknown) => {
    clear(parity);
    parity.hidden = !(value && typeof value === "object");
    if (parity.hidden) return;
    for (const [k, v] of parityRows(value)) {
      const tr = h("tr");
      tr.append(h("th", undefined, k), h("td", undefined, formatCell(v)));
      parity.appendChild(tr);
    }
  };

  /** Room for the tensor: the panel's width less the row labels and the norm bars. */
  const plotWidth = () => Math.max(120, (panel.clientWidth || 640) - ROW_LABEL_WIDTH - BAR_WIDTH - 12);

  const layoutPlot = (data: StageData) => {
    const width = plotWidth();
    cells = stageCellSize(data.rows, data.cols, width);
    const w = data.cols * cells.cw;
    const hgt = data.rows * cells.ch;
    canvas.width = data.cols;
    canvas.height = data.rows;
    canvas.style.width = `${w}px`;
    canvas.style.height = `${hgt}px`;
    canvasBox.style.width = `${w}px`;
    canvasBox.style.height = `${hgt}px`;
    scroll.style.maxWidth = `${width}px`;
    bars.width = BAR_WIDTH;
    bars.height = Math.max(1, hgt);
    bars.style.width = `${BAR_WIDTH}px`;
    bars.style.height = `${hgt}px`;
    bars.style.marginTop = `${COL_AXIS}px`;
    rowLabels.style.height = `${hgt}px`;
    rowLabels.style.marginTop = `${COL_AXIS}px`;
    clear(rowLabels);
    const labels = Array.isArray(data.content.row_labels) ? (data.content.row_labels as unknown[]).map(String) : [];
    const dims = Array.isArray(data.content.dims) ? (data.content.dims as unknown[]).map(String) : [];
    const rs = Number(data.content.row_step ?? 1) || 1;
    for (const i of thinnedIndices(data.rows, cells.ch, 12)) {
      const s = h("span", "tw-label", labels[i] ?? `${dims[0] || "row"} ${i * rs}`);
      s.style.top = `${(i + 0.5) * cells.ch}px`;
      rowLabels.appendChild(s);
    }
    // the column axis: an index every ≥ 40 px (of the full tensor, where columns were aggregated)
    clear(colAxis);
    colAxis.style.width = `${w}px`;
    const cs = Number(data.content.col_step ?? 1) || 1;
    for (const j of thinnedIndices(data.cols, cells.cw, 40)) {
      const t = h("span", "tw-stage-tick", String(j * cs));
      t.style.left = `${j * cells.cw}px`;
      colAxis.appendChild(t);
    }
    writeColumns();
    markRow();
  };

  const writeColumns = () => {
    const data = shown;
    if (!data?.values) return;
    const cs = Number(data.content.col_step ?? 1) || 1;
    const dims = Array.isArray(data.content.dims) ? (data.content.dims as unknown[]).map(String) : [];
    const text = columnRange(data.cols, cells.cw, scroll.scrollLeft, scroll.clientWidth || plotWidth());
    const axis = dims[1] ? `${dims[1]} → ` : "";
    pCols.textContent = text && cs > 1 ? `${axis}${text} (each column the mean of ${cs})` : text && `${axis}${text}`;
  };

  /** The selected token's row, where the rows are the tokens (row_labels sent). */
  const markRow = () => {
    const data = shown;
    const labels = data && Array.isArray(data.content.row_labels) ? data.content.row_labels : null;
    const { variant, token } = store.selection;
    const p = labels ? piecePosition(store.meta, variant, token) : -1;
    rowMark.hidden = !(data?.values && p >= 0 && p < data.rows);
    if (rowMark.hidden) return;
    rowMark.style.top = `${p * cells.ch}px`;
    rowMark.style.height = `${Math.max(2, cells.ch)}px`;
    rowMark.title = `selected token: ${String(labels![p])}`;
  };

  const paint = () => {
    const data = shown;
    if (!data?.values) return;
    const g = context2d(canvas);
    const colour = (data.content.colour ?? {}) as Record<string, unknown>;
    const signed = colour.scale === "diverging";
    const lo = Number(colour.lo ?? 0);
    const hi = Number(colour.hi ?? 1);
    const palette = theme.palette;
    bar.set(signed ? palette.divergingRGBA : palette.sequentialRGBA, lo, hi, "colour scale of this tensor");
    if (!g) return;
    const image = g.createImageData(data.cols, data.rows);
    fillFromFloat(new Uint32Array(image.data.buffer), data.values, 0, data.values.length, signed ? palette.diverging : palette.sequential, lo, hi);
    g.putImageData(image, 0, 0);
    paintBars(data);
  };

  const paintBars = (data: StageData) => {
    const g = context2d(bars);
    if (!g) return;
    const norms = Array.isArray(data.content.row_norms) ? (data.content.row_norms as unknown[]).map(Number) : [];
    g.clearRect(0, 0, bars.width, bars.height);
    g.fillStyle = cssColor(theme.palette.foreground, 0.55);
    const lengths = barLengths(norms, BAR_WIDTH - 2);
    const ch = cells.ch;
    lengths.forEach((len, i) => g.fillRect(0, i * ch + (ch > 3 ? 1 : 0), len, Math.max(1, ch > 3 ? ch - 2 : ch)));
  };

  bag.listen(diagram, "click", (event: MouseEvent) => {
    const target = (event.target as HTMLElement).closest?.(".tw-stage-box") as HTMLElement | null;
    const name = target?.dataset.stage;
    if (!name) return;
    store.select({ stage: name });
    // the tensor is under the diagram: bring it on screen, else a click on a laptop seems to do nothing
    panel.scrollIntoView?.({ block: "nearest", behavior: "smooth" });
  });
  bag.listen(scroll, "scroll", writeColumns, { passive: true });
  bag.listen(canvas, "mousemove", (event: MouseEvent) => {
    const data = shown;
    if (!data?.values) return;
    const p = localPoint(event, canvas);
    const cell = cellAt(p.x, p.y, p.width, p.height, data.rows, data.cols);
    if (!cell) return tooltip.hide();
    const labels = Array.isArray(data.content.row_labels) ? (data.content.row_labels as unknown[]).map(String) : [];
    const dims = Array.isArray(data.content.dims) ? (data.content.dims as unknown[]).map(String) : [];
    const cs = Number(data.content.col_step ?? 1) || 1;
    const norms = Array.isArray(data.content.row_norms) ? (data.content.row_norms as unknown[]) : [];
    const norm = typeof norms[cell.row] === "number" ? ` · row norm ${formatValue(norms[cell.row] as number)}` : "";
    tooltip.show(
      `${labels[cell.row] ?? cell.row} · ${dims[1] ?? "col"} ${cell.col * cs}${cs > 1 ? `…${(cell.col + 1) * cs - 1}` : ""}: ${formatValue(data.values[cell.row * data.cols + cell.col]!)}${norm}`,
      event.clientX,
      event.clientY,
    );
  });
  bag.listen(canvas, "mouseleave", () => tooltip.hide());

  const visible = () => {
    el.hidden = store.meta.stages.length === 0 || !store.selection.panels.includes("stages");
  };

  const onChange = (_: unknown, changed: Changed) => {
    if (changed.has("meta")) buildDiagram();
    if (changed.has("meta") || changed.has("panels")) visible();
    if (changed.has("stage")) markSelected();
    if (changed.has("layer") || changed.has("head")) writeLayerTitle();
    if (changed.has("token") || changed.has("variant")) markRow();
    if ((["meta", "stage", "layer", "head", "panels"] as const).some((k) => changed.has(k))) load();
  };
  bag.add(store.subscribe(onChange));
  bag.add(theme.subscribe(() => frames.request("paint", paint)));
  bag.observeResize(panel, () => {
    if (shown?.values && Math.abs(plotWidth() - (Number(scroll.style.maxWidth.replace("px", "")) || 0)) > 8) {
      layoutPlot(shown);
      frames.request("paint", paint);
    }
  });

  visible();
  buildDiagram();
  load();

  return {
    el,
    dispose() {
      frames.dispose();
      bag.dispose();
    },
  };
}
