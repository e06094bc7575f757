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
    const heat = el.querySelector<HTMLCanvasElement>(".tw-heatmap canvas")!;
    expect(heat.dataset.painted).toBe("1");
    expect([heat.width, heat.height]).toEqual([5, 5]);
    expect(Number(heat.dataset.lit)).toBeGreaterThan(0);
    expect(calls(heat).putImageData).toBe(1);
    expect(el.querySelector<HTMLCanvasElement>(".tw-overview canvas")!.dataset.painted).toBe("1");
    const arcs = el.querySelector<HTMLCanvasElement>(".tw-arcs canvas")!;
    expect(arcs.dataset.painted).toBe("1");
    expect(arcs.dataset.lines).toBe("25");
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
    const heat = el.querySelector<HTMLCanvasElement>(".tw-heatmap canvas")!;
    expect(heat.dataset.head).toBe("2");
    expect(m.sent.length).toBe(sent);
    expect(Number(root.dataset.lastPaintMs)).toBeGreaterThanOrEqual(0);
    expect(root.dataset.lastSwitchMs).toBeDefined();
    m.pythonSet("token", 3);
    await settle(40);
    expect(el.querySelector<HTMLCanvasElement>(".tw-arcs canvas")!.dataset.lines).toBe("5");
    m.pythonSet("arcs_all_heads", true);
    await settle(40);
    expect(el.querySelector<HTMLCanvasElement>(".tw-arcs canvas")!.dataset.lines).toBe("15");
    expect(el.querySelectorAll(".tw-arcs-legend span")).toHaveLength(3);
  });

  it("paints a signed stage with the diverging scale", async () => {
    const stage = { name: "selfattn_query_hidden", group: "selfattn", dims: ["L", "H", "n", "dh"], shape: [2, 3, 5, 8], per_layer: true, per_head: true };
    const meta = makeMeta({ layers: 2, heads: 3, stages: [stage] });
    const m = new FakeModel({ layer: 0, head: 0, token: -1, variant: "raw", arcs_all_heads: false, stage: stage.name, meta });
    m.responder = responderFor(meta);
    const el = document.createElement("div");
    document.body.appendChild(el);
    widget.render({ model: m, el });
    await settle(40);
    const c = el.querySelector<HTMLCanvasElement>(".tw-stage-canvas")!;
    expect(c.dataset.painted).toBe("1");
    expect(c.dataset.scale).toBe("diverging");
    expect([c.width, c.height]).toEqual([8, 5]);
    expect(el.querySelector<HTMLCanvasElement>(".tw-stage-norms")!.dataset.painted).toBe("1");
  });
});
