// A pack (transeasy_widget/pack.py): the exported page's data, or the widget's saved first paint. It answers the
// widget's requests in the browser: layers derived from the raw attention, overviews and stage slices decoded.

import { deriveVariant, readRawLayer, type AttentionInfo, type RawLayer } from "./derive";
import { fromBase64, inflate, toHalfBits } from "./codec";
import type { Answer } from "./standalone";

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
  stages?: Record<string, StageEntry>;
  /** The selfattn_attention reply without layer, head and numbers: the page derives them from the raw attention. */
  attention_stage?: Record<string, unknown>;
  stage_layers?: number[];
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
    return variant in this.manifest.attention.overview;
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

  async layer(variant: string, layer: number): Promise<Answer> {
    const raw = await this.rawLayer(layer);
    const [values, m] = deriveVariant(variant, raw, this.manifest.attention);
    const content = { what: "layer", variant, layer, dtype: "float16", shape: [raw.heads, m, m] };
    return { content, buffers: [toHalfBits(values)] };
  }

  async overview(variant: string): Promise<Answer> {
    const entry = this.manifest.attention.overview[variant];
    if (!entry) throw new NotInPack(this.missing(`the ${variant} overview`));
    return { content: entry.content, buffers: [await this.chunk(entry.chunk)] };
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

  /** The logit lens, as the kernel would answer it (the page holds it for the k it was exported with). */
  async lens(k: number): Promise<Answer> {
    const entry = this.manifest.lens;
    if (!entry || entry.content.k !== k) throw new NotInPack(`the logit lens (k = ${k}) is not in this page`);
    return { content: entry.content, buffers: await Promise.all(entry.chunks.map((c) => this.chunk(c))) };
  }

  /** Whether the pack holds what a request asks for. */
  has(request: Record<string, unknown>): boolean {
    switch (request.what) {
      case "layer":
        return this.hasLayer(Number(request.layer));
      case "overview":
        return this.hasOverview(String(request.variant));
      case "stage": {
        const layer = Number(request.layer ?? 0);
        if (request.stage === "selfattn_attention" && this.manifest.attention_stage) return this.hasLayer(layer);
        return `${String(request.stage)}|${layer}|${Number(request.head ?? 0)}` in (this.manifest.stages ?? {});
      }
      case "lens":
        return !!this.manifest.lens && this.manifest.lens.content.k === request.k;
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
      default:
        return Promise.reject(new NotInPack(`no ${String(request.what)} data in this page`));
    }
  }
}
