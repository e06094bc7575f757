// Reading the `meta` trait defensively: every field gets a sane default, so a partial meta never crashes a view.

import { readCausal, readKvHeads, readLens, readPieces } from "./causal";
import { type Meta, type StageInfo, type StepInfo, VARIANTS, type VariantInfo } from "./types";

function num(v: unknown, fallback: number): number {
  return typeof v === "number" && Number.isFinite(v) ? v : fallback;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.map((x) => (typeof x === "string" ? x : String(x))) : [];
}

function numbers(v: unknown): number[] {
  return Array.isArray(v) ? v.map((x) => num(x, 0)) : [];
}

function str(v: unknown, fallback = ""): string {
  return typeof v === "string" ? v : fallback;
}

function readStage(v: unknown): StageInfo | null {
  if (!v || typeof v !== "object") return null;
  const o = v as Record<string, unknown>;
  const name = str(o.name);
  if (!name) return null;
  return {
    name,
    group: str(o.group, name.split("_")[0] ?? ""),
    dims: strings(o.dims),
    shape: numbers(o.shape),
    formula: str(o.formula),
    meaning: str(o.meaning),
    kind: str(o.kind),
    per_layer: o.per_layer === true,
    per_head: o.per_head === true,
  };
}

function flags(v: unknown, n: number): boolean[] {
  const out = Array.isArray(v) ? v.map((x) => x === true) : [];
  return out.length === n ? out : Array.from({ length: n }, () => false);
}

function readStep(v: unknown): StepInfo | null {
  if (!v || typeof v !== "object") return null;
  const o = v as Record<string, unknown>;
  const stages = strings(o.stages);
  return stages.length ? { title: str(o.title), section: str(o.section), stages } : null;
}

/** A complete Meta from whatever the trait holds. */
export function readMeta(raw: unknown): Meta {
  const o = raw && typeof raw === "object" ? (raw as Record<string, unknown>) : {};
  const tokens = strings(o.tokens);
  const segments = numbers(o.segments);
  const variants: Record<string, VariantInfo> = {};
  const rawVariants = o.variants && typeof o.variants === "object" ? (o.variants as Record<string, unknown>) : {};
  for (const [key, value] of Object.entries(rawVariants)) {
    const v = value && typeof value === "object" ? (value as Record<string, unknown>) : {};
    const labels = strings(v.labels);
    const segs = numbers(v.segments);
    variants[key] = {
      labels,
      segments: segs.length === labels.length ? segs : labels.map(() => 0),
      special: flags(v.special, labels.length),
      group: str(v.group, "attention"),
      per_head: v.per_head !== false,
      scale: v.scale === "max" ? "max" : "unit",
      title: str(v.title, VARIANT_TITLES[key] ?? key),
      quantity: str(v.quantity, ATTENTION_QUANTITY),
      through_layers: v.through_layers === true,
    };
    const pieces = readPieces(v.pieces, labels.length);
    if (pieces) variants[key]!.pieces = pieces;
  }
  return {
    model_name: str(o.model_name),
    family: str(o.family),
    n_layers: num(o.n_layers, 0),
    n_heads: num(o.n_heads, 0),
    n_tokens: num(o.n_tokens, tokens.length),
    tokens,
    segments: segments.length === tokens.length ? segments : tokens.map(() => 0),
    special: flags(o.special, tokens.length),
    variants,
    thumb: num(o.thumb, 24),
    stages: Array.isArray(o.stages) ? o.stages.map(readStage).filter((s): s is StageInfo => s !== null) : [],
    steps: Array.isArray(o.steps) ? o.steps.map(readStep).filter((s): s is StepInfo => s !== null) : [],
    causal: readCausal(o.causal),
    kv_heads: readKvHeads(o.kv_heads, num(o.n_heads, 0)),
    lens: readLens(o.lens),
  };
}

/** The variants meta offers, in the canonical order (then any unknown ones). */
export function variantKeys(meta: Meta): string[] {
  const keys = Object.keys(meta.variants);
  if (keys.length === 0) return [...VARIANTS];
  const known = VARIANTS.filter((v) => keys.includes(v)) as string[];
  return [...known, ...keys.filter((k) => !known.includes(k))];
}

const ATTENTION_QUANTITY = "attention weight, 0 … 1 for every head";

/** Row/column labels and segments of a variant (raw falls back to the tokens). */
export function variantInfo(meta: Meta, variant: string): VariantInfo {
  const info = meta.variants[variant];
  if (info) return info;
  return {
    labels: meta.tokens, segments: meta.segments, special: meta.special, group: "attention", per_head: true,
    scale: "unit", title: VARIANT_TITLES[variant] ?? variant, quantity: ATTENTION_QUANTITY,
  };
}

/** The variant switch's option groups, in order: [group, variants of it]. */
export function variantGroups(meta: Meta): Array<[string, string[]]> {
  const groups = new Map<string, string[]>();
  for (const key of variantKeys(meta)) {
    const group = variantInfo(meta, key).group;
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group)!.push(key);
  }
  return [...groups];
}

/** Matrices per layer of a variant: the model's heads, or 1 for a per-layer view. */
export function variantHeads(meta: Meta, variant: string): number {
  return variantInfo(meta, variant).per_head ? meta.n_heads : 1;
}

/** The raw piece position of row `row` of a variant, where a row is one piece (raw, nosep*); -1 for words. */
export function piecePosition(meta: Meta, variant: string, row: number): number {
  if (row < 0) return -1;
  // raw and the contribution views keep every piece, special tokens included
  if (variant === "raw" || variantInfo(meta, variant).group === "contributions") return row < meta.tokens.length ? row : -1;
  if (variant === "reduced") return -1;
  // the nosep variants keep the pieces that are not special tokens, in order (attention.py `kept`)
  let seen = -1;
  for (let p = 0; p < meta.special.length; p++) if (!meta.special[p] && ++seen === row) return p;
  return -1;
}

/** Human names for the variant switch. */
export const VARIANT_TITLES: Record<string, string> = {
  raw: "raw",
  nosep: "no [CLS]/[SEP]",
  nosep_linscale: "no specials, rows rescaled",
  nosep_softmax_scale: "no specials, softmax",
  reduced: "words (reduced)",
};
