// The attention variants derived from the raw attention, as transeasy_widget/attention.py defines them.
// Every matrix is a Float32Array of `heads` row-major blocks; k = kept pieces, m = words.

/** nosep: the rows and columns of the kept (non-special) pieces. */
export function nosep(raw: Float32Array, heads: number, n: number, kept: readonly number[]): Float32Array {
  const k = kept.length;
  const out = new Float32Array(heads * k * k);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < k; i++) {
      const src = (h * n + kept[i]!) * n;
      const dst = (h * k + i) * k;
      for (let j = 0; j < k; j++) out[dst + j] = raw[src + kept[j]!]!;
    }
  }
  return out;
}

/** nosep_linscale: each nosep row divided by its sum `sigma` (Python's exact sum); a zero row is uniform. */
export function linscale(nosepValues: Float32Array, heads: number, k: number, sigma: Float32Array): Float32Array {
  const out = new Float32Array(heads * k * k);
  for (let r = 0; r < heads * k; r++) {
    const total = sigma[r]!;
    const base = r * k;
    if (total === 0) out.fill(1 / k, base, base + k);
    else for (let j = 0; j < k; j++) out[base + j] = nosepValues[base + j]! / total;
  }
  return out;
}

/** nosep_softmax_scale: softmax over each nosep row. */
export function softmaxRows(nosepValues: Float32Array, heads: number, k: number): Float32Array {
  const out = new Float32Array(heads * k * k);
  for (let r = 0; r < heads * k; r++) {
    const base = r * k;
    let max = -Infinity;
    for (let j = 0; j < k; j++) max = Math.max(max, nosepValues[base + j]!);
    let total = 0;
    for (let j = 0; j < k; j++) {
      const e = Math.exp(nosepValues[base + j]! - max);
      out[base + j] = e;
      total += e;
    }
    for (let j = 0; j < k; j++) out[base + j] = out[base + j]! / total;
  }
  return out;
}

/** reduced: word-level linscale; a word's row is the MEAN of its pieces' rows, its column the SUM of theirs. */
export function reduce(lin: Float32Array, heads: number, k: number, wordOf: readonly number[], m: number): Float32Array {
  const counts = new Float64Array(m);
  for (const w of wordOf) counts[w]! += 1;
  const out = new Float32Array(heads * m * m);
  const acc = new Float64Array(m * m);
  for (let h = 0; h < heads; h++) {
    acc.fill(0);
    for (let i = 0; i < k; i++) {
      const wi = wordOf[i]!;
      const src = (h * k + i) * k;
      for (let j = 0; j < k; j++) acc[wi * m + wordOf[j]!]! += lin[src + j]!;
    }
    for (let wi = 0; wi < m; wi++) {
      const c = counts[wi]! || 1;
      for (let wj = 0; wj < m; wj++) out[(h * m + wi) * m + wj] = acc[wi * m + wj]! / c;
    }
  }
  return out;
}

export interface RawLayer {
  heads: number;
  n: number;
  /** Â = q · s / 255, heads × n × n */
  values: Float32Array;
  /** each kept row's exact sum over the kept columns, heads × k */
  sigma: Float32Array;
}

export interface AttentionInfo {
  kept: number[];
  word_of_piece: number[];
  n_words: number;
}

/** The chunk of one layer (s: float32 [H, n] | σ: float32 [H, k] | q: uint8 [H, n, n]) decoded to a RawLayer. */
export function readRawLayer(bytes: ArrayBuffer, heads: number, n: number, k: number): RawLayer {
  const s = new Float32Array(bytes, 0, heads * n);
  const sigma = new Float32Array(bytes, 4 * heads * n, heads * k);
  const q = new Uint8Array(bytes, 4 * heads * (n + k), heads * n * n);
  const values = new Float32Array(heads * n * n);
  for (let r = 0; r < heads * n; r++) {
    const step = s[r]! / 255;
    const base = r * n;
    for (let c = 0; c < n; c++) values[base + c] = q[base + c]! * step;
  }
  return { heads, n, values, sigma };
}

/** One variant of a layer: [values, m]. */
export function deriveVariant(variant: string, raw: RawLayer, info: AttentionInfo): [Float32Array, number] {
  const { heads, n } = raw;
  const k = info.kept.length;
  if (variant === "raw") return [raw.values, n];
  const ns = nosep(raw.values, heads, n, info.kept);
  if (variant === "nosep") return [ns, k];
  if (variant === "nosep_softmax_scale") return [softmaxRows(ns, heads, k), k];
  const lin = linscale(ns, heads, k, raw.sigma);
  if (variant === "nosep_linscale") return [lin, k];
  if (variant === "reduced") return [reduce(lin, heads, k, info.word_of_piece, info.n_words), info.n_words];
  throw new Error(`unknown attention variant ${variant}`);
}

/** One layer of a contribution view: `heads` (H, or 1 for a per-layer view) row-major n×n blocks. */
export interface ViewLayer {
  heads: number;
  n: number;
  values: Float32Array;
}

/** A per-layer view's chunk (s: float32 [H'] each matrix's max | q: uint8 [H', n, n] column by column, q[j, i])
 * decoded: x̂_ij = q[j, i] · s / levels. */
export function readViewLayer(bytes: ArrayBuffer, heads: number, n: number, levels = 255): ViewLayer {
  const s = new Float32Array(bytes, 0, heads);
  const q = new Uint8Array(bytes, 4 * heads, heads * n * n);
  const values = new Float32Array(heads * n * n);
  for (let h = 0; h < heads; h++) {
    const step = s[h]! / levels;
    const base = h * n * n;
    for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) values[base + i * n + j] = q[base + j * n + i]! * step;
  }
  return { heads, n, values };
}

/** norm, ‖α^h_ij f_h(x_j)‖ = α^h_ij ‖f_h(x_j)‖: the raw attention with column j of head h times factors[h, j]. */
export function attentionTimesColumns(raw: RawLayer, factors: Float32Array): ViewLayer {
  const { heads, n } = raw;
  const values = new Float32Array(heads * n * n);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < n; i++) {
      const base = (h * n + i) * n;
      for (let j = 0; j < n; j++) values[base + j] = raw.values[base + j]! * factors[h * n + j]!;
    }
  }
  return { heads, n, values };
}

/** Â = rownorm(0.5 · mean over heads of A + 0.5 · I) of one layer's raw attention: n×n (propagation.py). */
export function residualAttention(raw: RawLayer): Float32Array {
  const { heads, n, values } = raw;
  const out = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    const row = new Float64Array(n);
    for (let h = 0; h < heads; h++) {
      const base = (h * n + i) * n;
      for (let j = 0; j < n; j++) row[j]! += values[base + j]!;
    }
    let total = 0;
    for (let j = 0; j < n; j++) {
      row[j] = (0.5 * row[j]!) / heads + (i === j ? 0.5 : 0);
      total += row[j]!;
    }
    for (let j = 0; j < n; j++) out[i * n + j] = row[j]! / total;
  }
  return out;
}

/** M · R of two n×n row-major matrices (a rollout step, R^l = M^l R^(l-1)), accumulated in float64 per row. */
export function matmul(m: Float32Array, r: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n * n);
  const row = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    row.fill(0);
    for (let k = 0; k < n; k++) {
      const w = m[i * n + k]!;
      if (w === 0) continue;
      const base = k * n;
      for (let j = 0; j < n; j++) row[j]! += w * r[base + j]!;
    }
    out.set(row, i * n);
  }
  return out;
}

/** x̂_ij = q[j, i] / 255 · Σ_h norm[h, i, j]: norm_summed from its ratio to the sum over heads of the norm view
 * (q column by column, as every per-layer view's). */
export function ratioTimesHeadSum(q: Uint8Array, norm: ViewLayer, levels = 255): ViewLayer {
  const { heads, n, values } = norm;
  const out = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let h = 0; h < heads; h++) sum += values[(h * n + i) * n + j]!;
      out[i * n + j] = (q[j * n + i]! / levels) * sum;
    }
  }
  return { heads: 1, n, values: out };
}

/** Each n×n matrix of `values` max-pooled to t×t (torch's adaptive_max_pool2d bins: floor(i·n/t) … ceil((i+1)·n/t)),
 * as `payload.u8_thumbnails` draws the overview. */
export function maxPool(values: Float32Array, matrices: number, n: number, t: number): Float32Array {
  const out = new Float32Array(matrices * t * t);
  const lo = (i: number) => Math.floor((i * n) / t);
  const hi = (i: number) => Math.ceil(((i + 1) * n) / t);
  for (let m = 0; m < matrices; m++) {
    for (let a = 0; a < t; a++) {
      for (let b = 0; b < t; b++) {
        let best = -Infinity;
        for (let i = lo(a); i < hi(a); i++) {
          const row = (m * n + i) * n;
          for (let j = lo(b); j < hi(b); j++) best = Math.max(best, values[row + j]!);
        }
        out[(m * t + a) * t + b] = best;
      }
    }
  }
  return out;
}
