// What every view receives from render() and gives back to it.

import { headLabel } from "./causal";
import type { DataClient } from "./client";
import type { Tooltip } from "./dom";
import type { SelectionStore } from "./store";
import type { ThemeWatch } from "./theme";

export interface ViewContext {
  store: SelectionStore;
  client: DataClient;
  root: HTMLElement;
  theme: ThemeWatch;
  tooltip: Tooltip;
  /** What the heatmap's title calls its map (default "Attention"): a comparison names its side. */
  caption?: (variant: string) => string;
  /** In a comparison, "a: ": the arcs, row view and stage viewer show a's analysis, and their titles say so. */
  side?: string;
}

export interface View {
  el: HTMLElement;
  dispose(): void;
}

/** Formats a value for tooltips and stats: 3 significant decimals, exponent form for tiny/huge values. */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  return v.toFixed(a >= 100 ? 1 : 3);
}

/**
 * The colour range of an attention map (heatmap, arcs, overview, exported page): the fixed 0 … 1 scale by default,
 * so that one colour means one weight in every head; with color_scale "head", 0 … that head's largest weight.
 */
export function attentionRange(colorScale: string, headMax: number): [number, number] {
  if (colorScale === "head") return [0, headMax > 0 ? headMax : 1];
  return [0, Math.max(1, headMax)];
}

/** "head 3" ("head 3 · kv 1" with grouped key/value heads), or "per layer" where the selected variant has one matrix per layer (no head to speak of). */
export function headWords(store: SelectionStore): string {
  return store.perHead ? headLabel(store.meta, store.selection.head) : "per layer";
}

/**
 * The colour range of the selected variant's map: attention weights and row-normalised contributions (scale
 * "unit") as `attentionRange`; the norms (scale "max", in the units of the hidden states) 0 … the layer's largest
 * value, so one colour is one value in every head of the layer, or 0 … the head's own max with color_scale "head".
 */
export function mapRange(scale: string, colorScale: string, headMax: number, layerMax: number): [number, number] {
  if (scale !== "max") return attentionRange(colorScale, headMax);
  const top = colorScale === "head" ? headMax : layerMax;
  return [0, top > 0 ? top : 1];
}

/**
 * Shows the selected layer of the selected variant: paints at once when it is cached, otherwise fetches it
 * (saying so in `status`) and paints when it arrives, unless the selection moved on meanwhile.
 */
export function loadLayer(ctx: ViewContext, status: HTMLElement, paint: () => void): void {
  const { store, client } = ctx;
  const { variant, layer } = store.selection;
  if (client.peekLayer(variant, layer)) {
    status.hidden = true;
    paint();
    return;
  }
  status.textContent = `loading layer ${layer}…`;
  status.hidden = false;
  client
    .layer(variant, layer)
    .then(() => {
      const now = store.selection;
      if (now.variant !== variant || now.layer !== layer) return;
      status.hidden = true;
      paint();
    })
    .catch((err: Error) => {
      status.textContent = `could not load layer ${layer}: ${err.message}`;
      status.hidden = false;
    });
}
