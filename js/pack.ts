// A pack (transeasy_widget/pack.py): the exported page's data, or the widget's saved first paint. It answers the
// widget's requests in the browser: layers derived from the raw attention, overviews and stage slices decoded.

import {
  attentionTimesColumns,
  deriveVariant,
  matmul,
  maxPool,
  ratioTimesHeadSum,
  residualAttention,
  readRawLayer,
  readViewLayer,
  type AttentionInfo,
  type RawLayer,
  type ViewLayer,
} from "./derive";
import { decodeFloat16, fromBase64, inflate, toHalfBits } from "./codec";
import type { Answer } from "./standalone";
import { VARIANTS } from "./types";

export interface StageEntry {
  content: Record<string, unknown>;
  chunk?: number;
  norms?: number;
}

/** min, max, mean and std (n - 1, as torch's) of values. */
export function stats(values: Float32Array): { min: number; max: number; mean: number; std: number } {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const v of values) {
    min = Math.min(min, v);
    max = Math.max(max, v);
    sum += v;
  }
  const mean = sum / values.length;
  let sq = 0;
  for (const v of values) sq += (v - mean) ** 2;
  return { min, max, mean, std: values.length > 1 ? Math.sqrt(sq / (values.length - 1)) : 0 };
}

export interface Manifest {
  version: number;
  n_layers: number;
  n_heads: number;
  attention: AttentionInfo & {
    layers: Record<string, number>;
    overview: Record<string, { content: Record<string, unknown>; chunk: number }>;
  };
  /** The views beyond attention weights (pack.py, "Contribution views"): per view its heads (H, or 1 for a
   * per-layer view), each layer's chunk and its overview; a view the analysis refused, with its message. */
  contributions?: {
    views: Record<string, {
      heads: number;
      layers: Record<string, number>;
      /** The overview reply and its chunk, or "derive": "pooled" (norm): pooled here from every layer. */
      overview: { content: Record<string, unknown>; chunk?: number; derive?: string };
      /** "attention_times_columns" (norm): the chunk holds ‖f_h(x_j)‖, H×n, to multiply the raw attention by;
       * "rollout": no chunks, R^l = M^l R^(l-1) of `of` ("attention": the residual attention; or a view's name). */
      derive?: string;
      of?: string;
      /** Layers held as the ratio to Σ_h of the page's norm (q = 255 · x / Σ_h ‖α^h f_h‖): norm_summed. */
      ratio_to_norm_sum?: Record<string, boolean>;
      /** Quantisation levels of the held matrices (255, or 127: pack.py). */
      levels?: number;
    }>;
    unavailable?: Record<string, string>;
  };
  stages?: Record<string, StageEntry>;
  /** The selfattn_attention reply without layer, head and numbers: the page derives them from the raw attention. */
  attention_stage?: Record<string, unknown>;
  stage_layers?: number[];
  /** The row view's sources (transeasy_widget/export.py): the stage of each column, each layer's sliding window
   * (a causal model; null: the whole prefix) and the model's score scaling of each layer whose stages are held. */
  rows?: { stages: Record<string, string>; causal: boolean; windows: Array<number | null>; scale: Record<string, number> };
  /** The logit lens reply without its buffers, and the chunks of its two buffers (ids, probabilities). */
  lens?: { content: Record<string, unknown>; chunks: number[] } | null;
  /** [start, end] in the text, or [start, end, part] in one of several texts */
  chunks: Array<[number, number] | [number, number, number]>;
}

/** The texts of a pack: one string, or parts read when first needed (a page's parts come as it parses). */
export type PackText = string | ((part: number) => Promise<string>);

/** A reply that no pack can give: the message says what would. */
export class NotInPack extends Error {}

export class PackData {
  private chunks = new Map<number, Promise<ArrayBuffer>>();
  private raws = new Map<number, Promise<RawLayer>>();
  private views = new Map<string, Promise<ViewLayer>>();
  private products = new Map<string, Promise<ViewLayer>>();

  constructor(
    readonly manifest: Manifest,
    private text: PackText,
    private tokens: string[],
    /** What to say when a request needs data the pack does not hold. */
    private missing: (what: string) => string,
  ) {}

  private chunk(index: number): Promise<ArrayBuffer> {
    let hit = this.chunks.get(index);
    if (!hit) {
      const span = this.manifest.chunks[index];
      if (!span) return Promise.reject(new Error(`the pack has no chunk ${index}`));
      const text = typeof this.text === "string" ? Promise.resolve(this.text) : this.text(span[2] ?? 0);
      hit = text.then((t) => inflate(fromBase64(t.slice(span[0], span[1]))));
      this.chunks.set(index, hit);
    }
    return hit;
  }

  hasLayer(layer: number): boolean {
    return String(layer) in this.manifest.attention.layers;
  }

  hasOverview(variant: string): boolean {
    return variant in this.manifest.attention.overview || variant in (this.manifest.contributions?.views ?? {});
  }

  /** Whether `variant` is a contribution view this pack holds, or one the analysis refused (its message). */
  private contribution(variant: string): "held" | "refused" | null {
    const c = this.manifest.contributions;
    if (c?.views[variant]) return "held";
    return c?.unavailable && variant in c.unavailable ? "refused" : null;
  }

  private refused(variant: string): Error {
    return new Error(this.manifest.contributions?.unavailable?.[variant] ?? `no ${variant} view in this page`);
  }

  /** One layer of a contribution view, decoded (transeasy_widget/pack.py, "Contribution views"). */
  private viewLayer(variant: string, layer: number): Promise<ViewLayer> {
    const key = `${variant}|${layer}`;
    let hit = this.views.get(key);
    if (!hit) {
      const view = this.manifest.contributions!.views[variant]!;
      if (view.derive === "rollout") return this.rollout(variant, view.of ?? "attention", layer);
      const index = view.layers[String(layer)];
      if (index === undefined) return Promise.reject(new NotInPack(this.missing(`layer ${layer} of ${variant}`)));
      const n = this.tokens.length;
      if (view.derive === "attention_times_columns") {
        hit = Promise.all([this.rawLayer(layer), this.chunk(index)]).then(([raw, bytes]) =>
          attentionTimesColumns(raw, decodeFloat16(bytes)));
      } else if (view.ratio_to_norm_sum?.[String(layer)]) {
        hit = Promise.all([this.viewLayer("norm", layer), this.chunk(index)]).then(([norm, bytes]) =>
          ratioTimesHeadSum(new Uint8Array(bytes, 0, n * n), norm, view.levels ?? 255));
      } else {
        hit = this.chunk(index).then((bytes) => readViewLayer(bytes, view.heads, n, view.levels ?? 255));
      }
      this.views.set(key, hit);
      this.chunks.delete(index);
      while (this.views.size > 3) this.views.delete(this.views.keys().next().value!);
    }
    return hit;
  }

  /** The decoded raw attention of a layer (the last few are kept: deriving a variant reads it). */
  rawLayer(layer: number): Promise<RawLayer> {
    let hit = this.raws.get(layer);
    if (!hit) {
      const index = this.manifest.attention.layers[String(layer)];
      if (index === undefined) return Promise.reject(new NotInPack(this.missing(`layer ${layer}`)));
      const n = this.tokens.length;
      const k = this.manifest.attention.kept.length;
      hit = this.chunk(index).then((bytes) => readRawLayer(bytes, this.manifest.n_heads, n, k));
      this.raws.set(layer, hit);
      this.chunks.delete(index); // the decoded layer replaces its bytes
      while (this.raws.size > 3) this.raws.delete(this.raws.keys().next().value!);
    }
    return hit;
  }

  /** Layer `layer` of a rollout, multiplied out through layers 0..layer (each step kept: the next one starts there). */
  private rollout(variant: string, of: string, layer: number): Promise<ViewLayer> {
    const key = `${variant}|${layer}`;
    let hit = this.products.get(key);
    if (!hit) {
      const n = this.tokens.length;
      const step: Promise<Float32Array> =
        of === "attention" ? this.rawLayer(layer).then(residualAttention) : this.viewLayer(of, layer).then((v) => v.values);
      const before = layer === 0 ? Promise.resolve(null) : this.rollout(variant, of, layer - 1);
      hit = Promise.all([step, before]).then(([m, prev]) => ({
        heads: 1,
        n,
        values: prev ? matmul(m, prev.values, n) : m,
      }));
      this.products.set(key, hit);
    }
    return hit;
  }

  async layer(variant: string, layer: number): Promise<Answer> {
    const kind = this.contribution(variant);
    if (kind === "refused") throw this.refused(variant);
    if (kind === "held") {
      const view = await this.viewLayer(variant, layer);
      const content = { what: "layer", variant, layer, dtype: "float16", shape: [view.heads, view.n, view.n] };
      return { content, buffers: [toHalfBits(view.values)] };
    }
    const raw = await this.rawLayer(layer);
    const [values, m] = deriveVariant(variant, raw, this.manifest.attention);
    const content = { what: "layer", variant, layer, dtype: "float16", shape: [raw.heads, m, m] };
    return { content, buffers: [toHalfBits(values)] };
  }

  async overview(variant: string): Promise<Answer> {
    if (this.contribution(variant) === "refused") throw this.refused(variant);
    const entry = this.manifest.attention.overview[variant] ?? this.manifest.contributions?.views[variant]?.overview;
    if (!entry) throw new NotInPack(this.missing(`the ${variant} overview`));
    if (entry.chunk === undefined) return this.pooledOverview(variant, entry.content);
    return { content: entry.content, buffers: [await this.chunk(entry.chunk)] };
  }

  /** A view's overview pooled from every layer, as payload.py's: one scale (vmax = the largest value of every layer),
   * 255 = vmax, and each head's max. */
  private async pooledOverview(variant: string, content: Record<string, unknown>): Promise<Answer> {
    const [layers, heads, t] = content.shape as number[];
    const pooled = new Float32Array(layers! * heads! * t! * t!);
    for (let l = 0; l < layers!; l++) {
      const view = await this.viewLayer(variant, l);
      pooled.set(maxPool(view.values, heads!, view.n, t!), l * heads! * t! * t!);
    }
    const headMax: number[] = [];
    for (let k = 0; k < layers! * heads!; k++) {
      let best = 0;
      for (let i = k * t! * t!; i < (k + 1) * t! * t!; i++) best = Math.max(best, pooled[i]!);
      headMax.push(best);
    }
    const vmax = Math.max(0, ...headMax) || 1;
    const data = new Uint8Array(pooled.length);
    for (let i = 0; i < pooled.length; i++) data[i] = Math.round((Math.min(Math.max(pooled[i]!, 0), vmax) / vmax) * 255);
    return { content: { ...content, vmax, head_max: headMax }, buffers: [data.buffer] };
  }

  /** The selfattn_attention stage of a layer and head: the raw attention's head slice, held once. */
  private async attentionStage(layer: number, head: number): Promise<Answer> {
    const raw = await this.rawLayer(layer);
    const n = raw.n;
    const values = raw.values.slice(head * n * n, (head + 1) * n * n);
    const norms: number[] = [];
    for (let r = 0; r < n; r++) {
      let s = 0;
      for (let c = 0; c < n; c++) s += values[r * n + c]! ** 2;
      norms.push(Math.sqrt(s));
    }
    const content = { ...this.manifest.attention_stage, layer, head, dtype: "float32", row_labels: this.tokens,
                      stats: stats(values), row_norms: norms };
    return { content, buffers: [values] };
  }

  async stage(stage: string, layer: number, head: number): Promise<Answer> {
    if (stage === "selfattn_attention" && this.manifest.attention_stage && this.hasLayer(layer)) {
      return this.attentionStage(layer, head);
    }
    const entry = this.manifest.stages?.[`${stage}|${layer}|${head}`];
    if (!entry) throw new NotInPack(this.missing(`the stage ${stage} of layer ${layer}`));
    const content: Record<string, unknown> = { ...entry.content };
    if (content.row_labels === "tokens") content.row_labels = this.tokens;
    if (entry.chunk === undefined) return { content, buffers: [] };
    const bytes = await this.chunk(entry.chunk);
    const shape = content.shape as number[];
    const rows = shape[0]!;
    const cols = shape[1]!;
    const scale = new Float32Array(bytes, 0, rows);
    const norms = Array.from(new Float32Array(bytes, 4 * rows, entry.norms ?? 0));
    const q = new Int8Array(bytes, 4 * (rows + (entry.norms ?? 0)), rows * cols);
    const values = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      const step = scale[r]! / 127;
      for (let c = 0; c < cols; c++) values[r * cols + c] = q[r * cols + c]! * step;
    }
    return { content: { ...content, dtype: "float32", row_norms: norms }, buffers: [values] };
  }

  /** Whether the page holds what the row view of this layer and head reads (its layer's stage tensors). */
  private holdsRow(layer: number, head: number): boolean {
    const rows = this.manifest.rows;
    const stages = this.manifest.stages ?? {};
    return !!rows && String(layer) in rows.scale && this.hasLayer(layer) &&
      ["q", "k", "dot", "scaled"].every((part) => `${rows.stages[part]}|${layer}|${head}` in stages);
  }

  /**
   * The row view's reply, from the page's 8-bit stage tensors: q (row `query` of the query stage), every k_j (the
   * key stage of the key/value head this head reads), their products, the dot products and scaled scores (rows of
   * their stages; −∞ where a causal mask hides the key) and the softmax (the page's raw attention row).
   */
  async row(layer: number, head: number, query: number): Promise<Answer> {
    const rows = this.manifest.rows;
    if (!rows || !this.holdsRow(layer, head)) throw new NotInPack(this.missing(`the row view of layer ${layer}`));
    const n = this.tokens.length;
    if (!(query >= 0 && query < n)) throw new NotInPack(`query ${query} is not a piece of this text (0…${n - 1})`);
    const read = async (part: string) => {
      const reply = await this.stage(rows.stages[part]!, layer, head);
      const shape = reply.content.shape as number[];
      if (reply.content.row_step !== 1 || reply.content.col_step !== 1) {
        throw new NotInPack(`the ${rows.stages[part]} tensor of layer ${layer} is aggregated in this page: the row view needs the kernel`);
      }
      return { values: reply.buffers![0] as Float32Array, cols: shape[1]! };
    };
    const [q, k, dot, scaled, raw] = await Promise.all([read("q"), read("k"), read("dot"), read("scaled"), this.rawLayer(layer)]);
    const dh = q.cols;
    const values = new Float32Array((2 * n + 1) * dh);
    values.set(q.values.subarray(query * dh, (query + 1) * dh), 0);
    values.set(k.values.subarray(0, n * dh), dh);
    for (let j = 0; j < n; j++) {
      for (let c = 0; c < dh; c++) values[(1 + n + j) * dh + c] = values[c]! * values[(1 + j) * dh + c]!;
    }
    const window = rows.windows[layer] ?? null;
    const hidden = (j: number) => rows.causal && (j > query || (window !== null && query - j >= window));
    const row = (m: { values: Float32Array }) => Array.from(m.values.subarray(query * n, (query + 1) * n));
    const content = {
      what: "row", layer, head, query, n, dh, stages: rows.stages, labels: this.tokens, dtype: "float32",
      shape: [2 * n + 1, dh], dot: row(dot), scaled: row(scaled).map((v, j) => (hidden(j) ? -Infinity : v)),
      softmax: Array.from(raw.values.subarray((head * n + query) * n, (head * n + query + 1) * n)),
      scale: rows.scale[String(layer)]!, note: "read from this page's 8-bit tensors",
    };
    return { content, buffers: [values] };
  }

  /** The logit lens, as the kernel would answer it (the page holds it for the k it was exported with). */
  async lens(k: number): Promise<Answer> {
    const entry = this.manifest.lens;
    if (!entry || entry.content.k !== k) throw new NotInPack(`the logit lens (k = ${k}) is not in this page`);
    return { content: entry.content, buffers: await Promise.all(entry.chunks.map((c) => this.chunk(c))) };
  }

  /** Whether the pack holds what a request asks for. */
  has(request: Record<string, unknown>): boolean {
    switch (request.what) {
      case "layer": {
        const variant = String(request.variant);
        const kind = this.contribution(variant);
        if (kind === "refused") return true; // answered with the analysis's message
        if (kind === "held") {
          const view = this.manifest.contributions!.views[variant]!;
          return view.derive === "rollout" ? this.hasLayer(Number(request.layer)) : String(request.layer) in view.layers;
        }
        return this.hasLayer(Number(request.layer)) && (VARIANTS as readonly string[]).includes(variant); // derived
      }
      case "overview":
        return this.hasOverview(String(request.variant)) || this.contribution(String(request.variant)) === "refused";
      case "stage": {
        const layer = Number(request.layer ?? 0);
        if (request.stage === "selfattn_attention" && this.manifest.attention_stage) return this.hasLayer(layer);
        return `${String(request.stage)}|${layer}|${Number(request.head ?? 0)}` in (this.manifest.stages ?? {});
      }
      case "lens":
        return !!this.manifest.lens && this.manifest.lens.content.k === request.k;
      case "row":
        return this.holdsRow(Number(request.layer), Number(request.head));
      default:
        return false;
    }
  }

  /** The reply to one request of the widget, from the pack. */
  answer(request: Record<string, unknown>): Promise<Answer> {
    switch (request.what) {
      case "layer":
        return this.layer(String(request.variant), Number(request.layer));
      case "overview":
        return this.overview(String(request.variant));
      case "stage":
        return this.stage(String(request.stage), Number(request.layer ?? 0), Number(request.head ?? 0));
      case "lens":
        return this.lens(Number(request.k));
      case "row":
        return this.row(Number(request.layer), Number(request.head), Number(request.query));
      default:
        return Promise.reject(new NotInPack(`no ${String(request.what)} data in this page`));
    }
  }
}
