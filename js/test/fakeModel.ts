// A fake anywidget model for tests: records set/save_changes/send, lets a test play Python (traits, replies).

import type { Handler, WidgetModel } from "../types";

export type Responder = (request: Record<string, unknown>) => { content: Record<string, unknown>; buffers?: ArrayBuffer[] } | null;

export class FakeModel implements WidgetModel {
  state: Record<string, unknown>;
  handlers = new Map<string, Set<Handler>>();
  sent: Array<Record<string, unknown>> = [];
  sets: Array<[string, unknown]> = [];
  saves = 0;
  /** When set, every request is answered by it one microtask later (as a kernel would, asynchronously). */
  responder: Responder | null = null;

  constructor(state: Record<string, unknown> = {}) {
    this.state = { ...state };
  }

  get(name: string): unknown {
    return this.state[name];
  }

  /** The browser sets a trait (what views do on a user action). */
  set(name: string, value: unknown): void {
    this.sets.push([name, value]);
    this.assign(name, value);
  }

  /** Python sets a trait: the browser hears change:name, nothing is recorded as a browser write. */
  pythonSet(name: string, value: unknown): void {
    this.assign(name, value);
  }

  private assign(name: string, value: unknown): void {
    if (this.state[name] === value) return;
    this.state[name] = value;
    this.trigger(`change:${name}`, this, value);
    this.trigger("change", this);
  }

  on(event: string, callback: Handler): void {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event)!.add(callback);
  }

  off(event?: string | null, callback?: Handler | null): void {
    if (!event) {
      for (const set of this.handlers.values()) if (callback) set.delete(callback);
      if (!callback) this.handlers.clear();
      return;
    }
    if (callback) this.handlers.get(event)?.delete(callback);
    else this.handlers.delete(event);
  }

  save_changes(): void {
    this.saves++;
  }

  send(content: unknown): void {
    const request = content as Record<string, unknown>;
    this.sent.push(request);
    const responder = this.responder;
    if (responder) {
      queueMicrotask(() => {
        const reply = responder(request);
        if (reply) this.emit({ type: "reply", id: request.id, ...reply.content }, reply.buffers ?? []);
        else this.emit({ type: "error", id: request.id, message: "no data" });
      });
    }
  }

  /** A custom message from Python; buffers arrive as DataViews, as ipywidgets delivers them. */
  emit(content: Record<string, unknown>, buffers: ArrayBuffer[] = []): void {
    const views = buffers.map((b) => new DataView(b));
    this.trigger("msg:custom", content, views);
  }

  trigger(event: string, ...args: unknown[]): void {
    for (const fn of [...(this.handlers.get(event) ?? [])]) fn(...args);
  }

  /** Handlers registered for an event (or for all events). */
  listenerCount(event?: string): number {
    if (event) return this.handlers.get(event)?.size ?? 0;
    let n = 0;
    for (const set of this.handlers.values()) n += set.size;
    return n;
  }
}

/** Half-precision bits of a number (round to nearest even), for building float16 payloads in tests. */
export function floatToHalf(value: number): number {
  const f32 = new Float32Array([value]);
  const x = new Uint32Array(f32.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** Little-endian float16 bytes of values. */
export function halfBuffer(values: ArrayLike<number>): ArrayBuffer {
  const out = new DataView(new ArrayBuffer(values.length * 2));
  for (let i = 0; i < values.length; i++) out.setUint16(i * 2, floatToHalf(values[i]!), true);
  return out.buffer;
}

export interface MetaOptions {
  layers?: number;
  heads?: number;
  tokens?: string[];
  pairAt?: number;
  stages?: Array<Record<string, unknown>>;
  /** The diagram's steps (Python: stages.diagram_steps); default: one step per stage, in order. */
  steps?: Array<Record<string, unknown>>;
  /** Add two contribution views as Python's meta has them: "norm" (per head, 0 … layer max) and "alti" (per layer). */
  contributions?: boolean;
}

/** A meta trait like Python's: raw = tokens, nosep drops the first and last, reduced = the same pieces as words. */
export function makeMeta(opts: MetaOptions = {}): Record<string, unknown> {
  const tokens = opts.tokens ?? ["[CLS]", "the", "cat", "sat", "[SEP]"];
  const segments = tokens.map((_, i) => (opts.pairAt !== undefined && i >= opts.pairAt ? 1 : 0));
  const inner = tokens.slice(1, -1);
  const innerSeg = segments.slice(1, -1);
  const variant = (labels: string[], segs: number[], special?: boolean[]) => ({
    labels,
    segments: segs,
    special: special ?? labels.map(() => false),
  });
  return {
    model_name: "tiny-bert",
    family: "bert",
    n_layers: opts.layers ?? 2,
    n_heads: opts.heads ?? 3,
    n_tokens: tokens.length,
    tokens,
    segments,
    special: tokens.map((t) => /^\[.*\]$/.test(t)),
    variants: {
      raw: variant(tokens, segments, tokens.map((t) => /^\[.*\]$/.test(t))),
      nosep: variant(inner, innerSeg),
      nosep_linscale: variant(inner, innerSeg),
      nosep_softmax_scale: variant(inner, innerSeg),
      reduced: variant(inner, innerSeg),
      ...(opts.contributions
        ? {
            norm: { ...variant(tokens, segments, tokens.map((t) => /^\[.*\]$/.test(t))), group: "contributions",
                    per_head: true, scale: "max", title: "‖αf(x)‖ per head", quantity: "‖α f(x)‖, 0 … layer max" },
            alti: { ...variant(tokens, segments, tokens.map((t) => /^\[.*\]$/.test(t))), group: "contributions",
                    per_head: false, scale: "unit", title: "ALTI", quantity: "ALTI contribution, 0 … 1" },
          }
        : {}),
    },
    thumb: 24,
    stages: opts.stages ?? [],
    steps:
      opts.steps ??
      (opts.stages ?? []).map((s) => ({ title: String(s.name), section: "encoder layer", stages: [String(s.name)] })),
  };
}

/** Attention-like values: row i of head h peaks at column (i + h) mod m. */
export function syntheticAttention(heads: number, m: number, layer = 0): Float32Array {
  const out = new Float32Array(heads * m * m);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < m; i++) {
      const peak = (i + h + layer) % m;
      for (let j = 0; j < m; j++) out[(h * m + i) * m + j] = j === peak ? 0.6 : 0.4 / Math.max(1, m - 1);
    }
  }
  return out;
}

/** A responder serving layer/overview/stage requests of a meta made by makeMeta. */
export function responderFor(meta: Record<string, unknown>): Responder {
  const L = meta.n_layers as number;
  const H = meta.n_heads as number;
  const variants = meta.variants as Record<string, { labels: string[]; per_head?: boolean; scale?: string }>;
  // a per-layer view has one matrix per layer; a "max"-scale view (the norms) has values beyond 1: × 5
  const headsOf = (v: string) => (variants[v]!.per_head === false ? 1 : H);
  const gainOf = (v: string) => (variants[v]!.scale === "max" ? 5 : 1);
  return (req) => {
    if (req.what === "layer") {
      const v = req.variant as string;
      const m = variants[v]!.labels.length;
      const values = syntheticAttention(headsOf(v), m, req.layer as number).map((x) => x * gainOf(v));
      return {
        content: { what: "layer", variant: req.variant, layer: req.layer, dtype: "float16", shape: [headsOf(v), m, m] },
        buffers: [halfBuffer(values)],
      };
    }
    if (req.what === "overview") {
      const v = req.variant as string;
      const m = variants[v]!.labels.length;
      const t = Math.min(24, m);
      const hv = headsOf(v);
      const data = new Uint8Array(L * hv * t * t).map((_, i) => (i * 37) % 256);
      return {
        content: { what: "overview", variant: req.variant, dtype: "uint8", shape: [L, hv, t, t], vmax: gainOf(v), head_max: new Array(L * hv).fill(0.6 * gainOf(v)) },
        buffers: [data.buffer],
      };
    }
    if (req.what === "row") {
      // q = (1, 2, …), k_j = (j, j, …): q·k_j = j · Σq; softmax of the scaled scores
      const n = meta.n_tokens as number;
      const dh = 4;
      const values = new Float32Array((2 * n + 1) * dh);
      for (let c = 0; c < dh; c++) values[c] = c + 1;
      for (let j = 0; j < n; j++) for (let c = 0; c < dh; c++) {
        values[(1 + j) * dh + c] = j;
        values[(1 + n + j) * dh + c] = j * (c + 1);
      }
      const dot = Array.from({ length: n }, (_, j) => j * 10);
      const scaled = dot.map((d) => d / 2);
      const e = scaled.map((s) => Math.exp(s - Math.max(...scaled)));
      const softmax = e.map((x) => x / e.reduce((a, b) => a + b, 0));
      const buf = new DataView(new ArrayBuffer(values.length * 4));
      values.forEach((v, i) => buf.setFloat32(i * 4, v, true));
      return {
        content: { what: "row", layer: req.layer, head: req.head, query: req.query, n, dh, labels: meta.tokens,
                   dtype: "float32", shape: [2 * n + 1, dh], dot, scaled, softmax, scale: 0.5,
                   stages: { q: "selfattn_query_hidden", k: "selfattn_key_hidden", dot: "selfattn_qkt_hidden",
                             scaled: "selfattn_qkt_scale_hidden", softmax: "selfattn_attention" } },
        buffers: [buf.buffer],
      };
    }
    if (req.what === "stage") {
      if (String(req.stage).startsWith("pipeline")) {
        return { content: { what: "stage", stage: req.stage, parity: { max_abs_diff: 1.2e-7, equal: true } } };
      }
      const rows = (meta.n_tokens as number) || 1;
      const cols = 8;
      const values = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i) * 2);
      return {
        content: {
          what: "stage", stage: req.stage, layer: req.layer, head: req.head, dtype: "float16", shape: [rows, cols],
          row_step: 1, col_step: 1, dims: ["n", "dh"], row_labels: (meta.tokens as string[]).slice(0, rows),
          stats: { min: -2, max: 2, mean: 0.01, std: 1.4 }, row_norms: new Array(rows).fill(0).map((_, i) => i + 1), signed: true, note: "",
          colour: { scale: "diverging", lo: -2, hi: 2 },
        },
        buffers: [halfBuffer(values)],
      };
    }
    return null;
  };
}

/** Lets queued microtasks and timers (≤ ms) run. */
export function settle(ms = 0): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
