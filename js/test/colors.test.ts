import { describe, expect, it } from "vitest";
import {
  DIVERGING_SIZE,
  LUT_SIZE,
  headColor,
  isDark,
  luminance,
  lutIndex,
  packRGBA,
  paletteFor,
  parseColor,
  rampRGBA,
} from "../colors";

const WHITE = [255, 255, 255] as const;
const DARK = [17, 17, 17] as const;

function rgbAt(rgba: Uint8ClampedArray, i: number): number[] {
  return [rgba[i * 4]!, rgba[i * 4 + 1]!, rgba[i * 4 + 2]!];
}

describe("parseColor", () => {
  it("reads hex and rgb forms, and refuses transparent ones", () => {
    expect(parseColor("#fff")).toEqual([255, 255, 255]);
    expect(parseColor("#1976d2")).toEqual([25, 118, 210]);
    expect(parseColor("rgb(17, 34, 51)")).toEqual([17, 34, 51]);
    expect(parseColor("rgba(1, 2, 3, 0.5)")).toEqual([1, 2, 3]);
    expect(parseColor("rgba(0, 0, 0, 0)")).toBeNull();
    expect(parseColor("transparent")).toBeNull();
    expect(parseColor("")).toBeNull();
  });
});

describe("sequential scale", () => {
  for (const [name, bg] of [["light", WHITE], ["dark", DARK]] as const) {
    it(`starts at the ${name} background and gains contrast monotonically`, () => {
      const p = paletteFor(bg, [0, 0, 0]);
      expect(rgbAt(p.sequentialRGBA, 0)).toEqual([...bg]);
      const lum = Array.from({ length: LUT_SIZE }, (_, i) => luminance(rgbAt(p.sequentialRGBA, i) as unknown as [number, number, number]));
      const contrast = lum.map((l) => Math.abs(l - lum[0]!));
      for (let i = 1; i < LUT_SIZE; i++) expect(contrast[i]!).toBeGreaterThanOrEqual(contrast[i - 1]! - 1e-9);
      expect(contrast[LUT_SIZE - 1]!).toBeGreaterThan(0.5);
    });
  }

  it("knows which backgrounds are dark", () => {
    expect(isDark(DARK)).toBe(true);
    expect(isDark(WHITE)).toBe(false);
  });
});

describe("diverging scale", () => {
  it("is the background exactly at zero and moves away on both sides", () => {
    for (const bg of [WHITE, DARK]) {
      const p = paletteFor(bg, [0, 0, 0]);
      expect(p.diverging.length).toBe(DIVERGING_SIZE);
      const centre = lutIndex(0, -3, 3, DIVERGING_SIZE);
      expect(centre).toBe((DIVERGING_SIZE - 1) / 2);
      expect(rgbAt(p.divergingRGBA, centre)).toEqual([...bg]);
      const neg = rgbAt(p.divergingRGBA, 0);
      const pos = rgbAt(p.divergingRGBA, DIVERGING_SIZE - 1);
      expect(neg[2]!).toBeGreaterThan(neg[0]!); // blue side
      expect(pos[0]!).toBeGreaterThan(pos[2]!); // red side
      const dist = (c: number[]) => Math.hypot(c[0]! - bg[0], c[1]! - bg[1], c[2]! - bg[2]);
      for (let i = centre; i < DIVERGING_SIZE - 1; i++) expect(dist(rgbAt(p.divergingRGBA, i + 1))).toBeGreaterThanOrEqual(dist(rgbAt(p.divergingRGBA, i)) - 1);
      for (let i = centre; i > 0; i--) expect(dist(rgbAt(p.divergingRGBA, i - 1))).toBeGreaterThanOrEqual(dist(rgbAt(p.divergingRGBA, i)) - 1);
    }
  });

});

describe("lut helpers", () => {
  it("clamps indices and maps NaN to the low end", () => {
    expect(lutIndex(-5, 0, 1)).toBe(0);
    expect(lutIndex(0, 0, 1)).toBe(0);
    expect(lutIndex(1, 0, 1)).toBe(255);
    expect(lutIndex(7, 0, 1)).toBe(255);
    expect(lutIndex(Number.NaN, 0, 1)).toBe(0);
    expect(lutIndex(0.5, 1, 1)).toBe(0);
  });

  it("interpolates ramps through their stops", () => {
    const r = rampRGBA([[0, 0, 0], [200, 100, 50]], 3);
    expect(rgbAt(r, 1)).toEqual([100, 50, 25]);
    expect(r[3]).toBe(255);
  });

  it("packs colours in ImageData byte order", () => {
    const word = new Uint32Array([packRGBA(1, 2, 3, 4)]);
    expect(Array.from(new Uint8Array(word.buffer))).toEqual([1, 2, 3, 4]);
  });

  it("gives every head its own colour", () => {
    const colours = new Set(Array.from({ length: 12 }, (_, h) => headColor(h, 12, false).join(",")));
    expect(colours.size).toBe(12);
  });
});
