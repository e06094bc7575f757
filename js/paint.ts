// Pure pixel work: matrices and thumbnails into packed RGBA (Uint32) buffers, arcs into opacity buckets.

import type { OverviewGeometry } from "./layout";
import { thumbOrigin } from "./layout";

/** Largest value among `count` half-precision values starting at `offset` (NaN skipped; -Infinity if none). */
export function maxOfHalf(bits: Uint16Array, offset: number, count: number, table: Float32Array): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = offset, end = offset + count; i < end; i++) {
    const v = table[bits[i]!]!;
    if (v > max) max = v;
  }
  return max;
}

/** Largest |value| among `count` half-precision values starting at `offset` (NaN skipped; 0 if none). */
export function maxAbsOfHalf(bits: Uint16Array, offset: number, count: number, table: Float32Array): number {
  let max = 0;
  for (let i = offset, end = offset + count; i < end; i++) {
    const v = Math.abs(table[bits[i]!]!);
    if (v > max) max = v;
  }
  return max;
}

/**
 * Colours `count` half-precision values into `out` through `lut` on the domain [lo, hi].
 * Returns how many cells got a colour above the LUT's first entry (a non-blank check).
 */
export function fillFromHalf(
  out: Uint32Array,
  bits: Uint16Array,
  offset: number,
  count: number,
  table: Float32Array,
  lut: Uint32Array,
  lo: number,
  hi: number,
): number {
  const n = lut.length;
  const scale = hi > lo ? n / (hi - lo) : 0;
  let lit = 0;
  for (let i = 0; i < count; i++) {
    let k = ((table[bits[offset + i]!]! - lo) * scale) | 0;
    if (k <= 0) k = 0;
    else {
      if (k >= n) k = n - 1;
      lit++;
    }
    out[i] = lut[k]!;
  }
  return lit;
}

/** As fillFromHalf, from float32 values; returns how many cells differ from the colour of `neutral`. */
export function fillFromFloat(
  out: Uint32Array,
  values: Float32Array,
  offset: number,
  count: number,
  lut: Uint32Array,
  lo: number,
  hi: number,
): number {
  const n = lut.length;
  const scale = hi > lo ? n / (hi - lo) : 0;
  let lit = 0;
  const blank = lo < 0 && hi > 0 ? lut[(n - 1) >> 1]! : lut[0]!;
  for (let i = 0; i < count; i++) {
    let k = ((values[offset + i]! - lo) * scale) | 0;
    if (k < 0) k = 0;
    else if (k >= n) k = n - 1;
    const c = lut[k]!;
    out[i] = c;
    if (c !== blank) lit++;
  }
  return lit;
}

/**
 * Tiles L×H uint8 thumbnails (t×t each, layer-major, 255 = the reply's vmax) into an overview canvas buffer of
 * geometry `g`, each drawn at g.thumb px (nearest value under each pixel); value v of head i is coloured as
 * v · gain[i] (1: the shared scale; vmax / head max: each head on its own). Gaps get `gapColor`.
 */
export function fillOverview(
  out: Uint32Array,
  g: OverviewGeometry,
  data: Uint8Array,
  t: number,
  lut: Uint32Array,
  gapColor: number,
  gain: readonly number[] = [],
): void {
  out.fill(gapColor);
  const side = g.thumb;
  const n = lut.length;
  const src = new Int32Array(side);
  for (let x = 0; x < side; x++) src[x] = Math.min(t - 1, Math.floor((x * t) / side));
  for (let l = 0; l < g.layers; l++) {
    for (let h = 0; h < g.heads; h++) {
      const [x0, y0] = thumbOrigin(g, l, h);
      const head = l * g.heads + h;
      const base = head * t * t;
      const k = ((gain[head] ?? 1) * n) / 256;
      for (let r = 0; r < side; r++) {
        const row = (y0 + r) * g.width + x0;
        const srow = base + src[r]! * t;
        for (let c = 0; c < side; c++) {
          const v = data[srow + src[c]!] ?? 0;
          out[row + c] = lut[Math.min(n - 1, Math.floor(v * k))]!;
        }
      }
    }
  }
}

/** Bar lengths in pixels for per-row norms, the largest norm filling `width`. */
export function barLengths(norms: readonly number[], width: number): number[] {
  const max = norms.reduce((a, b) => (b > a ? b : a), 0);
  return norms.map((v) => (max > 0 && v > 0 ? Math.max(1, Math.round((v / max) * width)) : 0));
}

export interface ArcBuckets {
  /** For each opacity bucket, flattened pairs (row, col). */
  pairs: number[][];
  /** Lines kept. */
  count: number;
}

/**
 * Lines of one head for the arcs view: weight w(row, col) of a m×m block at `offset`,
 * kept when w ≥ threshold and the line touches rows [first, last] on either side,
 * grouped into `buckets` opacity buckets by weight (bucket b holds weights near (b+0.5)/buckets).
 * With `only` ≥ 0, just that row's lines.
 * Weights are divided by `scale` first (a head's max, where rows do not sum to 1).
 */
export function arcBuckets(
  bits: Uint16Array,
  offset: number,
  m: number,
  table: Float32Array,
  threshold: number,
  first: number,
  last: number,
  only = -1,
  buckets = 8,
  scale = 1,
): ArcBuckets {
  const pairs: number[][] = Array.from({ length: buckets }, () => []);
  let count = 0;
  const rowFrom = only >= 0 ? only : 0;
  const rowTo = only >= 0 ? only : m - 1;
  for (let i = rowFrom; i <= rowTo; i++) {
    const rowVisible = i >= first && i <= last;
    const base = offset + i * m;
    const colFrom = rowVisible || only >= 0 ? 0 : first;
    const colTo = rowVisible || only >= 0 ? m - 1 : last;
    for (let j = colFrom; j <= colTo; j++) {
      const w = table[bits[base + j]!]! / scale;
      if (!(w >= threshold) || w <= 0) continue;
      const b = Math.min(buckets - 1, Math.floor(w * buckets));
      pairs[b]!.push(i, j);
      count++;
    }
  }
  return { pairs, count };
}

/** Threshold under which arcs are skipped: none for short inputs, more for long ones. */
export function arcThreshold(m: number): number {
  return m <= 32 ? 0 : m <= 128 ? 0.01 : 0.03;
}
