import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import widget from "../widget";
import { FakeModel, makeMeta, responderFor, settle } from "./fakeModel";

const EVIL = "<img src=x onerror=alert(1)>";

function fakeModel(meta = makeMeta({ layers: 6, heads: 12 }), extra: Record<string, unknown> = {}): FakeModel {
  const m = new FakeModel({ layer: 0, head: 0, token: -1, variant: "raw", arcs_all_heads: false, stage: "", meta, ...extra });
  m.responder = responderFor(meta);
  return m;
}

function mount(m: FakeModel) {
  const el = document.createElement("div");
  document.body.appendChild(el);
  const cleanup = widget.render({ model: m, el });
  const root = el.querySelector<HTMLElement>(".tw-root")!;
  return { el, root, cleanup };
}

afterEach(() => {
  document.body.innerHTML = "";
});

describe("render", () => {
  it("builds the panels with stable hooks and never writes to the model on load", async () => {
    const m = fakeModel();
    const stopInit = widget.initialize({ model: m });
    const { el, root } = mount(m);
    expect(root.tabIndex).toBe(0);
    expect(root.dataset).toMatchObject({ layer: "0", head: "0", token: "-1", variant: "raw" });
    expect(el.querySelector(".tw-overview canvas")).not.toBeNull();
    expect(el.querySelector(".tw-heatmap canvas")).not.toBeNull();
    expect(el.querySelector(".tw-arcs canvas")).not.toBeNull();
    expect(el.querySelectorAll(".tw-variant select option")).toHaveLength(5);
    expect(el.querySelectorAll(".tw-layer select option")).toHaveLength(6);
    expect(el.querySelectorAll(".tw-head select option")).toHaveLength(12);
    expect(el.querySelector(".tw-status")!.textContent).toContain("tiny-bert");
    expect(el.querySelector(".tw-status")!.textContent).toContain("5 tokens");
    await settle();
    expect(m.sets).toEqual([]);
    expect(m.saves).toBe(0);
    const whats = m.sent.map((r) => `${r.what}:${r.variant}:${r.layer ?? ""}`);
    expect(whats).toContain("layer:raw:0");
    expect(whats).toContain("overview:raw:");
    expect(whats.filter((w) => w === "layer:raw:0")).toHaveLength(1); // heatmap and arcs share one request
    stopInit();
  });

  it("labels the heatmap axes with the variant's labels", () => {
    const m = fakeModel();
    const { el } = mount(m);
    const rows = [...el.querySelectorAll(".tw-hm-rowlabels .tw-label[data-index]")].map((n) => n.textContent);
    expect(rows).toEqual(["[CLS]", "the", "cat", "sat", "[SEP]"]);
    m.pythonSet("variant", "nosep");
    const after = [...el.querySelectorAll(".tw-hm-rowlabels .tw-label[data-index]")].map((n) => n.textContent);
    expect(after).toEqual(["the", "cat", "sat"]);
  });

  it("thins the labels of a 512-token input", () => {
    const tokens = Array.from({ length: 512 }, (_, i) => (i === 0 ? "[CLS]" : i === 511 ? "[SEP]" : `t${i}`));
    const m = fakeModel(makeMeta({ tokens }));
    const { el } = mount(m);
    const n = el.querySelectorAll(".tw-hm-rowlabels .tw-label[data-index]").length;
    expect(n).toBeGreaterThan(20);
    expect(n).toBeLessThanOrEqual(Math.ceil(512 / 12));
  });

  it("marks a sentence pair's segments in label colours and a separator", () => {
    const m = fakeModel(makeMeta({ tokens: ["[CLS]", "a", "b", "[SEP]", "c", "d", "[SEP]"], pairAt: 4 }));
    const { el } = mount(m);
    const seg1 = [...el.querySelectorAll(".tw-hm-rowlabels .tw-seg1")].map((n) => n.textContent);
    expect(seg1).toEqual(["c", "d", "[SEP]"]);
    expect(el.querySelector<HTMLElement>(".tw-hm-sep-h")!.hidden).toBe(false);
  });

  it("names the selected row beside the heatmap even where its label was thinned out", () => {
    const tokens = Array.from({ length: 512 }, (_, i) => `t${i}`);
    const m = fakeModel(makeMeta({ tokens }));
    const { el } = mount(m);
    m.pythonSet("token", 301);
    const now = el.querySelector<HTMLElement>(".tw-hm-rowlabels .tw-label-now")!;
    expect(now.hidden).toBe(false);
    expect(now.textContent).toBe("t301");
    m.pythonSet("token", -1);
    expect(now.hidden).toBe(true);
  });
});

describe("safety", () => {
  it("shows a malicious token as text, never as markup", () => {
    const tokens = ["[CLS]", EVIL, "</script><b>bold</b>", "[SEP]"];
    const meta = makeMeta({ tokens, stages: [{ name: "preemb_sum_emb", group: "preemb", formula: EVIL, meaning: "<i>x</i>" }] });
    (meta as { model_name: string }).model_name = "<svg onload=alert(2)>";
    const m = fakeModel(meta, { token: 1, stage: "preemb_sum_emb", panels: ["heatmap", "stages"] });
    const { el } = mount(m);
    expect(el.querySelector("img")).toBeNull();
    expect(el.querySelector("b")).toBeNull();
    expect(el.querySelector("svg")).toBeNull();
    expect(el.querySelector(".tw-stages i")).toBeNull();
    expect(el.textContent).toContain(EVIL);
    expect(el.textContent).toContain("</script><b>bold</b>");
    expect(el.querySelector(".tw-status")!.textContent).toContain("<svg onload=alert(2)>");
    expect(el.querySelector(".tw-stage-formula")!.textContent).toBe(EVIL);
  });
});

describe("sync", () => {
  it("moves every view when Python changes a trait", () => {
    const m = fakeModel();
    const { el, root } = mount(m);
    m.pythonSet("layer", 3);
    m.pythonSet("head", 7);
    m.pythonSet("token", 2);
    expect(root.dataset).toMatchObject({ layer: "3", head: "7", token: "2" });
    expect(el.querySelector<HTMLSelectElement>(".tw-layer select")!.value).toBe("3");
    expect(el.querySelector<HTMLSelectElement>(".tw-head select")!.value).toBe("7");
    expect(el.querySelector(".tw-heatmap .tw-title")!.textContent).toContain("layer 3 · head 7");
    expect(el.querySelector(".tw-ov-mark")!.getAttribute("data-head")).toBe("7");
    expect(el.querySelector(".tw-status-token")!.textContent).toContain("cat");
  });

  it("writes a selector change back with set and save_changes", () => {
    const m = fakeModel();
    const { el } = mount(m);
    const head = el.querySelector<HTMLSelectElement>(".tw-head select")!;
    head.value = "4";
    head.dispatchEvent(new Event("change"));
    expect(m.state.head).toBe(4);
    expect(m.saves).toBe(1);
    const variant = el.querySelector<HTMLSelectElement>(".tw-variant select")!;
    variant.value = "reduced";
    variant.dispatchEvent(new Event("change"));
    expect(m.state.variant).toBe("reduced");
    const all = el.querySelector<HTMLInputElement>(".tw-arcs-all input")!;
    all.checked = true;
    all.dispatchEvent(new Event("change"));
    expect(m.state.arcs_all_heads).toBe(true);
    expect(el.querySelector(".tw-arcs .tw-title")!.textContent).toContain("all heads");
  });

  it("keeps two views of one model in step", () => {
    const m = fakeModel();
    widget.initialize({ model: m });
    const a = mount(m);
    const b = mount(m);
    const head = a.el.querySelector<HTMLSelectElement>(".tw-head select")!;
    head.value = "9";
    head.dispatchEvent(new Event("change"));
    expect(b.root.dataset.head).toBe("9");
    expect(b.el.querySelector<HTMLSelectElement>(".tw-head select")!.value).toBe("9");
    m.pythonSet("layer", 5);
    expect(a.root.dataset.layer).toBe("5");
    expect(b.root.dataset.layer).toBe("5");
  });

  it("shares one data client among the views of a model", async () => {
    const m = fakeModel();
    widget.initialize({ model: m });
    mount(m);
    await settle();
    const before = m.sent.length;
    mount(m);
    await settle();
    expect(m.sent.length).toBe(before); // the second view is served from the cache
  });
});

describe("cleanup", () => {
  it("leaves the model untouched and no listener behind", async () => {
    const m = fakeModel();
    const stopInit = widget.initialize({ model: m });
    const baseline = m.listenerCount();
    const { el, root, cleanup } = mount(m);
    expect(m.listenerCount()).toBeGreaterThan(baseline);
    const spy = vi.spyOn(root, "removeEventListener");
    cleanup();
    expect(m.listenerCount()).toBe(baseline);
    expect(spy).toHaveBeenCalledWith("keydown", expect.any(Function), undefined);
    expect(el.querySelector(".tw-root")).toBeNull();
    m.pythonSet("layer", 4);
    expect(root.dataset.layer).toBe("0");
    // the detached root no longer reacts to keys either
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowDown", bubbles: true }));
    expect(m.state.layer).toBe(4);
    expect(m.sets).toEqual([]);
    stopInit();
    expect(m.listenerCount()).toBe(0);
    await settle();
  });
});

describe("keyboard", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("moves layer with up/down and head with left/right, clamped, keys kept from the notebook", () => {
    const m = fakeModel();
    const { el, root } = mount(m);
    const notebook = vi.fn();
    el.addEventListener("keydown", notebook);
    const press = (key: string, init: KeyboardEventInit = {}) =>
      root.dispatchEvent(new KeyboardEvent("keydown", { key, bubbles: true, cancelable: true, ...init }));
    press("ArrowDown");
    press("ArrowDown");
    press("ArrowRight");
    expect(m.state).toMatchObject({ layer: 2, head: 1 });
    press("ArrowUp");
    press("ArrowLeft");
    press("ArrowLeft");
    expect(m.state).toMatchObject({ layer: 1, head: 0 });
    for (let i = 0; i < 20; i++) press("ArrowDown");
    expect(m.state.layer).toBe(5);
    expect(root.dataset.layer).toBe("5");
    press("a"); // a notebook shortcut (insert cell above) must not leak
    expect(notebook).not.toHaveBeenCalled();
    press("Enter", { shiftKey: true }); // run cell still works
    expect(notebook).toHaveBeenCalledTimes(1);
  });

  it("Escape clears the token", () => {
    const m = fakeModel(undefined, { token: 2 });
    const { root } = mount(m);
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(m.state.token).toBe(-1);
  });
});
