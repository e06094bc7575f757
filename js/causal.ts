// Causal models in the views: which cells the mask hides (the rule of transeasy_widget/causal.py, the same here),
// which key/value head each query head reads, the names a decoder's variants get, and where each row of a
// variant sits among the raw positions (the lens panel links its columns to the selected token through it).

import { type Palette, packRGBA } from "./colors";
import type { CausalInfo, LensInfo, Meta } from "./types";

export const SEEN = 0;
export const MASKED_CAUSAL = 1;
export const MASKED_WINDOW = 2;

/** What a masked cell's tooltip says, by mask value. */
export const MASK_TEXT: Record<number, string> = {
  [MASKED_CAUSAL]: "masked (causal)",
  [MASKED_WINDOW]: "masked (sliding window)",
};

// -- reading meta ------------------------------------------------------------------------------------------------

export function readCausal(v: unknown): CausalInfo | null {
  if (!v || typeof v !== "object") return null;
  const w = (v as Record<string, unknown>).windows;
  if (!Array.isArray(w)) return null;
  return { windows: w.map((x) => (typeof x === "number" && x > 0 ? x : null)) };
}

export function readKvHeads(v: unknown, heads: number): number[] | null {
  if (!Array.isArray(v) || v.length !== heads || !v.every((x) => typeof x === "number")) return null;
  return v as number[];
}

export function readLens(v: unknown): LensInfo | null {
  if (!v || typeof v !== "object") return null;
  const o = v as Record<string, unknown>;
  const k = typeof o.k === "number" && o.k >= 1 ? Math.trunc(o.k) : 0;
  if (!k || !Array.isArray(o.rows)) return null;
  return { kind: typeof o.kind === "string" ? o.kind : "token", k, rows: o.rows.map(String) };
}

export function readPieces(v: unknown, n: number): Array<[number, number]> | undefined {
  if (!Array.isArray(v) || v.length !== n) return undefined;
  const out: Array<[number, number]> = [];
  for (const p of v) {
    if (!Array.isArray(p) || typeof p[0] !== "number" || typeof p[1] !== "number") return undefined;
    out.push([p[0], p[1]]);
  }
  return out;
}

// -- labels ------------------------------------------------------------------------------------------------------

/** "head 5 · kv 1" where query heads share key/value heads, else "head 5". */
export function headLabel(meta: Meta, head: number): string {
  const kv = meta.kv_heads?.[head];
  return kv === undefined ? `head ${head}` : `head ${head} · kv ${kv}`;
}

/** The head selector's option: "H5 · kv 1", or "H5". */
export function headOption(meta: Meta, head: number): string {
  const kv = meta.kv_heads?.[head];
  return kv === undefined ? `H${head}` : `H${head} · kv ${kv}`;
}

/**
 * The variant switch's name of a variant: a causal model's special token is its BOS (where the tokenizer adds
 * one), so "no [CLS]/[SEP]" reads "no <s>" there, or says that there is none to drop.
 */
export function variantTitle(meta: Meta, variant: string, fallback: string): string {
  if (!meta.causal || !variant.startsWith("nosep")) return fallback;
  const dropped = [...new Set(meta.tokens.filter((_, i) => meta.special[i]))];
  const name = dropped.length ? `no ${dropped.join("/")}` : "no specials (none here: = raw)";
  if (variant === "nosep_linscale") return `${name}, rows rescaled`;
  if (variant === "nosep_softmax_scale") return `${name}, softmax`;
  return name;
}

// -- positions ---------------------------------------------------------------------------------------------------

/** The raw positions [first[i], last[i]] each row of a variant covers: a piece, or a word's pieces (reduced). */
export function rowSpans(meta: Meta, variant: string): { first: Int32Array; last: Int32Array } {
  const info = meta.variants[variant];
  if (variant === "reduced") {
    const pieces = info?.pieces ?? [];
    return { first: Int32Array.from(pieces, (p) => p[0]), last: Int32Array.from(pieces, (p) => p[1]) };
  }
  const positions: number[] = [];
  const every = variant === "raw" || info?.group === "contributions"; // these keep the special tokens' rows
  for (let p = 0; p < meta.tokens.length; p++) if (every || !meta.special[p]) positions.push(p);
  const first = Int32Array.from(positions);
  return { first, last: first };
}

/** The row of a variant that holds raw position `p` (-1: none, a special token the variant drops). */
export function rowOfPosition(meta: Meta, variant: string, p: number): number {
  const { first, last } = rowSpans(meta, variant);
  for (let i = 0; i < first.length; i++) if (first[i]! <= p && p <= last[i]!) return i;
  return -1;
}

/** The raw position a row of a variant reads out at: its piece, or a word's last piece (-1: no such row). */
export function positionOfRow(meta: Meta, variant: string, row: number): number {
  if (row < 0) return -1;
  const { last } = rowSpans(meta, variant);
  return row < last.length ? last[row]! : -1;
}

// -- the mask ----------------------------------------------------------------------------------------------------

/**
 * Whether the mask hides every key of raw positions [c, d] from every query of [a, b] (causal.py masked_cell):
 * MASKED_CAUSAL when every key comes after every query, MASKED_WINDOW when the nearest pair is `window` or more
 * apart, else SEEN.
 */
export function maskedCell(a: number, b: number, c: number, d: number, window: number | null): number {
  if (c > b) return MASKED_CAUSAL;
  if (window === null || a <= d) return SEEN;
  return a - d >= window ? MASKED_WINDOW : SEEN;
}

const cache = new WeakMap<Meta, Map<string, Uint8Array | null>>();

function remembered(meta: Meta, key: string, make: () => Uint8Array | null): Uint8Array | null {
  let byKey = cache.get(meta);
  if (!byKey) cache.set(meta, (byKey = new Map()));
  if (!byKey.has(key)) byKey.set(key, make());
  return byKey.get(key)!;
}

/** Rows [start, end] of block i when m rows are max-pooled to t (PyTorch's adaptive pooling, payload.py). */
export function poolBlock(i: number, m: number, t: number): [number, number] {
  return [Math.floor((i * m) / t), Math.ceil(((i + 1) * m) / t) - 1];
}

/**
 * The mask of a variant's map at one layer, pooled to t×t blocks (t = m: the map itself), row-major: SEEN or the
 * reason a cell is masked. null: nothing is masked (not a causal model, or rows that do not match the variant).
 */
export function maskOf(meta: Meta, variant: string, layer: number, m: number, t = m): Uint8Array | null {
  if (!meta.causal || m <= 0 || t <= 0) return null;
  // causal in every view; a sliding window bounds one layer's attention, not what is multiplied through layers
  const window = meta.variants[variant]?.through_layers ? null : (meta.causal.windows[layer] ?? null);
  return remembered(meta, `${variant}|${window}|${m}|${t}`, () => {
    const { first, last } = rowSpans(meta, variant);
    if (first.length !== m) return null;
    const lo = new Int32Array(t);
    const hi = new Int32Array(t);
    for (let i = 0; i < t; i++) {
      const [start, end] = poolBlock(i, m, t);
      lo[i] = first[start]!;
      hi[i] = last[Math.min(m - 1, end)]!;
    }
    const out = new Uint8Array(t * t);
    for (let i = 0; i < t; i++) for (let j = 0; j < t; j++) out[i * t + j] = maskedCell(lo[i]!, hi[i]!, lo[j]!, hi[j]!, window);
    return out;
  });
}

/** The (row, col) pairs of a flat list that the mask lets through (the arcs view draws no masked line). */
export function seenPairs(pairs: readonly number[], mask: Uint8Array, m: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < pairs.length; k += 2) if (mask[pairs[k]! * m + pairs[k + 1]!] === SEEN) out.push(pairs[k]!, pairs[k + 1]!);
  return out;
}

/** The colour of a masked cell: a neutral grey between the background and the text, off the attention ramp. */
export function maskedRGB(palette: Palette): [number, number, number] {
  const mix = (k: number) => Math.round(palette.background[k]! * 0.72 + palette.foreground[k]! * 0.28);
  return [mix(0), mix(1), mix(2)];
}

export function maskedColour(palette: Palette): number {
  const [r, g, b] = maskedRGB(palette);
  return packRGBA(r, g, b);
}

/** Paints the masked cells of an m×m map (one pixel per cell) in `colour`; returns how many. */
export function paintMask(out: Uint32Array, mask: Uint8Array, colour: number): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) {
    if (mask[i] !== SEEN) {
      out[i] = colour;
      n++;
    }
  }
  return n;
}

/**
 * Paints the masked blocks of every thumbnail of an overview canvas (overview.ts: layer rows, head columns, each
 * thumbnail `side` px showing t×t values, pixel x reading value min(t - 1, ⌊x t / side⌋), `gap` px between).
 */
export function paintThumbMasks(
  out: Uint32Array,
  width: number,
  layers: number,
  heads: number,
  side: number,
  gap: number,
  t: number,
  maskOfLayer: (layer: number) => Uint8Array | null,
  colour: number,
): void {
  const src = new Int32Array(side);
  for (let x = 0; x < side; x++) src[x] = Math.min(t - 1, Math.floor((x * t) / side));
  for (let l = 0; l < layers; l++) {
    const mask = maskOfLayer(l);
    if (!mask) continue;
    const y0 = l * (side + gap);
    for (let hd = 0; hd < heads; hd++) {
      const x0 = hd * (side + gap);
      for (let r = 0; r < side; r++) {
        const row = (y0 + r) * width + x0;
        const mrow = src[r]! * t;
        for (let c = 0; c < side; c++) if (mask[mrow + src[c]!] !== SEEN) out[row + c] = colour;
      }
    }
  }
}
