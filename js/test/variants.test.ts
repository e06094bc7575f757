// The contribution views in the variant switch: grouped options, "per layer" where a head means nothing, the norms
// on their own colour scale (0 … the layer's max), and the overview with one cell per layer.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import widget from "../widget";
import { FakeModel, makeMeta, responderFor, settle } from "./fakeModel";

const images = new WeakMap<HTMLCanvasElement, { width: number; data: Uint8ClampedArray }>();
const original = HTMLCanvasElement.prototype.getContext;

beforeAll(() => {
  // a 2-D context whose ImageData is real (what the heatmap paints), every other call a no-op
  (HTMLCanvasElement.prototype as unknown as { getContext: unknown }).getContext = function (this: HTMLCanvasElement) {
    const canvas = this;
    const target: Record<string, unknown> = {
      canvas,
      createImageData: (w: number, h: number) => ({ width: w, height: h, data: new Uint8ClampedArray(w * h * 4) }),
      measureText: (text: string) => ({ width: text.length * 6 }),
      putImageData: (image: { width: number; data: Uint8ClampedArray }) => images.set(canvas, image),
    };
    return new Proxy(target, {
      get: (t, key: string) => (key in t ? t[key] : () => undefined),
      set: (t, key: string, value) => ((t[key] = value), true),
    });
  };
});
afterAll(() => {
  HTMLCanvasElement.prototype.getContext = original;
});
afterEach(() => {
  document.body.innerHTML = "";
});

function pixel(canvas: HTMLCanvasElement, x: number, y: number): number[] {
  const image = images.get(canvas)!;
  const k = (y * image.width + x) * 4;
  return [...image.data.slice(k, k + 3)];
}

async function mountWith(variant: string, head = 2) {
  const meta = makeMeta({ layers: 2, heads: 3, contributions: true });
  const m = new FakeModel({ layer: 1, head, token: -1, variant, arcs_all_heads: false, stage: "", meta });
  m.responder = responderFor(meta);
  const el = document.createElement("div");
  document.body.appendChild(el);
  widget.initialize({ model: m });
  widget.render({ model: m, el });
  await settle(40);
  return { m, el };
}

describe("contribution variants", () => {
  it("groups the variant switch into attention and contributions", async () => {
    const { el } = await mountWith("raw");
    const groups = [...el.querySelectorAll<HTMLOptGroupElement>(".tw-variant select optgroup")];
    expect(groups.map((g) => g.label)).toEqual(["attention", "contributions"]);
    expect([...groups[1]!.querySelectorAll("option")].map((o) => o.value)).toEqual(["norm", "alti"]);
    expect(groups[1]!.querySelector("option")!.textContent).toBe("‖αf(x)‖ per head");
    const head = el.querySelector<HTMLSelectElement>(".tw-head select")!;
    expect(head.disabled).toBe(false);
    expect(head.selectedOptions[0]!.textContent).toBe("H2");
  });

  it("says 'per layer' where a per-layer view has no head, and keeps the head for later", async () => {
    const { m, el } = await mountWith("alti");
    const head = el.querySelector<HTMLSelectElement>(".tw-head select")!;
    expect(head.disabled).toBe(true);
    expect(head.selectedOptions[0]!.textContent).toBe("per layer");
    expect(el.querySelector(".tw-heatmap .tw-title")!.textContent).toBe("Contributions · layer 1 · per layer · alti");
    expect(el.querySelector(".tw-arcs .tw-title")!.textContent).toContain("per layer");
    expect(el.querySelector(".tw-overview .tw-title")!.textContent).toBe("Layers · alti");
    expect([...el.querySelectorAll(".tw-ov-collabels .tw-ov-label")].map((s) => s.textContent)).toEqual(["per layer"]);
    // the single matrix of the layer is painted (the synthetic one peaks at column (i + layer) mod 5)
    const heat = el.querySelector<HTMLCanvasElement>(".tw-hm-canvas")!;
    expect(pixel(heat, 1, 0)).not.toEqual(pixel(heat, 0, 0));
    expect(pixel(heat, 2, 1)).toEqual(pixel(heat, 1, 0));
    expect(el.querySelector(".tw-heatmap .tw-cbar-hi")!.textContent).toBe("1.000");
    expect(m.state.head).toBe(2); // untouched: back on a per-head view, head 2 again
    m.pythonSet("variant", "raw");
    await settle(40);
    expect(head.disabled).toBe(false);
    expect(head.selectedOptions[0]!.textContent).toBe("H2");
    expect(head.options).toHaveLength(3); // one per head: "per layer" is there only for a per-layer view
    expect(m.sets.filter(([k]) => k === "head")).toEqual([]);
  });

  it("colours the norms from 0 to the layer's largest value", async () => {
    const { el } = await mountWith("norm", 0);
    // the synthetic norms are 5 × attention: 3.0 at each row's peak, the bar reads the layer's max
    expect(el.querySelector(".tw-heatmap .tw-cbar-hi")!.textContent).toBe("3.000");
    expect(el.querySelector<HTMLElement>(".tw-heatmap .tw-cbar")!.title).toBe("‖α f(x)‖, 0 … layer max");
    expect(el.querySelector(".tw-heatmap .tw-title")!.textContent).toBe("Contributions · layer 1 · head 0 · norm");
    expect(el.querySelector(".tw-overview .tw-title")!.textContent).toBe("Heads · norm");
    expect(el.querySelector(".tw-overview .tw-cbar-hi")!.textContent).toBe("5.000");
  });
});
