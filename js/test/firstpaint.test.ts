// The saved first paint: the widget paints from `_first_paint` without a kernel, and says at once what it cannot show.
import { afterEach, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { DataClient, OFFLINE_MESSAGE } from "../client";
import { firstPaintSource, kernelMissing } from "../firstpaint";
import { FakeModel, makeMeta } from "./fakeModel";

const fixture = JSON.parse(readFileSync(resolve(__dirname, "fixtures", "derive.json"), "utf-8")) as {
  heads: number; tokens: string[]; info: Record<string, unknown>; layers: Array<{ chunk: string }>;
};

function savedModel(manager: unknown): FakeModel {
  const chunk = fixture.layers[1]!.chunk;
  const m = new FakeModel({
    meta: makeMeta({ layers: 2, heads: fixture.heads, tokens: fixture.tokens }),
    _first_paint: {
      manifest: { version: 1, n_layers: 2, n_heads: fixture.heads, chunks: [[0, chunk.length]],
                  attention: { ...fixture.info, layers: { "1": 0 }, overview: {} } },
      data: chunk,
    },
  });
  (m as unknown as { widget_manager: unknown }).widget_manager = manager;
  return m;
}

describe("the saved first paint", () => {
  afterEach(() => {
    document.body.innerHTML = "";
  });

  it("knows when no kernel is connected", () => {
    expect(kernelMissing(savedModel({ kernel: null }))).toBe(true);
    expect(kernelMissing(savedModel({ loader: {} }))).toBe(false); // no `kernel`: judged by the comm (commDead)
    expect(kernelMissing(savedModel({ kernel: { status: "idle" } }))).toBe(false);
    expect(kernelMissing(savedModel(undefined))).toBe(false);
  });

  it("answers the saved layer without asking, and anything else at once with 'run the cell'", async () => {
    const m = savedModel({ kernel: null });
    const client = new DataClient(m, { local: firstPaintSource(m), timeoutMs: 120_000 });
    const layer = await client.layer("nosep", 1);
    expect(layer.heads).toBe(fixture.heads);
    expect(m.sent).toHaveLength(0);
    const started = Date.now();
    await expect(client.layer("raw", 0)).rejects.toThrow(OFFLINE_MESSAGE);
    expect(Date.now() - started).toBeLessThan(100);
    expect(m.sent).toHaveLength(0);
  });

  it("asks the kernel for what the saved view lacks when one is connected", () => {
    const m = savedModel({ kernel: { status: "idle" } });
    const client = new DataClient(m, { local: firstPaintSource(m), timeoutMs: 0 });
    void client.layer("raw", 0);
    expect(m.sent).toHaveLength(1);
  });
});

describe("a model of a manager without a kernel (the HTML manager)", () => {
  it("has no comm, so what the saved view lacks fails at once", async () => {
    const m = savedModel(undefined);
    (m as unknown as { widget_manager: unknown }).widget_manager = {
      loader: {},
      _models: { mine: Promise.resolve({ get: (k: string) => m.get(k), comm: undefined }) },
    };
    const client = new DataClient(m, { local: firstPaintSource(m), timeoutMs: 120_000 });
    await new Promise((r) => setTimeout(r, 0));
    await expect(client.layer("raw", 0)).rejects.toThrow(OFFLINE_MESSAGE);
    expect(m.sent).toHaveLength(0);
  });
});

describe("a model restored from saved state while a kernel runs", () => {
  it("is found among the manager's models and, without a live comm, answers at once", async () => {
    const m = savedModel(undefined);
    const restored = { get: (k: string) => m.get(k), comm_live: false, comm: undefined };
    (m as unknown as { widget_manager: unknown }).widget_manager = {
      kernel: { status: "idle" },
      _models: { other: Promise.resolve({ get: () => undefined, comm_live: true }), mine: Promise.resolve(restored) },
    };
    const client = new DataClient(m, { local: firstPaintSource(m), timeoutMs: 120_000 });
    await new Promise((r) => setTimeout(r, 0));
    await expect(client.layer("raw", 0)).rejects.toThrow(OFFLINE_MESSAGE);
    expect(m.sent).toHaveLength(0);
    restored.comm_live = true;
    (restored as { comm: unknown }).comm = {};
    const live = new DataClient(m, { local: firstPaintSource(m), timeoutMs: 0 });
    await new Promise((r) => setTimeout(r, 0));
    void live.layer("raw", 0);
    expect(m.sent).toHaveLength(1);
  });
});
