// The encoder diagram as data: meta.stages arranged into rows in data-flow order (pure; the DOM is in stages.ts).

import type { StageInfo } from "./types";

export type Section = "input" | "embeddings" | "layer" | "output";

export interface DiagramRow {
  id: string;
  title: string;
  section: Section;
  /** Activations of this step, side by side (e.g. Q, K, V). */
  stages: string[];
  /** Parameters feeding this step (weights, biases, tables). */
  params: string[];
}

interface RowSpec {
  id: string;
  title: string;
  section: Section;
  main: RegExp;
  params?: RegExp;
  /** Substrings that order the boxes of a row. */
  order?: string[];
}

const SPECS: RowSpec[] = [
  { id: "text", title: "text", section: "input", main: /^sym_(sent|seq_len)$/, order: ["sent", "seq_len"] },
  { id: "tokens", title: "tokens", section: "input", main: /^sym_/, order: ["tokens", "token_ids", "segment", "position"] },
  { id: "tables", title: "embedding tables", section: "embeddings", main: /^preemb_(word|pos|seg)_emb$/, params: /^preemb_vocab$/, order: ["word", "pos", "seg"] },
  { id: "sum", title: "sum", section: "embeddings", main: /^preemb_sum_emb$/ },
  { id: "emb_norm", title: "LayerNorm", section: "embeddings", main: /^preemb_norm_sum_emb$/, params: /^preemb_norm_(weight|bias)$/, order: ["weight", "bias"] },
  { id: "proj", title: "projection e → d", section: "embeddings", main: /^preemb_proj_hidden$/, params: /^preemb_proj_(weight|bias)$/, order: ["weight", "bias"] },
  { id: "qkv", title: "Q / K / V", section: "layer", main: /^selfattn_(query|key|value)_hidden$/, params: /^selfattn_(query|key|value)_(weight|bias)$/, order: ["query", "key", "value", "weight", "bias"] },
  { id: "qkt", title: "QKᵀ", section: "layer", main: /^selfattn_qkt_hidden$/ },
  { id: "scale", title: "÷ √dh", section: "layer", main: /^selfattn_qkt_scale_hidden$/ },
  { id: "softmax", title: "softmax", section: "layer", main: /^selfattn_(qkt_scale_soft_hidden|attention)$/, order: ["soft", "attention"] },
  { id: "context", title: "context = A·V", section: "layer", main: /^selfattn_contvec$/ },
  { id: "concat", title: "concat heads", section: "layer", main: /^selfattn_contvec_concat$/ },
  { id: "dense1", title: "dense", section: "layer", main: /^addnorm1_dense_hidden$/, params: /^addnorm1_dense_(weight|bias)$/, order: ["weight", "bias"] },
  { id: "add1", title: "add (residual)", section: "layer", main: /^addnorm1_add_hidden$/ },
  { id: "norm1", title: "LayerNorm", section: "layer", main: /^addnorm1_norm_hidden$/, params: /^addnorm1_norm_(weight|bias)$/, order: ["weight", "bias"] },
  { id: "ffn", title: "FFN dense", section: "layer", main: /^ffnn_dense_hidden$/, params: /^ffnn_dense_(weight|bias)$/, order: ["weight", "bias"] },
  { id: "act", title: "activation", section: "layer", main: /^ffnn_dense_act$/ },
  { id: "dense2", title: "dense", section: "layer", main: /^addnorm2_dense_hidden$/, params: /^addnorm2_dense_(weight|bias)$/, order: ["weight", "bias"] },
  { id: "add2", title: "add (residual)", section: "layer", main: /^addnorm2_add_hidden$/ },
  { id: "norm2", title: "LayerNorm", section: "layer", main: /^addnorm2_norm_hidden$/, params: /^addnorm2_norm_(weight|bias)$/, order: ["weight", "bias"] },
  { id: "manual", title: "hidden states", section: "output", main: /^manual_/ },
  { id: "pipeline", title: "the model's own output", section: "output", main: /^pipeline_/, order: ["res", "attns", "hiddens"] },
  { id: "objects", title: "objects used", section: "output", main: /^(model|tokenizer)$/ },
];

const SECTION_OF_GROUP: Record<string, Section> = {
  sym: "input",
  preemb: "embeddings",
  selfattn: "layer",
  addnorm1: "layer",
  ffnn: "layer",
  addnorm2: "layer",
};

function sortByOrder(names: string[], order: string[] | undefined, rank: Map<string, number>): string[] {
  const key = (name: string) => {
    const i = order ? order.findIndex((part) => name.includes(part)) : -1;
    return i < 0 ? (order?.length ?? 0) : i;
  };
  return [...names].sort((a, b) => key(a) - key(b) || rank.get(a)! - rank.get(b)!);
}

/** Rows of the diagram in data-flow order; only stages present in `stages` appear, each exactly once. */
export function diagramRows(stages: readonly StageInfo[]): DiagramRow[] {
  const rank = new Map(stages.map((s, i) => [s.name, i]));
  const placed = new Set<string>();
  const rows: DiagramRow[] = [];
  for (const spec of SPECS) {
    const main = stages.filter((s) => !placed.has(s.name) && spec.main.test(s.name)).map((s) => s.name);
    const params = spec.params ? stages.filter((s) => !placed.has(s.name) && spec.params!.test(s.name)).map((s) => s.name) : [];
    if (main.length === 0 && params.length === 0) continue;
    for (const n of [...main, ...params]) placed.add(n);
    rows.push({
      id: spec.id,
      title: spec.title,
      section: spec.section,
      stages: sortByOrder(main, spec.order, rank),
      params: sortByOrder(params, spec.order, rank),
    });
  }
  // stages the table does not know: their own row, at the end of their section, in meta order
  for (const s of stages) {
    if (placed.has(s.name)) continue;
    placed.add(s.name);
    const section = SECTION_OF_GROUP[s.group] ?? "output";
    const isParam = /weight|bias|vocab/.test(s.kind) || /_(weight|bias)$/.test(s.name);
    const row: DiagramRow = { id: s.name, title: s.name, section, stages: isParam ? [] : [s.name], params: isParam ? [s.name] : [] };
    let at = rows.length;
    const order: Section[] = ["input", "embeddings", "layer", "output"];
    for (let i = rows.length - 1; i >= 0; i--) {
      if (order.indexOf(rows[i]!.section) <= order.indexOf(section)) {
        at = i + 1;
        break;
      }
      at = i;
    }
    rows.splice(at, 0, row);
  }
  return rows;
}

/** Every box of the diagram in reading order (the order keyboard and tests follow). */
export function diagramOrder(rows: readonly DiagramRow[]): string[] {
  return rows.flatMap((r) => [...r.stages, ...r.params]);
}
