// The logit lens panel: hidden states (rows: the embeddings, then each layer's output) × positions (columns), each
// cell the top token the model's own read-out gives there, coloured by its probability; the k most likely in the
// tooltip. Rows and columns follow the selection (layer, token); a click selects them. Data: the `lens` request.

import { type LensLike, readLensReply } from "./lensdata";
import { positionOfRow, rowOfPosition } from "./causal";
import { colorBar } from "./colorbar";
import { cssColor, luminance, lutIndex } from "./colors";
import { Disposer, clear, h } from "./dom";
import type { Changed } from "./store";
import { type View, type ViewContext, formatValue } from "./view";

/** "‘Ġsat’ 0.412 · ‘Ġon’ 0.101": the k tokens of one cell, most likely first. */
export function cellText(lens: LensLike, row: number, pos: number): string {
  const parts: string[] = [];
  for (let r = 0; r < lens.k; r++) {
    const i = (row * lens.n + pos) * lens.k + r;
    parts.push(`‘${lens.vocab[lens.ids[i]!] ?? "?"}’ ${formatValue(lens.probs[i]!)}`);
  }
  return parts.join(" · ");
}

export function mountLens(ctx: ViewContext): View {
  const { store, client, tooltip, theme } = ctx;
  const bag = new Disposer();

  const el = h("div", "tw-panel tw-lens");
  const titleRow = h("div", "tw-titlerow");
  const title = h("div", "tw-title");
  const bar = colorBar(72);
  titleRow.append(title, bar.el);
  const note = h("div", "tw-lens-note");
  const scroller = h("div", "tw-lens-scroll");
  const table = h("table", "tw-lens-table");
  const status = h("div", "tw-loading");
  status.hidden = true;
  scroller.appendChild(table);
  el.append(titleRow, note, scroller, status);

  let lens: LensLike | null = null;
  let asked: unknown = null; // the meta the shown (or awaited) lens belongs to
  let cells: HTMLTableCellElement[][] = [];
  let rowHeads: HTMLElement[] = [];
  let colHeads: HTMLElement[] = [];
  let marked: { row: number; pos: number } = { row: -1, pos: -1 };

  const shown = () => store.selection.panels.includes("lens");

  const writeTitle = () => {
    const info = store.meta.lens;
    const what = info?.kind === "next token" ? "the next token after each position" : "the token at each position";
    title.textContent = `Logit lens · ${what}, read from each hidden state`;
    note.textContent = info
      ? "rows: the embeddings, then each layer's output, through the model's own read-out; the last row is the model's " +
        "prediction. Colour: the top token's probability; hover for the top " + info.k + ", click to select layer and token."
      : "This model has no output head to read its hidden states through (load it with its language-model head, " +
        "e.g. AutoModelForCausalLM or …ForMaskedLM, to see the logit lens).";
    bar.set(theme.palette.sequentialRGBA, 0, 1, "probability of the top token");
    if (!info) bar.hide();
  };

  const build = () => {
    clear(table);
    cells = [];
    rowHeads = [];
    colHeads = [];
    marked = { row: -1, pos: -1 };
    if (!lens) return;
    const { tokens } = store.meta;
    const ramp = theme.palette.sequentialRGBA;
    const n = ramp.length / 4;
    const head = h("tr");
    head.appendChild(h("th", "tw-lens-corner"));
    for (let p = 0; p < lens.n; p++) {
      const th = h("th", "tw-lens-pos", tokens[p] ?? String(p));
      th.dataset.pos = String(p);
      th.title = `position ${p}: ${tokens[p] ?? ""}`;
      head.appendChild(th);
      colHeads.push(th);
    }
    const thead = h("thead");
    thead.appendChild(head);
    const tbody = h("tbody");
    for (let r = 0; r < lens.rows.length; r++) {
      const tr = h("tr");
      const th = h("th", "tw-lens-row", r === 0 ? lens.rows[0] ?? "emb" : `L${lens.rows[r] ?? r - 1}`);
      th.dataset.row = String(r);
      tr.appendChild(th);
      rowHeads.push(th);
      const line: HTMLTableCellElement[] = [];
      for (let p = 0; p < lens.n; p++) {
        const i = (r * lens.n + p) * lens.k;
        const td = h("td", "tw-lens-cell", lens.vocab[lens.ids[i]!] ?? "?");
        const k = lutIndex(lens.probs[i]!, 0, 1, n) * 4;
        const rgb = [ramp[k]!, ramp[k + 1]!, ramp[k + 2]!] as const;
        td.style.background = cssColor(rgb);
        td.style.color = luminance(rgb) < 0.3 ? "#fff" : "#111";
        td.dataset.row = String(r);
        td.dataset.pos = String(p);
        tr.appendChild(td);
        line.push(td);
      }
      tbody.appendChild(tr);
      cells.push(line);
    }
    table.append(thead, tbody);
    mark();
  };

  /** The selected layer's row (its output: row layer + 1) and the selected token's column, highlighted. */
  const mark = () => {
    if (!lens) return;
    const { layer, token, variant } = store.selection;
    const row = layer + 1 < lens.rows.length ? layer + 1 : -1;
    const pos = positionOfRow(store.meta, variant, token);
    if (row === marked.row && pos === marked.pos) return;
    const toggleRow = (r: number, on: boolean) => {
      rowHeads[r]?.classList.toggle("tw-lens-sel", on);
      for (const td of cells[r] ?? []) td.classList.toggle("tw-lens-selrow", on);
    };
    const toggleCol = (p: number, on: boolean) => {
      colHeads[p]?.classList.toggle("tw-lens-sel", on);
      for (const line of cells) line[p]?.classList.toggle("tw-lens-selcol", on);
    };
    if (marked.row >= 0) toggleRow(marked.row, false);
    if (marked.pos >= 0) toggleCol(marked.pos, false);
    if (row >= 0) toggleRow(row, true);
    if (pos >= 0 && pos < lens.n) toggleCol(pos, true);
    marked = { row, pos: pos < lens.n ? pos : -1 };
    el.dataset.row = String(marked.row);
    el.dataset.pos = String(marked.pos);
    reveal(row, marked.pos);
  };

  /** Scrolls the grid itself (never the page) so that the marked cell shows beside the sticky headers. */
  const reveal = (row: number, pos: number) => {
    const cell = cells[Math.max(0, row)]?.[Math.max(0, pos)];
    if (!cell || (row < 0 && pos < 0)) return;
    const stickyLeft = rowHeads[0]?.offsetWidth ?? 0;
    const stickyTop = colHeads[0]?.offsetHeight ?? 0;
    if (pos >= 0) {
      const left = cell.offsetLeft - stickyLeft;
      const right = cell.offsetLeft + cell.offsetWidth;
      if (left < scroller.scrollLeft) scroller.scrollLeft = left;
      else if (right > scroller.scrollLeft + scroller.clientWidth) scroller.scrollLeft = right - scroller.clientWidth;
    }
    if (row >= 0) {
      const top = cell.offsetTop - stickyTop;
      const bottom = cell.offsetTop + cell.offsetHeight;
      if (top < scroller.scrollTop) scroller.scrollTop = top;
      else if (bottom > scroller.scrollTop + scroller.clientHeight) scroller.scrollTop = bottom - scroller.clientHeight;
    }
  };

  const load = () => {
    writeTitle();
    const meta = store.meta;
    if (!shown() || !meta.lens) {
      if (!meta.lens) {
        lens = null;
        build();
      }
      return;
    }
    if (asked === meta) return; // loaded, or on its way
    asked = meta;
    const k = meta.lens.k;
    status.textContent = "computing the logit lens…";
    status.hidden = false;
    client
      .request({ what: "lens", k })
      .then(({ content, buffers }) => {
        if (asked !== meta) return;
        lens = readLensReply(content, buffers);
        status.hidden = true;
        build();
      })
      .catch((err: Error) => {
        asked = null; // asking again may work (a kernel that comes back)
        status.textContent = `could not load the logit lens: ${err.message}`;
        status.hidden = false;
      });
  };

  const cellOf = (event: Event): { row: number; pos: number } | null => {
    const td = (event.target as HTMLElement).closest?.(".tw-lens-cell") as HTMLElement | null;
    if (!td) return null;
    return { row: Number(td.dataset.row), pos: Number(td.dataset.pos) };
  };

  bag.listen(table, "mousemove", (event: MouseEvent) => {
    const at = cellOf(event);
    if (!at || !lens) return tooltip.hide();
    const where = at.row === 0 ? "embeddings" : `layer ${at.row - 1}'s output`;
    const token = store.meta.tokens[at.pos] ?? String(at.pos);
    const rel = lens.kind === "next token" ? `after “${token}”` : `at “${token}”`;
    tooltip.show(`${where} · ${rel} (position ${at.pos}): ${cellText(lens, at.row, at.pos)}`, event.clientX, event.clientY);
  });
  bag.listen(table, "mouseleave", () => tooltip.hide());
  bag.listen(table, "click", (event: MouseEvent) => {
    const at = cellOf(event);
    if (!at) return;
    const { variant } = store.selection;
    store.select({ layer: Math.max(0, at.row - 1), token: rowOfPosition(store.meta, variant, at.pos) });
  });

  const onChange = (_: unknown, changed: Changed) => {
    if (changed.has("panels")) el.hidden = !shown();
    if (changed.has("meta")) asked = null;
    if (changed.has("meta") || changed.has("panels")) load();
    if (changed.has("layer") || changed.has("token") || changed.has("variant")) mark();
  };
  bag.add(store.subscribe(onChange));
  bag.add(
    theme.subscribe(() => {
      writeTitle();
      build();
    }),
  );

  el.hidden = !shown();
  load();
  return { el, dispose: () => bag.dispose() };
}
