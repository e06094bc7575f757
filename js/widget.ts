// The anywidget entry: initialize() shares a data client per model, render() builds one linked view.

import "./widget.css";
import { DataClient, shareClient, sharedClient } from "./client";
import { firstPaintSource } from "./firstpaint";
import { mountAblation } from "./ablation";
import { mountArcs } from "./arcs";
import { captionA, mountComparison } from "./compare";
import { mountControls } from "./controls";
import { Disposer, Tooltip, h } from "./dom";
import { mountHeatmap } from "./heatmap";
import { mountLens } from "./lens";
import { keyHandler, keyShield } from "./keyboard";
import { mainLayout } from "./layout";
import { variantHeads } from "./meta";
import { mountOverview } from "./overview";
import { mountRowView } from "./rowview";
import { mountStages } from "./stages";
import { SelectionStore } from "./store";
import { ThemeWatch } from "./theme";
import type { Selection, WidgetModel } from "./types";
import type { View, ViewContext } from "./view";

/** Once per model: the request/reply client and its cache, shared by every view of the model. */
function initialize({ model }: { model: WidgetModel }): () => void {
  const client = new DataClient(model, { local: firstPaintSource(model) });
  shareClient(model.get("meta"), client);
  const onMeta = () => {
    client.clear();
    shareClient(model.get("meta"), client);
  };
  model.on("change:meta", onMeta);
  return () => {
    model.off("change:meta", onMeta);
    client.dispose();
  };
}

function reflectSelection(root: HTMLElement, s: Selection): void {
  root.dataset.layer = String(s.layer);
  root.dataset.head = String(s.head);
  root.dataset.token = String(s.token);
  root.dataset.variant = s.variant;
  root.dataset.stage = s.stage;
  root.dataset.arcsAllHeads = s.arcs_all_heads ? "1" : "0";
}

/** Once per view: builds the panels into `el`; the returned function undoes everything it set up. */
function render({ model, el }: { model: WidgetModel; el: HTMLElement }): () => void {
  const bag = new Disposer();
  let client = sharedClient(model.get("meta"));
  if (!client) {
    const own = new DataClient(model, { local: firstPaintSource(model) });
    bag.add(() => own.dispose());
    client = own;
  }
  const store = new SelectionStore(model);
  bag.add(() => store.dispose());

  const root = h("div", "tw-root");
  root.tabIndex = 0;
  root.setAttribute("role", "application");
  root.setAttribute("aria-label", "transeasy attention viewer: arrows move layer and head");
  el.appendChild(root);
  bag.add(() => root.remove());

  const theme = new ThemeWatch(root);
  bag.add(() => theme.dispose());
  const tooltip = new Tooltip(root);
  const caption = captionA(model);
  const ctx: ViewContext = { store, client, root, theme, tooltip, caption, side: caption ? "a: " : "" };

  const views: View[] = [];
  const controls = mountControls(ctx);
  const overview = mountOverview(ctx);
  const heatmap = mountHeatmap(ctx);
  const arcs = mountArcs(ctx);
  const row = mountRowView(ctx);
  const stages = mountStages(ctx);
  const lens = mountLens(ctx);
  const ablation = mountAblation(ctx, model);
  views.push(controls, overview, heatmap, arcs, row, lens, stages, ablation);
  // overview and heatmap side by side (the overview above where too narrow), arcs and the row view under them,
  // the stage viewer at full width at the bottom
  const main = h("div", "tw-main");
  main.append(overview.el, heatmap.el);
  const lower = h("div", "tw-lower");
  lower.append(arcs.el, row.el, ablation.el);
  root.insertBefore(controls.el, tooltip.el);
  root.insertBefore(main, tooltip.el);
  // a comparison (tw.compare): a's, b's and the difference's maps in a row, the head statistics' deltas by the overview
  const comparison = mountComparison(ctx, model, heatmap);
  if (comparison) {
    views.push(...comparison.views);
    main.append(comparison.deltas);
    root.insertBefore(comparison.maps, tooltip.el);
  }
  root.insertBefore(lower, tooltip.el);
  root.insertBefore(lens.el, tooltip.el);
  root.insertBefore(stages.el, tooltip.el);

  /** Sizes the maps to the width the notebook gives the widget (a cell, or half of one in an HBox). */
  const fit = () => {
    const style = getComputedStyle(root);
    const width = root.clientWidth - (parseFloat(style.paddingLeft) || 0) - (parseFloat(style.paddingRight) || 0);
    if (!(width > 0)) return;
    const layers = store.meta.n_layers;
    const heads = variantHeads(store.meta, store.selection.variant); // 1 for a per-layer view
    const l = mainLayout(width, store.m, layers, heads);
    overview.setThumb(l.thumb);
    heatmap.setSide(l.side);
    arcs.setWidth(l.arcs);
    main.classList.toggle("tw-stacked", !l.beside);
    comparison?.fit(width, l.side, l.thumb);
  };
  bag.observeResize(root, fit);
  bag.add(store.subscribe((_, changed) => {
    if (changed.has("meta") || changed.has("variant")) fit();
  }));
  // inside an ipywidgets HBox the widget shares the row instead of pushing its neighbour off the cell
  el.classList.add("tw-host");
  bag.add(() => el.classList.remove("tw-host"));
  bag.add(() => {
    for (const v of views.reverse()) v.dispose();
  });

  reflectSelection(root, store.selection);
  bag.add(store.subscribe((s) => reflectSelection(root, s)));
  bag.listen(root, "keydown", keyHandler(root, store));
  bag.listen(root, "keydown", (event: KeyboardEvent) => ablation.onKey(event));
  bag.listen(root, "keyup", keyShield);
  bag.listen(root, "keypress", keyShield);
  fit();
  // the theme may only be known once the root is in the page
  const raf = typeof requestAnimationFrame === "function" ? requestAnimationFrame(() => theme.refresh()) : 0;
  bag.add(() => {
    if (raf && typeof cancelAnimationFrame === "function") cancelAnimationFrame(raf);
  });

  return () => bag.dispose();
}

export default { initialize, render };
