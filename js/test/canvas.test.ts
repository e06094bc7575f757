import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import widget from "../widget";
import { FakeModel, makeMeta, responderFor, settle } from "./fakeModel";

/** A 2-D context good enough for the views: ImageData buffers are real, drawing calls are counted. */
function stubContext(canvas: HTMLCanvasElement) {
  const calls: Record<string, number> = {};
  const target = {
    canvas,
    createImageData: (w: number, h: number) => ({ width: w, height: h, data: new Uint8ClampedArray(w * h * 4) }),
    measureText: (text: string) => ({ width: text.length * 6 }),
    putImageData: (image: { width: number; height: number; data: Uint8ClampedArray }) => {
      calls.putImageData = (calls.putImageData ?? 0) + 1;
      target.image = image;
    },
  } as Record<string, unknown>;
  return new Proxy(target, {
    get(t, key: string) {
      if (key in t) return t[key];
      if (key === "calls") return calls;
      return (..._args: unknown[]) => {
        calls[key] = (calls[key] ?? 0) + 1;
      };
    },
    set(t, key: string, value) {
      t[key] = value;
      return true;
    },
  });
}

const original = HTMLCanvasElement.prototype.getContext;
const contexts = new WeakMap<HTMLCanvasElement, unknown>();

beforeAll(() => {
  (HTMLCanvasElement.prototype as unknown as { getContext: unknown }).getContext = function (this: HTMLCanvasElement) {
    if (!contexts.has(this)) contexts.set(this, stubContext(this));
    return contexts.get(this);
  };
});
afterAll(() => {
  HTMLCanvasElement.prototype.getContext = original;
});
afterEach(() => {
  document.body.innerHTML = "";
});

/** The RGBA of pixel (x, y) of the last image a canvas was given. */
function pixel(canvas: Element, x: number, y: number): number[] {
  const image = (contexts.get(canvas as HTMLCanvasElement) as { image: { width: number; data: Uint8ClampedArray } }).image;
  const k = (y * image.width + x) * 4;
  return [...image.data.slice(k, k + 3)];
}

const darkness = (rgb: number[]) => 765 - rgb[0]! - rgb[1]! - rgb[2]!;

function calls(canvas: Element): Record<string, number> {
  return (contexts.get(canvas as HTMLCanvasElement) as { calls: Record<string, number> }).calls;
}

describe("painting (with a stub 2-D context)", () => {
  it("paints heatmap, overview and arcs once the replies arrive", async () => {
    const meta = makeMeta({ layers: 2, heads: 3 });
    const m = new FakeModel({ layer: 1, head: 2, token: -1, variant: "raw", arcs_all_heads: false, stage: "", meta });
    m.responder = responderFor(meta);
    const el = document.createElement("div");
    document.body.appendChild(el);
    widget.initialize({ model: m });
    widget.render({ model: m, el });
    await settle(40);
    const heat = el.querySelector<HTMLCanvasElement>(".tw-hm-canvas")!;
    expect([heat.width, heat.height]).toEqual([5, 5]);
    expect(calls(heat).putImageData).toBe(1);
    // layer 1, head 2: row i peaks (0.6) at column (i + 3) mod 5, the rest 0.1; on a light theme, darker = more
    expect(darkness(pixel(heat, 3, 0))).toBeGreaterThan(darkness(pixel(heat, 0, 0)) + 100);
    expect(pixel(heat, 4, 1)).toEqual(pixel(heat, 3, 0));
    expect(calls(el.querySelector(".tw-ov-canvas")!).putImageData).toBe(1);
    const arcs = el.querySelector<HTMLCanvasElement>(".tw-arcs-canvas")!;
    expect(arcs.dataset.lines).toBe("25");
    // the overview's heads as arcs: lines instead of an image
    const ov = el.querySelector(".tw-ov-canvas")!;
    el.querySelector<HTMLElement>(".tw-ov-mode")!.click();
    await settle(40);
    expect(calls(ov).stroke).toBeGreaterThanOrEqual(6); // at least one bucket of lines per head
    expect(calls(ov).putImageData).toBe(1);
    expect(calls(arcs).fillText).toBe(10); // 5 labels on each side
  });

  it("repaints a head switch from the cache, records its time, and draws one row for a token", async () => {
    const meta = makeMeta({ layers: 2, heads: 3 });
    const m = new FakeModel({ layer: 0, head: 0, token: -1, variant: "raw", arcs_all_heads: false, stage: "", meta });
    m.responder = responderFor(meta);
    const el = document.createElement("div");
    document.body.appendChild(el);
    widget.initialize({ model: m });
    const root = (widget.render({ model: m, el }), el.querySelector<HTMLElement>(".tw-root")!);
    await settle(40);
    const sent = m.sent.length;
    m.pythonSet("head", 2);
    await settle(40);
    const heat = el.querySelector<HTMLCanvasElement>(".tw-hm-canvas")!;
    expect(darkness(pixel(heat, 2, 0))).toBeGreaterThan(darkness(pixel(heat, 0, 0)) + 100); // head 2 peaks at i + 2
    expect(m.sent.length).toBe(sent);
    expect(Number(root.dataset.lastPaintMs)).toBeGreaterThanOrEqual(0);
    expect(root.dataset.lastSwitchMs).toBeDefined();
    m.pythonSet("token", 3);
    await settle(40);
    expect(el.querySelector<HTMLCanvasElement>(".tw-arcs-canvas")!.dataset.lines).toBe("5");
    m.pythonSet("arcs_all_heads", true);
    await settle(40);
    expect(el.querySelector<HTMLCanvasElement>(".tw-arcs-canvas")!.dataset.lines).toBe("15");
    expect(el.querySelectorAll(".tw-arcs-legend .tw-arcs-chip")).toHaveLength(3);
    el.querySelector<HTMLElement>(".tw-arcs-chip[data-head='1']")!.click(); // hide head 1's arcs
    await settle(40);
    expect(el.querySelector<HTMLCanvasElement>(".tw-arcs-canvas")!.dataset.lines).toBe("10");
  });

  it("paints a signed stage with the diverging scale", async () => {
    const stage = { name: "selfattn_query_hidden", group: "selfattn", dims: ["L", "H", "n", "dh"], shape: [2, 3, 5, 8], per_layer: true, per_head: true };
    const meta = makeMeta({ layers: 2, heads: 3, stages: [stage] });
    const m = new FakeModel({ layer: 0, head: 0, token: -1, variant: "raw", arcs_all_heads: false, stage: stage.name, panels: ["stages"], meta });
    m.responder = responderFor(meta);
    const el = document.createElement("div");
    document.body.appendChild(el);
    widget.render({ model: m, el });
    await settle(40);
    const c = el.querySelector<HTMLCanvasElement>(".tw-stage-canvas")!;
    expect([c.width, c.height]).toEqual([8, 5]);
    expect(calls(c).putImageData).toBe(1);
    // the reply's colour rule, shown on the colour bar beside the tensor
    expect(el.querySelector(".tw-stage-scale .tw-cbar-lo")!.textContent).toBe("-2.000");
    expect(el.querySelector(".tw-stage-scale .tw-cbar-hi")!.textContent).toBe("2.000");
    expect(calls(el.querySelector(".tw-stage-norms")!).fillRect).toBe(5);
  });
});
