// Ablation (transeasy_widget/ablation.py): a panel (closed by default: "ablation" in `panels`; the key "a" opens it)
// whose button (or the key "a") ablates the selected head or gives it back;
// the set is the `ablated` trait, so Python sees it; the panel shows what ablating the set changes: the top
// predictions before and after (models with an LM or MLM head) and the cosine of each hidden state before/after.

import "./ablation.css";
import type { Answer } from "./standalone";
import { Disposer, clear, h } from "./dom";
import type { Request, WidgetModel } from "./types";
import { type View, type ViewContext, formatValue } from "./view";

export type Heads = Array<[number, number]>;

interface PositionEffect {
  position: number;
  input_token: string;
  before: Array<[string, number]>;
  after: Array<[string, number]>;
  prob_before: number | null;
  prob_after: number | null;
  kl: number;
  changed: boolean;
}

export interface Effect {
  heads: Heads;
  mode: string;
  cosine: number[];
  readout: boolean;
  token: string | null;
  predicts: string;
  note: string;
  positions: PositionEffect[];
}

/** The trait's value, read defensively: [layer, head] pairs of integers. */
export function readAblated(value: unknown): Heads {
  if (!Array.isArray(value)) return [];
  return value
    .filter((p): p is [number, number] => Array.isArray(p) && p.length === 2 && p.every((v) => Number.isInteger(v)))
    .map(([l, hd]) => [l, hd] as [number, number]);
}

/** The set with (layer, head) added, or taken out where it is in; sorted, as Python keeps it. */
export function toggleHead(set: Heads, layer: number, head: number): Heads {
  const has = set.some(([l, hd]) => l === layer && hd === head);
  const next = has ? set.filter(([l, hd]) => !(l === layer && hd === head)) : [...set, [layer, head] as [number, number]];
  return next.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
}

/** The key an effect is filed under (ablation.py ablation_key). */
export function ablationKey(heads: Heads, mode: string): string {
  return `ablation|${heads.map(([l, hd]) => `${l}.${hd}`).join(",")}|${mode}`;
}

const headName = ([l, hd]: [number, number]) => `L${l} H${hd}`;

/** The exported page's answer to an ablation request: an effect computed before export, or why there is none. */
export function ablationPageAnswer(table: Record<string, Record<string, unknown>> | undefined) {
  return (request: Record<string, unknown>): Promise<Answer> => {
    const heads = readAblated(request.heads);
    const entry = table?.[ablationKey(heads, String(request.mode ?? "zero"))];
    if (entry) return Promise.resolve({ content: entry });
    const held = Object.values(table ?? {}).map((e) => `${readAblated(e.heads).map(headName).join(" + ")} (${String(e.mode)})`);
    return Promise.reject(new Error(
      `not computed before export: this page holds the ablations of ${held.length ? held.join("; ") : "no heads"}. ` +
      `Ablate ${heads.map(headName).join(" + ")} (${String(request.mode ?? "zero")}) in the notebook ` +
      `(w.ablated = ${JSON.stringify(heads)}) and save the page again.`));
  };
}

export interface AblationView extends View {
  /** The keydown handler of the widget's root: "a" ablates the selected head, or gives it back. */
  onKey(event: KeyboardEvent): void;
}

export function mountAblation(ctx: ViewContext, model: WidgetModel): AblationView {
  const { store, client } = ctx;
  const bag = new Disposer();
  const el = h("div", "tw-panel tw-ablation");
  const titleRow = h("div", "tw-titlerow");
  const title = h("div", "tw-title", "Ablation");
  const toggle = h("button", "tw-button tw-ablate");
  const reset = h("button", "tw-button tw-ablate-clear", "restore all");
  toggle.type = reset.type = "button";
  toggle.title = "ablate the selected head (its context vectors set to zero), or give it back (key: a)";
  const mode = h("select", "tw-ablation-mode");
  for (const [value, text] of [["zero", "zero"], ["mean", "mean over the text"]] as const) {
    const option = h("option", undefined, text);
    option.value = value;
    mode.appendChild(option);
  }
  mode.title = "what an ablated head's context vectors become: zeros, or their mean over this text's positions";
  titleRow.append(title, toggle, reset, mode);
  const set = h("div", "tw-ablation-set");
  const out = h("div", "tw-ablation-out");
  el.append(titleRow, set, out);

  let heads = readAblated(model.get("ablated"));
  const modeOf = () => (model.get("ablation_mode") === "mean" ? "mean" : "zero");
  const effects = new Map<string, Effect>();
  let asked = "";

  const write = (next: Heads) => {
    model.set("ablated", next);
    model.save_changes();
  };
  const flip = () => {
    const { layer, head } = store.selection;
    write(toggleHead(heads, layer, head));
  };

  const reflect = () => {
    const { layer, head } = store.selection;
    const has = heads.some(([l, hd]) => l === layer && hd === head);
    toggle.textContent = `${has ? "restore" : "ablate"} L${layer} H${head}`;
    reset.disabled = heads.length === 0;
    mode.value = modeOf();
    set.textContent = heads.length ? `ablated (${modeOf()}): ${heads.map(headName).join(", ")}` : "no head ablated: the model as it is";
  };

  const show = (e: Effect) => {
    clear(out);
    if (e.note) out.appendChild(h("div", "tw-ablation-note", e.note));
    for (const p of e.positions) {
      const block = h("div", "tw-ablation-pos");
      block.appendChild(h("div", "tw-ablation-head",
        `${e.predicts} at position ${p.position} (“${p.input_token}”)${p.changed ? " — the top prediction changed" : ""}`));
      const table = h("table", "tw-ablation-top");
      const headRow = h("tr");
      headRow.append(h("th", undefined, "#"), h("th", undefined, "before"), h("th", undefined, "after"));
      table.appendChild(headRow);
      for (let i = 0; i < Math.max(p.before.length, p.after.length); i++) {
        const row = h("tr");
        const cell = (x?: [string, number]) => h("td", undefined, x ? `${x[0]} ${formatValue(x[1])}` : "");
        row.append(h("td", undefined, String(i + 1)), cell(p.before[i]), cell(p.after[i]));
        table.appendChild(row);
      }
      block.appendChild(table);
      if (e.token !== null && p.prob_before !== null && p.prob_after !== null) {
        block.appendChild(h("div", "tw-ablation-prob",
          `p(“${e.token}”): ${formatValue(p.prob_before)} → ${formatValue(p.prob_after)}`));
      }
      block.appendChild(h("div", "tw-ablation-kl", `KL(before ‖ after) ${formatValue(p.kl)} nats`));
      out.appendChild(block);
    }
    if (!e.readout) {
      out.appendChild(h("div", "tw-ablation-note", "this model has no LM or MLM head: the effect shown is how far each hidden state moved"));
    }
    out.appendChild(h("div", "tw-ablation-head", "cosine of each hidden state, before vs after"));
    const cos = h("div", "tw-ablation-cos");
    e.cosine.forEach((c, i) => {
      const item = h("span", "tw-ablation-cosx", `X${i} ${c.toFixed(4)}`);
      item.dataset.index = String(i);
      item.title = i === 0 ? "X0: the embeddings" : `X${i}: the output of layer ${i - 1}`;
      cos.appendChild(item);
    });
    out.appendChild(cos);
  };

  const shown = () => store.selection.panels.includes("ablation");

  const load = () => {
    reflect();
    el.hidden = !shown();
    if (!shown()) return; // closed: nothing asked for
    const how = modeOf();
    const key = ablationKey(heads, how);
    if (heads.length === 0) {
      clear(out);
      asked = key;
      return;
    }
    const hit = effects.get(key);
    if (hit) return show(hit);
    if (asked === key) return;
    asked = key;
    clear(out);
    out.appendChild(h("div", "tw-loading", `ablating ${heads.map(headName).join(", ")}…`));
    const request = { what: "ablation", heads, mode: how } as unknown as Request;
    client
      .request(request)
      .then(({ content }) => {
        const e = content as unknown as Effect;
        effects.set(key, e);
        if (ablationKey(heads, modeOf()) === key) show(e);
      })
      .catch((err: Error) => {
        if (ablationKey(heads, modeOf()) !== key) return;
        asked = "";
        clear(out);
        out.appendChild(h("div", "tw-ablation-error", `could not ablate: ${err.message}`));
      });
  };

  const onAblated = () => {
    heads = readAblated(model.get("ablated"));
    load();
  };
  model.on("change:ablated", onAblated);
  model.on("change:ablation_mode", onAblated);
  bag.add(() => {
    model.off("change:ablated", onAblated);
    model.off("change:ablation_mode", onAblated);
  });
  bag.listen(mode, "change", () => {
    model.set("ablation_mode", mode.value);
    model.save_changes();
  });
  bag.listen(toggle, "click", flip);
  bag.listen(reset, "click", () => write([]));
  bag.add(store.subscribe((_, changed) => {
    if (changed.has("layer") || changed.has("head")) reflect();
    if (changed.has("panels")) load();
  }));
  load();

  return {
    el,
    onKey(event: KeyboardEvent) {
      if (event.target !== ctx.root || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === "a") {
        event.preventDefault();
        flip();
        if (!shown()) store.togglePanel("ablation", true); // the key opens the panel that shows the effect
      }
    },
    dispose: () => bag.dispose(),
  };
}
