// Request/reply plumbing over custom messages, with a per-model cache of decoded payloads.

import { copyBytes, decodeFloat16, decodeFloat32, float16Bits, shapeSize } from "./codec";
import type { Handler, ReplyContent, Request, WidgetModel } from "./types";

export interface LayerData {
  variant: string;
  layer: number;
  heads: number;
  m: number;
  /** float16 bit patterns, (head, row, col) C order; decode with halfTableF32(). */
  bits: Uint16Array;
  /** Signed values (a comparison's difference b − a): painted diverging around 0. */
  signed?: boolean;
}

export interface OverviewData {
  variant: string;
  layers: number;
  heads: number;
  thumb: number;
  /** uint8 thumbnails, one scale for every head: 255 = vmax. */
  data: Uint8Array;
  vmax: number;
  /** Each head's largest weight (the per-head colour scale). */
  headMax: number[];
}

export interface StageData {
  content: ReplyContent;
  rows: number;
  cols: number;
  /** The 2-D slice (rows × cols); null for replies without a buffer (pipeline parity). */
  values: Float32Array | null;
}

/** One attention row as the model computes it (the `row` reply): q, the keys, their products, scores, softmax. */
export interface RowData {
  layer: number;
  head: number;
  query: number;
  n: number;
  dh: number;
  labels: string[];
  /** (2n + 1) × dh float32: q, then k_0 … k_{n-1}, then q∘k_0 … q∘k_{n-1}. */
  values: Float32Array;
  dot: number[];
  scaled: number[];
  softmax: number[];
  scale: number;
  /** The stage each part comes from (q, k, dot, scaled, softmax), as Python names them. */
  stages: Record<string, string>;
  /** Where the numbers come from, when not the kernel's trace (an exported page's 8-bit tensors). */
  note: string;
}

export class ProtocolError extends Error {}

/** Data at hand in the browser (the widget's saved first paint), and whether any kernel can be asked. */
export interface LocalSource {
  /** The reply from local data, or null when it does not hold what the request asks for. */
  answer(request: Request): Promise<{ content: Record<string, unknown>; buffers?: unknown[] }> | null;
  /** True when no kernel is connected: a request that local data cannot answer fails at once. */
  offline(): boolean;
}

export const OFFLINE_MESSAGE = "run the cell to explore further (no kernel is connected: this is the saved view)";

interface Pending {
  request: Request;
  resolve: (reply: { content: ReplyContent; buffers: unknown[] }) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout> | null;
}

// ids are unique in the page, so clients sharing one model never take each other's replies
let nextId = 1 + Math.floor(Math.random() * 1e6);

const DEFAULT_BUDGET = 256 * 1024 * 1024;

/**
 * The one key of a request (docs/PROTOCOL.md, "Request keys"): the client's cache and the exported page's reply
 * table both file replies under it: `layer|raw|3`, `overview|raw`, `stage|name|3|2`, `row|3|2|5`.
 */
export function requestKey(request: Record<string, unknown>): string {
  switch (request.what) {
    case "layer":
      return `layer|${String(request.variant)}|${String(request.layer)}`;
    case "overview":
      return `overview|${String(request.variant)}`;
    case "stage":
      return `stage|${String(request.stage)}|${String(request.layer)}|${String(request.head)}`;
    case "row":
      return `row|${String(request.layer)}|${String(request.head)}|${String(request.query)}`;
    default:
      return String(request.what);
  }
}

/** The request for a stage: a stage without a layer (head) axis is always asked for at layer (head) 0. */
export function stageRequest(stage: string, layer: number, head: number, perLayer: boolean, perHead: boolean): Request {
  return { what: "stage", stage, layer: perLayer ? layer : 0, head: perHead ? head : 0 };
}

export class DataClient {
  private pending = new Map<number, Pending>();
  private cache = new Map<string, { value: unknown; bytes: number }>();
  private cachedBytes = 0;
  private inflight = new Map<string, Promise<unknown>>();
  private onMessage: Handler;
  private disposed = false;
  /** Requests sent so far (tests and the dev page read it). */
  sent = 0;

  constructor(
    private model: WidgetModel,
    private options: { budgetBytes?: number; timeoutMs?: number; local?: LocalSource } = {},
  ) {
    this.onMessage = (msg: unknown, buffers: unknown) => this.receive(msg, buffers);
    model.on("msg:custom", this.onMessage);
  }

  /** Sends one request; resolves with the reply of the same id, rejects on an error reply. */
  request(request: Request): Promise<{ content: ReplyContent; buffers: unknown[] }> {
    if (this.disposed) return Promise.reject(new ProtocolError("the widget is closed"));
    const local = this.options.local;
    const here = local?.answer(request);
    if (here) return here.then((r) => ({ content: { type: "reply", id: 0, ...r.content }, buffers: r.buffers ?? [] }));
    if (local?.offline()) return Promise.reject(new ProtocolError(OFFLINE_MESSAGE));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const timeoutMs = this.options.timeoutMs ?? 120_000;
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              this.pending.delete(id);
              reject(new ProtocolError(`no reply to the ${request.what} request after ${timeoutMs / 1000} s`));
            }, timeoutMs)
          : null;
      this.pending.set(id, { request, resolve, reject, timer });
      this.sent++;
      this.model.send({ type: "request", id, ...request });
    });
  }

  private receive(msg: unknown, buffers: unknown): void {
    if (!msg || typeof msg !== "object") return;
    const content = msg as ReplyContent;
    if (content.type !== "reply" && content.type !== "error") return;
    const pending = this.pending.get(content.id);
    if (!pending) return;
    this.pending.delete(content.id);
    if (pending.timer !== null) clearTimeout(pending.timer);
    if (content.type === "error") {
      pending.reject(new ProtocolError(content.message ?? `the ${pending.request.what} request failed`));
      return;
    }
    pending.resolve({ content, buffers: Array.isArray(buffers) ? buffers : [] });
  }

  private remember(key: string, value: unknown, bytes: number): void {
    const budget = this.options.budgetBytes ?? DEFAULT_BUDGET;
    this.cache.set(key, { value, bytes });
    this.cachedBytes += bytes;
    for (const [k, entry] of this.cache) {
      if (this.cachedBytes <= budget || k === key) break;
      this.cache.delete(k);
      this.cachedBytes -= entry.bytes;
    }
  }

  /** A cached value, marked as recently used. */
  private peek<T>(key: string): T | undefined {
    const entry = this.cache.get(key);
    if (!entry) return undefined;
    this.cache.delete(key);
    this.cache.set(key, entry);
    return entry.value as T;
  }

  private fetch<T>(request: Request, decode: (c: ReplyContent, b: unknown[]) => [T, number]): Promise<T> {
    const key = requestKey(request);
    const hit = this.peek<T>(key);
    if (hit !== undefined) return Promise.resolve(hit);
    const running = this.inflight.get(key);
    if (running) return running as Promise<T>;
    const promise = this.request(request)
      .then(({ content, buffers }) => {
        const [value, bytes] = decode(content, buffers);
        if (!this.disposed) this.remember(key, value, bytes);
        return value;
      })
      .finally(() => this.inflight.delete(key));
    this.inflight.set(key, promise);
    return promise;
  }

  peekLayer(variant: string, layer: number): LayerData | undefined {
    return this.peek<LayerData>(requestKey({ what: "layer", variant, layer }));
  }

  layer(variant: string, layer: number): Promise<LayerData> {
    return this.fetch({ what: "layer", variant, layer }, (content, buffers) => {
      const shape = Array.isArray(content.shape) ? (content.shape as number[]) : [];
      if (shape.length !== 3 || shape[1] !== shape[2]) throw new ProtocolError("a layer reply has shape [H, m, m]");
      if (buffers.length < 1) throw new ProtocolError("a layer reply carries one buffer");
      const bits = float16Bits(buffers[0]);
      if (bits.length !== shapeSize(shape)) {
        throw new ProtocolError(`layer buffer holds ${bits.length} values, shape says ${shapeSize(shape)}`);
      }
      const data: LayerData = { variant, layer, heads: shape[0]!, m: shape[1]!, bits, signed: content.signed === true };
      return [data, bits.byteLength];
    });
  }

  peekOverview(variant: string): OverviewData | undefined {
    return this.peek<OverviewData>(requestKey({ what: "overview", variant }));
  }

  overview(variant: string): Promise<OverviewData> {
    return this.fetch({ what: "overview", variant }, (content, buffers) => {
      const shape = Array.isArray(content.shape) ? (content.shape as number[]) : [];
      if (shape.length !== 4 || shape[2] !== shape[3]) throw new ProtocolError("an overview reply has shape [L, H, t, t]");
      if (buffers.length < 1) throw new ProtocolError("an overview reply carries one buffer");
      const data = new Uint8Array(copyBytes(buffers[0]));
      if (data.length !== shapeSize(shape)) {
        throw new ProtocolError(`overview buffer holds ${data.length} bytes, shape says ${shapeSize(shape)}`);
      }
      const headMax = Array.isArray(content.head_max) ? (content.head_max as number[]).map(Number) : [];
      const vmax = typeof content.vmax === "number" && content.vmax > 0 ? content.vmax : 1;
      const value: OverviewData = { variant, layers: shape[0]!, heads: shape[1]!, thumb: shape[2]!, data, vmax, headMax };
      return [value, data.byteLength];
    });
  }

  peekStage(stage: string, layer: number, head: number, perLayer: boolean, perHead: boolean): StageData | undefined {
    return this.peek<StageData>(requestKey(stageRequest(stage, layer, head, perLayer, perHead)));
  }

  stage(stage: string, layer: number, head: number, perLayer: boolean, perHead: boolean): Promise<StageData> {
    // a stage that does not depend on the layer (head) is always asked for at 0, so one reply serves all
    return this.fetch<StageData>(stageRequest(stage, layer, head, perLayer, perHead), (content, buffers) => {
      const shape = Array.isArray(content.shape) ? (content.shape as number[]) : [];
      if (buffers.length === 0) return [{ content, rows: 0, cols: 0, values: null }, 1024];
      // float16 from the kernel; float32 from a pack (js/pack.ts decodes its 8-bit rows to float32)
      const values = content.dtype === "float32" ? new Float32Array(copyBytes(buffers[0])) : decodeFloat16(buffers[0]);
      const rows = shape.length >= 2 ? shape[0]! : 1;
      const cols = shape.length >= 2 ? shape[1]! : (shape[0] ?? values.length);
      if (rows * cols !== values.length) {
        throw new ProtocolError(`stage buffer holds ${values.length} values, shape says ${rows * cols}`);
      }
      return [{ content, rows, cols, values }, values.byteLength];
    });
  }

  peekRow(layer: number, head: number, query: number): RowData | undefined {
    return this.peek<RowData>(requestKey({ what: "row", layer, head, query }));
  }

  row(layer: number, head: number, query: number): Promise<RowData> {
    return this.fetch<RowData>({ what: "row", layer, head, query }, (content, buffers) => {
      const n = Number(content.n);
      const dh = Number(content.dh);
      if (!(n > 0 && dh > 0) || buffers.length < 1) throw new ProtocolError("a row reply has n, dh and one buffer");
      const values = decodeFloat32(buffers[0]);
      if (values.length !== (2 * n + 1) * dh) {
        throw new ProtocolError(`row buffer holds ${values.length} values, expected ${(2 * n + 1) * dh}`);
      }
      const list = (v: unknown) => (Array.isArray(v) ? v.map(Number) : []);
      const labels = Array.isArray(content.labels) ? content.labels.map(String) : [];
      const value: RowData = {
        layer, head, query, n, dh, labels, values,
        dot: list(content.dot), scaled: list(content.scaled), softmax: list(content.softmax),
        scale: Number(content.scale) || 1 / Math.sqrt(dh),
        stages: content.stages && typeof content.stages === "object" ? (content.stages as Record<string, string>) : {},
        note: typeof content.note === "string" ? content.note : "",
      };
      return [value, values.byteLength];
    });
  }

  /** Forgets every cached payload (the data behind them changed). */
  clear(): void {
    this.cache.clear();
    this.cachedBytes = 0;
  }

  dispose(): void {
    this.disposed = true;
    this.model.off("msg:custom", this.onMessage);
    for (const p of this.pending.values()) {
      if (p.timer !== null) clearTimeout(p.timer);
      p.reject(new ProtocolError("the widget is closed"));
    }
    this.pending.clear();
    this.clear();
  }
}

/** Shared clients, keyed by the model's `meta` object: the same object for every view of one model. */
const shared = new WeakMap<object, DataClient>();

export function shareClient(meta: unknown, client: DataClient): void {
  if (meta && typeof meta === "object") shared.set(meta, client);
}

export function sharedClient(meta: unknown): DataClient | undefined {
  return meta && typeof meta === "object" ? shared.get(meta) : undefined;
}
