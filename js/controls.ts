// The control bar: layer, head and variant selectors, the arcs all-heads switch, and a status line.

import { headOption, variantTitle } from "./causal";
import { Disposer, clear, h } from "./dom";
import { variantGroups, variantInfo } from "./meta";
import type { Changed } from "./store";
import type { View, ViewContext } from "./view";

function labelled(className: string, text: string, control: HTMLElement): HTMLLabelElement {
  const label = h("label", `tw-control ${className}`);
  label.append(h("span", "tw-control-name", text), control);
  return label;
}

/** Fills a select with options 0..n-1 named by `name` (only when the count changed). */
function fillNumbered(select: HTMLSelectElement, n: number, name: (i: number) => string): void {
  if (select.options.length === n) return;
  clear(select);
  for (let i = 0; i < n; i++) {
    const option = h("option", undefined, name(i));
    option.value = String(i);
    select.appendChild(option);
  }
}

export function mountControls(ctx: ViewContext): View {
  const { store } = ctx;
  const bag = new Disposer();

  const el = h("div", "tw-controls");
  const layer = h("select");
  const head = h("select");
  const perLayer = h("option", "tw-head-per-layer", "per layer");
  perLayer.value = "per-layer";
  const variant = h("select");
  const allHeads = h("input");
  allHeads.type = "checkbox";
  const scale = h("select");
  for (const [value, text] of [["fixed", "0 … 1, every head"], ["head", "0 … head's max"]] as const) {
    const option = h("option", undefined, text);
    option.value = value;
    scale.appendChild(option);
  }
  scale.title = "colour scale of the attention maps: one fixed scale (comparable across heads) or each head's own max";
  // the panels: the default view keeps the row view and the stage viewer closed
  const toggles = h("div", "tw-toggles");
  const toggle = new Map<string, HTMLInputElement>();
  for (const [panel, text] of [["overview", "heads"], ["heatmap", "heatmap"], ["arcs", "arcs"], ["row", "row view"], ["lens", "logit lens"], ["stages", "stages"], ["ablation", "ablation"]] as const) {
    const box = h("input");
    box.type = "checkbox";
    box.dataset.panel = panel;
    const label = h("label", "tw-toggle");
    label.append(box, h("span", undefined, text));
    toggles.appendChild(label);
    toggle.set(panel, box);
  }
  const headControl = labelled("tw-head", "head", head);
  const status = h("div", "tw-status");
  const modelName = h("span", "tw-status-model");
  const sizes = h("span", "tw-status-sizes");
  const tokenName = h("span", "tw-status-token");
  status.append(modelName, sizes, tokenName);
  const allLabel = h("label", "tw-control tw-arcs-all");
  allLabel.append(allHeads, h("span", "tw-control-name", "arcs: all heads"));
  el.append(
    labelled("tw-layer", "layer", layer),
    headControl,
    labelled("tw-variant", "variant", variant),
    labelled("tw-scale", "colour", scale),
    allLabel,
    toggles,
    status,
  );

  const rebuild = () => {
    const meta = store.meta;
    fillNumbered(layer, meta.n_layers, (i) => `L${i}`);
    perLayer.remove();
    fillNumbered(head, meta.n_heads, (i) => headOption(meta, i));
    clear(variant);
    // grouped, so that eleven entries stay short: "attention" (the weights) and "contributions" (norm, ALTI, ...)
    const groups = variantGroups(meta);
    for (const [group, keys] of groups) {
      const parent = groups.length > 1 ? h("optgroup") : variant;
      if (parent instanceof HTMLOptGroupElement) {
        parent.label = group;
        variant.appendChild(parent);
      }
      for (const key of keys) {
        const info = variantInfo(meta, key);
        const option = h("option", undefined, variantTitle(meta, key, info.title));
        option.value = key;
        option.dataset.variant = key;
        option.title = info.quantity;
        parent.appendChild(option);
      }
    }
    modelName.textContent = meta.model_name || "(no model yet)";
    sizes.textContent = ` · ${meta.n_tokens} tokens · ${meta.n_layers} layers × ${meta.n_heads} heads`;
    // the lens panel's switch where the model has a head to read hidden states through
    const lensToggle = toggle.get("lens")?.closest("label");
    if (lensToggle) lensToggle.hidden = !meta.lens;
  };

  const reflect = () => {
    const s = store.selection;
    layer.value = String(s.layer);
    // a per-layer view (ALTI, rollout, ...) has no heads: the selector says so and keeps the head for later
    const perHead = store.perHead;
    head.disabled = !perHead;
    // a per-layer view shows "per layer" in the disabled selector (that option is there only then: the head
    // options stay one per head)
    if (perHead) perLayer.remove();
    else if (perLayer.parentElement !== head) head.appendChild(perLayer);
    head.value = perHead ? String(s.head) : perLayer.value;
    head.title = perHead ? "" : "this view has one matrix per layer: no head to choose";
    headControl.classList.toggle("tw-per-layer", !perHead);
    variant.value = s.variant;
    allHeads.checked = s.arcs_all_heads;
    scale.value = s.color_scale;
    for (const [panel, box] of toggle) box.checked = s.panels.includes(panel);
    const labels = store.variant.labels;
    const m = labels.length;
    tokenName.textContent =
      s.token >= 0 && s.token < labels.length ? ` · token ${s.token}: ${labels[s.token]}` : ` · ${m} rows in ${s.variant}`;
  };

  bag.listen(layer, "change", () => store.select({ layer: Number(layer.value) }));
  bag.listen(head, "change", () => {
    if (head.value !== perLayer.value) store.select({ head: Number(head.value) });
  });
  bag.listen(variant, "change", () => store.select({ variant: variant.value }));
  bag.listen(allHeads, "change", () => store.select({ arcs_all_heads: allHeads.checked }));
  bag.listen(scale, "change", () => store.select({ color_scale: scale.value }));
  bag.listen(toggles, "change", (event: Event) => {
    const box = event.target as HTMLInputElement;
    if (box.dataset.panel) store.togglePanel(box.dataset.panel, box.checked);
  });
  bag.add(
    store.subscribe((_, changed: Changed) => {
      if (changed.has("meta")) rebuild();
      reflect();
    }),
  );

  rebuild();
  reflect();
  return { el, dispose: () => bag.dispose() };
}
