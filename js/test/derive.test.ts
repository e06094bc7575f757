// The page's variants, derived in TypeScript from the page's chunks, against Python's (scripts/derive_fixture.py
// writes the fixture from transeasy_widget/attention.py), value by value within the error pack.py states.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { fromBase64, inflate } from "../codec";
import { deriveVariant, linscale, readRawLayer, reduce } from "../derive";
import { PackData } from "../pack";
import { halfTableF32 } from "../codec";

interface Fixture {
  heads: number;
  n: number;
  tokens: string[];
  info: { kept: number[]; word_of_piece: number[]; n_words: number };
  layers: Array<{ chunk: string; variants: Record<string, { values: number[]; bound: number[]; m: number }> }>;
}

const fixture = JSON.parse(readFileSync(resolve(__dirname, "fixtures", "derive.json"), "utf-8")) as Fixture;
const VARIANTS = ["raw", "nosep", "nosep_linscale", "nosep_softmax_scale", "reduced"];

/** Largest (|ours - python| - bound) over the values: ≤ 0 when every value is within its bound. */
function worstExcess(ours: ArrayLike<number>, want: { values: number[]; bound: number[] }, slack = 1e-6): number {
  let worst = -Infinity;
  for (let i = 0; i < want.values.length; i++) {
    worst = Math.max(worst, Math.abs(ours[i]! - want.values[i]!) - want.bound[i]! - slack);
  }
  return worst;
}

describe("variants derived in the page", () => {
  it("equal Python's within the stated error, for every variant of every layer", async () => {
    const k = fixture.info.kept.length;
    expect(k).toBe(fixture.n - 3); // a pair: [CLS] and two [SEP]s dropped
    for (const layer of fixture.layers) {
      const raw = readRawLayer(await inflate(fromBase64(layer.chunk)), fixture.heads, fixture.n, k);
      for (const variant of VARIANTS) {
        const want = layer.variants[variant]!;
        const [values, m] = deriveVariant(variant, raw, fixture.info);
        expect(m).toBe(want.m);
        expect(values.length).toBe(want.values.length);
        expect(worstExcess(values, want)).toBeLessThanOrEqual(0);
      }
    }
  });

  it("would see a wrong derivation (reduced rows summed instead of averaged; linscale by the quantised sum)", async () => {
    const k = fixture.info.kept.length;
    const layer = fixture.layers[0]!;
    const raw = readRawLayer(await inflate(fromBase64(layer.chunk)), fixture.heads, fixture.n, k);
    const [lin] = deriveVariant("nosep_linscale", raw, fixture.info);
    const m = fixture.info.n_words;
    const summed = reduce(lin, fixture.heads, k, fixture.info.word_of_piece, m).map((v, i) => {
      const w = Math.floor(i / m) % m;
      return v * fixture.info.word_of_piece.filter((x) => x === w).length;
    });
    expect(worstExcess(summed, layer.variants.reduced!)).toBeGreaterThan(0);
    const [ns] = deriveVariant("nosep", raw, fixture.info);
    expect(worstExcess(linscale(ns, fixture.heads, k, new Float32Array(fixture.heads * k).fill(1)), layer.variants.nosep_linscale!))
      .toBeGreaterThan(0);
  });

  it("reach the widget as float16 layer replies from a pack", async () => {
    const layer = fixture.layers[1]!;
    const manifest = {
      version: 1, n_layers: 2, n_heads: fixture.heads, chunks: [[0, layer.chunk.length]] as Array<[number, number]>,
      attention: { ...fixture.info, layers: { "1": 0 }, overview: {} },
    };
    const pack = new PackData(manifest, layer.chunk, fixture.tokens, (what) => `no ${what}`);
    const reply = await pack.answer({ what: "layer", variant: "reduced", layer: 1 });
    const m = fixture.info.n_words;
    expect(reply.content).toMatchObject({ what: "layer", variant: "reduced", layer: 1, dtype: "float16", shape: [fixture.heads, m, m] });
    const table = halfTableF32();
    const bits = reply.buffers![0] as Uint16Array;
    const want = layer.variants.reduced!;
    const half = { values: want.values, bound: want.bound.map((b, i) => b + Math.abs(want.values[i]!) * 2 ** -10) };
    expect(worstExcess(Array.from(bits, (b) => table[b]!), half)).toBeLessThanOrEqual(0);
    await expect(pack.answer({ what: "layer", variant: "raw", layer: 0 })).rejects.toThrow("no layer 0");
  });
});
