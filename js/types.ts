// Shapes of the Python ⇄ browser protocol (docs/PROTOCOL.md) and the model interface we rely on.

/** The five attention variants, in the order the variant switch lists them. */
export const VARIANTS = ["raw", "nosep", "nosep_linscale", "nosep_softmax_scale", "reduced"] as const;
export type Variant = (typeof VARIANTS)[number];

export type Handler = (...args: any[]) => void;

/** The part of anywidget's AnyModel that this widget uses. */
export interface WidgetModel {
  get(name: string): unknown;
  set(name: string, value: unknown): void;
  on(event: string, callback: Handler): void;
  off(event?: string | null, callback?: Handler | null): void;
  save_changes(): void;
  send(content: unknown, callbacks?: unknown, buffers?: ArrayBuffer[] | ArrayBufferView[]): void;
}

export interface VariantInfo {
  labels: string[];
  segments: number[];
  /** Special-token flag of each row (Python's, meta.variants[v].special). */
  special: boolean[];
  /** "attention" (the five attention variants) or "contributions" (norm, ALTI, rollout, flow). */
  group: string;
  /** One matrix per head (H×m×m), or one per layer (1×m×m: the head selector says "per layer"). */
  per_head: boolean;
  /** Colour scale: "unit" (0 … 1, as attention weights) or "max" (0 … the layer's largest value: the norms). */
  scale: string;
  /** Name in the variant switch. */
  title: string;
  /** What the values are, for the colour bar. */
  quantity: string;
  /** Multiplied or flowed through layers 0..l (the rollouts, flow): a sliding window does not bound it. */
  through_layers?: boolean;
  /** reduced only: the raw positions [first, last] of each word's pieces (meta.variants.reduced.pieces). */
  pieces?: Array<[number, number]>;
}

/** A causal model's mask (meta.causal): each layer's sliding window, null where a query sees its whole prefix. */
export interface CausalInfo {
  windows: Array<number | null>;
}

/** The logit lens a model can show (meta.lens): what it reads, tokens per cell, the row labels. */
export interface LensInfo {
  kind: string;
  k: number;
  rows: string[];
}

/** One row of the stage diagram (meta.steps, from the registry's STEPS): its stages, activations and parameters. */
export interface StepInfo {
  title: string;
  section: string;
  stages: string[];
}

export interface StageInfo {
  name: string;
  group: string;
  dims: string[];
  shape: number[];
  formula: string;
  meaning: string;
  kind: string;
  per_layer: boolean;
  per_head: boolean;
}

export interface Meta {
  model_name: string;
  family: string;
  n_layers: number;
  n_heads: number;
  n_tokens: number;
  tokens: string[];
  segments: number[];
  special: boolean[];
  variants: Partial<Record<string, VariantInfo>>;
  thumb: number;
  stages: StageInfo[];
  steps: StepInfo[];
  /** null: not a causal model (every cell of every map is a weight). */
  causal: CausalInfo | null;
  /** The key/value head each query head reads (grouped-query attention); null where each has its own. */
  kv_heads: number[] | null;
  /** null: the model has no output head to read hidden states through. */
  lens: LensInfo | null;
}

/** The panels a widget can show (widget.py PANELS), in display order. */
export const PANELS = ["overview", "heatmap", "arcs", "row", "lens", "stages", "ablation"] as const;
export const COLOR_SCALES = ["fixed", "head"] as const;

/** The synced selection traits. */
export interface Selection {
  layer: number;
  head: number;
  token: number;
  variant: string;
  arcs_all_heads: boolean;
  stage: string;
  /** Panels shown (a subset of PANELS, in that order). */
  panels: string[];
  /** "fixed": attention on 0 … 1 for every head; "head": 0 … the head's max. */
  color_scale: string;
}

export type SelectionKey = keyof Selection;
export const SELECTION_KEYS: readonly SelectionKey[] = [
  "layer",
  "head",
  "token",
  "variant",
  "arcs_all_heads",
  "stage",
  "panels",
  "color_scale",
];

export type Request =
  | { what: "layer"; variant: string; layer: number }
  | { what: "overview"; variant: string }
  | { what: "stage"; stage: string; layer: number; head: number }
  | { what: "row"; layer: number; head: number; query: number }
  | { what: "lens"; k: number };

/** A reply's JSON content; fields beyond `type`/`id` depend on `what`. */
export interface ReplyContent {
  type: "reply" | "error";
  id: number;
  what?: string;
  message?: string;
  [key: string]: unknown;
}
