import { afterEach, describe, expect, it } from "vitest";
import { piecePosition, readMeta } from "../meta";
import { absMax, stripCell } from "../rowview";
import { columnRange } from "../stages";
import { heatmapSvg } from "../save";
import { paletteFor } from "../colors";
import widget from "../widget";
import { FakeModel, makeMeta, responderFor, settle } from "./fakeModel";

afterEach(() => {
  document.body.innerHTML = "";
});

function mountWith(extra: Record<string, unknown>) {
  const meta = makeMeta({ layers: 2, heads: 3, stages: [{ name: "selfattn_key_hidden", group: "selfattn", kind: "activation" }] });
  const m = new FakeModel({ layer: 1, head: 2, token: -1, variant: "raw", arcs_all_heads: false, stage: "", meta, ...extra });
  m.responder = responderFor(meta);
  const el = document.createElement("div");
  document.body.appendChild(el);
  widget.initialize({ model: m });
  widget.render({ model: m, el });
  return { m, el };
}

describe("row view", () => {
  it("asks for the selected row's piece and shows q·k_j, the scaled scores and the softmax of every key", async () => {
    const { m, el } = mountWith({ panels: ["heatmap", "row"], token: 2 });
    await settle(40);
    const rows = m.sent.filter((r) => r.what === "row");
    expect(rows).toEqual([expect.objectContaining({ what: "row", layer: 1, head: 2, query: 2 })]);
    expect(el.querySelector(".tw-row .tw-title")!.textContent).toBe("Attention row · layer 1 · head 2 · query “cat” (piece 2)");
    const nums = [...el.querySelectorAll(".tw-row-grid > .tw-row-num")].map((n) => n.textContent);
    expect(nums.slice(0, 4)).toEqual(["0.000", "0.000", "10.000", "5.000"]); // key 0: dot, scaled; key 1: …
    const soft = [...el.querySelectorAll(".tw-row-soft .tw-row-num")].map((n) => Number(n.textContent));
    expect(soft).toHaveLength(5);
    expect(soft.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 2);
    expect(el.querySelectorAll(".tw-row-strip")).toHaveLength(1 + 2 * 5); // q, then k_j and q∘k_j per key
  });

  it("maps a nosep row to its piece, and explains what to do for words or no selection", async () => {
    const { m, el } = mountWith({ panels: ["row"], variant: "nosep", token: 0 });
    await settle(40);
    expect(m.sent.find((r) => r.what === "row")).toEqual(expect.objectContaining({ query: 1 })); // "the", after [CLS]
    m.pythonSet("variant", "reduced");
    await settle(40);
    expect(el.querySelector(".tw-row-status")!.textContent).toContain("choose the raw or a nosep variant");
    m.pythonSet("variant", "raw");
    m.pythonSet("token", -1);
    await settle(40);
    expect(el.querySelector(".tw-row-status")!.textContent).toContain("Click a row of the heatmap");
  });

  it("opens the stage a column heading names in the stage viewer", async () => {
    const { m, el } = mountWith({ panels: ["row"], token: 1 });
    await settle(40);
    el.querySelector<HTMLElement>(".tw-row-link[data-stage='selfattn_key_hidden']")!.click();
    expect(m.state.stage).toBe("selfattn_key_hidden");
    expect(m.state.panels).toEqual(["row", "stages"]);
  });

  it("shows an error in place of the row, never the previous row's numbers under the new title", async () => {
    const { m, el } = mountWith({ panels: ["row"], token: 2 });
    await settle(40);
    expect(el.querySelectorAll(".tw-row-grid > .tw-row-num").length).toBeGreaterThan(0);
    const serve = m.responder!;
    m.responder = (request) => (request.what === "row" ? null : serve(request)); // layer 0's row: "no data"
    m.pythonSet("layer", 0);
    await settle(40);
    expect(el.querySelector(".tw-row-status")!.textContent).toBe("could not load the row: no data");
    expect(el.querySelector(".tw-row .tw-title")!.textContent).toBe("Attention row · layer 0 · head 2 · piece 2");
    expect(el.querySelectorAll(".tw-row-grid > *")).toHaveLength(0);
  });

  it("asks for nothing while closed", async () => {
    const { m } = mountWith({ token: 2 });
    await settle(40);
    expect(m.sent.filter((r) => r.what === "row" || r.what === "stage")).toEqual([]);
  });

  it("sizes its strips to the room left", () => {
    expect(stripCell(32, 1000)).toBe(8);
    expect(stripCell(64, 600)).toBeGreaterThanOrEqual(1);
    expect(absMax(new Float32Array([0.5, -3, 2]), 0, 3)).toBe(3);
  });
});

describe("panels and colour scale from the control bar", () => {
  it("a panel's checkbox sets the panels trait, in display order", () => {
    const { m, el } = mountWith({});
    const box = el.querySelector<HTMLInputElement>(".tw-toggles input[data-panel='stages']")!;
    expect(box.checked).toBe(false);
    expect(el.querySelector<HTMLElement>(".tw-stages")!.hidden).toBe(true);
    box.checked = true;
    box.dispatchEvent(new Event("change", { bubbles: true }));
    expect(m.state.panels).toEqual(["overview", "heatmap", "arcs", "stages"]);
    expect(el.querySelector<HTMLElement>(".tw-stages")!.hidden).toBe(false);
  });

  it("the colour scale select sets color_scale", () => {
    const { m, el } = mountWith({});
    const select = el.querySelector<HTMLSelectElement>(".tw-scale select")!;
    select.value = "head";
    select.dispatchEvent(new Event("change"));
    expect(m.state.color_scale).toBe("head");
  });
});

describe("helpers", () => {
  it("finds the raw piece of a variant's row from Python's special flags", () => {
    const meta = readMeta(makeMeta({ tokens: ["[CLS]", "a", "[SEP]", "b", "[SEP]"] }));
    expect([0, 1, 2].map((r) => piecePosition(meta, "nosep", r))).toEqual([1, 3, -1]);
    expect(piecePosition(meta, "raw", 4)).toBe(4);
    expect(piecePosition(meta, "reduced", 0)).toBe(-1);
  });

  it("says which columns of a wide tensor show", () => {
    expect(columnRange(32, 16, 0, 600)).toBe("");
    expect(columnRange(1536, 1, 0, 400)).toBe("columns 0–399 of 1536 (scroll sideways for the rest)");
    expect(columnRange(1536, 1, 1136, 400)).toBe("columns 1136–1535 of 1536 (scroll sideways for the rest)");
  });

  it("writes an SVG with one rect per cell, the labels escaped, and the colour bar's range", () => {
    const svg = heatmapSvg({
      name: "x", title: "t <b>", labels: ["<img>", "b"], values: new Float32Array([0, 1, 0.5, 0.25]), m: 2,
      range: [0, 1], palette: paletteFor([255, 255, 255], [0, 0, 0]),
    });
    expect(svg).not.toContain("<img>");
    expect(svg).toContain("&lt;img&gt;");
    expect(svg.match(/<rect x="\d+" y="\d+" width="\d+" height="\d+" fill="[^"]+"><title>/g)).toHaveLength(4);
    expect(svg).toContain(">0.000</text>");
    expect(svg).toContain(">1.000</text>");
  });
});
