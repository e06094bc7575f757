import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { compareInfo, sideModel } from "../compare";
import widget from "../widget";
import { FakeModel, halfBuffer, makeMeta, responderFor, settle } from "./fakeModel";

/** A comparison's meta as compare.py writes it: b = a's sizes with other tokens, the difference's rows. */
function compareMeta(diffError?: string): Record<string, unknown> {
  const a = makeMeta({ tokens: ["[CLS]", "keys", "is", "[SEP]"] });
  const b = makeMeta({ tokens: ["[CLS]", "keys", "are", "[SEP]"] });
  const rows = (labels: string[]) => ({ labels, segments: labels.map(() => 0), special: labels.map(() => false) });
  const diff: Record<string, unknown> = {};
  for (const v of ["raw", "nosep", "nosep_linscale", "nosep_softmax_scale", "reduced"]) {
    diff[v] = diffError
      ? { labels: [], segments: [], special: [], shows: null, error: diffError }
      : { ...rows(v === "raw" ? ["[CLS]", "keys", "is→are", "[SEP]"] : ["keys", "is→are"]), shows: v };
  }
  const stat = { a: [0.5, 0.5, 0.5, 0.5, 0.5, 0.5], b: [0.5, 0.7, 0.5, 0.5, 0.2, 0.5], description: "entropy" };
  return { ...a, compare: { names: ["keys is", "keys are"], b, diff,
                            stats: { entropy: { ...stat, delta: stat.b.map((x, i) => x - stat.a[i]!) } } } };
}

function model(meta: Record<string, unknown>): FakeModel {
  const m = new FakeModel({ layer: 0, head: 0, token: -1, variant: "raw", arcs_all_heads: false, stage: "", meta });
  const plain = responderFor(meta);
  m.responder = (req) => {
    if (req.analysis !== "diff") return plain(req);
    const error = (meta.compare as { diff: Record<string, { error?: string }> }).diff[req.variant as string]?.error;
    if (error) return null;
    const values = new Float32Array(3 * 4 * 4).map((_, i) => ((i % 7) - 3) / 10); // signed, −0.3 … 0.3
    return { content: { what: "layer", variant: req.variant, layer: req.layer, dtype: "float16", shape: [3, 4, 4],
                        signed: true }, buffers: [halfBuffer(values)] };
  };
  return m;
}

// a 2-D context whose ImageData is real (happy-dom has none): the pixels the difference map was given
const images = new WeakMap<HTMLCanvasElement, { width: number; data: Uint8ClampedArray }>();
const original = HTMLCanvasElement.prototype.getContext;
beforeAll(() => {
  (HTMLCanvasElement.prototype as unknown as { getContext: unknown }).getContext = function (this: HTMLCanvasElement) {
    const canvas = this;
    return new Proxy({} as Record<string, unknown>, {
      get(_, key: string) {
        if (key === "createImageData") {
          return (w: number, h: number) => ({ width: w, height: h, data: new Uint8ClampedArray(w * h * 4) });
        }
        if (key === "putImageData") return (image: { width: number; data: Uint8ClampedArray }) => images.set(canvas, image);
        if (key === "measureText") return (text: string) => ({ width: text.length * 6 });
        return () => undefined;
      },
      set: () => true,
    });
  };
});
afterAll(() => {
  HTMLCanvasElement.prototype.getContext = original;
});
afterEach(() => {
  document.body.innerHTML = "";
});

function pixel(canvas: Element, x: number, y: number): number[] {
  const image = images.get(canvas as HTMLCanvasElement)!;
  const k = (y * image.width + x) * 4;
  return [...image.data.slice(k, k + 3)];
}

describe("comparison", () => {
  it("reads meta.compare, and nothing for the widget of one analysis", () => {
    expect(compareInfo(makeMeta())).toBeNull();
    expect(compareInfo(compareMeta())!.names).toEqual(["keys is", "keys are"]);
  });

  it("gives each side its own meta and labels its requests, sharing the one selection", () => {
    const m = model(compareMeta());
    const b = sideModel(m, "b");
    expect((b.get("meta") as { tokens: string[] }).tokens).toEqual(["[CLS]", "keys", "are", "[SEP]"]);
    expect(b.get("_first_paint")).toBeUndefined();
    const diff = sideModel(m, "diff");
    expect((diff.get("meta") as { variants: Record<string, { labels: string[] }> }).variants.raw!.labels[2]).toBe("is→are");
    b.set("layer", 1);
    expect(m.get("layer")).toBe(1);
    diff.send({ type: "request", id: 1, what: "layer", variant: "raw", layer: 1 });
    expect(m.sent.at(-1)).toMatchObject({ what: "layer", analysis: "diff" });
  });

  it("renders a's, b's and the difference's maps, the difference diverging around 0", async () => {
    const m = model(compareMeta());
    const el = document.createElement("div");
    document.body.appendChild(el);
    const stop = widget.render({ model: m, el });
    const titles = [...el.querySelectorAll(".tw-heatmap .tw-title")].map((t) => t.textContent);
    expect(titles).toEqual(["a: Attention · layer 0 · head 0 · raw", "b: Attention · layer 0 · head 0 · raw",
                            "b − a · layer 0 · head 0 · raw"]);
    const rows = [...el.querySelectorAll(".tw-side-diff .tw-hm-rowlabels .tw-label[data-index]")].map((n) => n.textContent);
    expect(rows).toEqual(["[CLS]", "keys", "is→are", "[SEP]"]);
    await settle();
    const sides = m.sent.filter((r) => r.what === "layer").map((r) => r.analysis ?? "a");
    expect(new Set(sides)).toEqual(new Set(["a", "b", "diff"]));
    const bar = el.querySelector(".tw-side-diff .tw-cbar")!;
    expect(bar.querySelector(".tw-cbar-lo")!.textContent).toBe("-0.300");
    expect(bar.querySelector(".tw-cbar-hi")!.textContent).toBe("0.300");
    // cell (row, col) of head 0 holds ((4 row + col) mod 7 − 3) / 10: −0.3 blue, 0 the background, +0.3 red
    const map = el.querySelector(".tw-side-diff .tw-hm-canvas")!;
    const [neg, zero, pos] = [pixel(map, 0, 0), pixel(map, 3, 0), pixel(map, 2, 1)];
    expect(neg[2]!).toBeGreaterThan(neg[0]! + 50);
    expect(pos[0]!).toBeGreaterThan(pos[2]! + 50);
    expect(zero[0]).toBe(zero[1]);
    expect(zero[1]).toBe(zero[2]);
    expect(el.querySelector(".tw-deltas .tw-title")!.textContent).toBe("Heads · Δ entropy (b − a)");
    expect(el.querySelector(".tw-compare-legend")!.textContent).toContain("keys are");
    // the panels that show one analysis say which: a's
    expect(el.querySelector(".tw-arcs .tw-title")!.textContent).toBe("a: Arcs · layer 0 · head 0");
    // one selection: a head chosen anywhere moves every map
    m.pythonSet("head", 2);
    const after = [...el.querySelectorAll(".tw-heatmap .tw-title")].map((t) => t.textContent);
    expect(after.every((t) => t!.includes("head 2"))).toBe(true);
    stop();
  });

  it("shows why there is no difference, in the difference's panel", async () => {
    const m = model(compareMeta("No difference to show: compare a minimal pair"));
    const el = document.createElement("div");
    document.body.appendChild(el);
    const stop = widget.render({ model: m, el });
    await settle();
    await settle();
    expect(el.querySelector(".tw-side-diff .tw-loading")!.textContent).toContain("could not load layer 0");
    expect(m.sent.some((r) => r.analysis === "diff")).toBe(true);
    stop();
  });
});

describe("rows that are not a's", () => {
  it("share no token where the difference is in words and a's rows are pieces", () => {
    const meta = compareMeta();
    const diff = (meta.compare as { diff: Record<string, unknown> }).diff;
    diff.raw = { labels: ["keys", "is→are"], segments: [0, 0], special: [false, false], shows: "reduced" };
    const m = model(meta);
    m.pythonSet("token", 3);
    const side = sideModel(m, "diff");
    expect(side.get("token")).toBe(-1);
    side.set("token", 1);
    expect(m.get("token")).toBe(3); // not written: row 1 of the words is no row of a's pieces
    expect(sideModel(m, "b").get("token")).toBe(3); // b has as many pieces as a: shared
  });
});

describe("saving the difference", () => {
  it("draws it with the diverging ramp the screen uses", async () => {
    const { heatmapSvg } = await import("../save");
    const { paletteFor } = await import("../colors");
    const palette = paletteFor([255, 255, 255], [0, 0, 0]);
    const figure = { name: "d", title: "b − a", labels: ["x", "y"], values: Float32Array.of(-1, 0, 0, 1), m: 2,
                     range: [-1, 1] as [number, number], palette };
    const fills = (svg: string) => [...svg.matchAll(/<rect [^>]*fill="(rgb\([^)]*\))"/g)].map((r) => r[1]);
    const signed = fills(heatmapSvg({ ...figure, signed: true }));
    const k = (v: number) => Math.min(254, Math.floor(((v + 1) / 2) * 255)) * 4;
    const rgb = (i: number) => `rgb(${palette.divergingRGBA[i]}, ${palette.divergingRGBA[i + 1]}, ${palette.divergingRGBA[i + 2]})`;
    expect(signed).toContain(rgb(k(-1)));
    expect(signed).toContain(rgb(k(0)));
    expect(signed).not.toEqual(fills(heatmapSvg(figure)));
  });
});
