// Dev-only synthetic data: a fake model answering layer/overview/stage requests like the Python side would.

export function floatToHalf(value) {
  const f32 = new Float32Array([value]);
  const x = new Uint32Array(f32.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    return sign | (mant >> (14 - e));
  }
  return sign | ((e << 10) | (mant >> 13));
}

function halfBytes(values) {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = floatToHalf(values[i]);
  return out.buffer;
}

const WORDS = "the quick brown fox jump ##s over lazy dog while a small cat sat on warm mat and look ##ed at bird ##s in tree".split(" ");

export function makeTokens(n, evil = false) {
  const t = ["[CLS]"];
  for (let i = 1; i < n - 1; i++) t.push(WORDS[(i * 7) % WORDS.length]);
  t.push("[SEP]");
  if (evil && n > 6) {
    t[3] = "<img src=x onerror=alert(1)>";
    t[4] = "</script>";
  }
  return t;
}

function wordsOf(pieces) {
  const words = [];
  for (const p of pieces) {
    if (p.startsWith("##") && words.length) words[words.length - 1].text += p.slice(2);
    else words.push({ text: p });
  }
  return words.map((w) => w.text);
}

const STAGE_DEFS = [
  ["preemb_vocab", "preemb", ["V", "d"], "weight", false, false, "E_word (the whole table)", "word-embedding table"],
  ["preemb_word_emb", "preemb", ["n", "d"], "activation", false, false, "E_word[ids]", "rows of the word table for this input"],
  ["preemb_pos_emb", "preemb", ["n", "d"], "activation", false, false, "E_pos[0..n-1]", "position embeddings"],
  ["preemb_seg_emb", "preemb", ["n", "d"], "activation", false, false, "E_seg[segments]", "segment embeddings"],
  ["preemb_sum_emb", "preemb", ["n", "d"], "activation", false, false, "word + pos + seg", "sum of the three embeddings"],
  ["preemb_norm_weight", "preemb", ["d"], "weight", false, false, "γ", "embedding LayerNorm scale"],
  ["preemb_norm_sum_emb", "preemb", ["n", "d"], "activation", false, false, "LayerNorm(sum) = X_0", "input of layer 0"],
  ["selfattn_query_weight", "selfattn", ["L", "H", "dh", "d"], "weight", true, true, "W_Q[h]", "query weights of the head"],
  ["selfattn_query_hidden", "selfattn", ["L", "H", "n", "dh"], "activation", true, true, "Q = X W_Qᵀ + b_Q", "queries"],
  ["selfattn_key_hidden", "selfattn", ["L", "H", "n", "dh"], "activation", true, true, "K = X W_Kᵀ + b_K", "keys"],
  ["selfattn_value_hidden", "selfattn", ["L", "H", "n", "dh"], "activation", true, true, "V = X W_Vᵀ + b_V", "values"],
  ["selfattn_qkt_hidden", "selfattn", ["L", "H", "n", "n"], "activation", true, true, "Q Kᵀ", "raw scores"],
  ["selfattn_qkt_scale_hidden", "selfattn", ["L", "H", "n", "n"], "activation", true, true, "Q Kᵀ / √dh", "scaled scores"],
  ["selfattn_qkt_scale_soft_hidden", "selfattn", ["L", "H", "n", "n"], "activation", true, true, "softmax(Q Kᵀ / √dh)", "attention"],
  ["selfattn_contvec", "selfattn", ["L", "H", "n", "dh"], "activation", true, true, "A V", "context vectors"],
  ["selfattn_contvec_concat", "selfattn", ["L", "n", "d"], "activation", true, false, "concat_h(A V)", "heads side by side"],
  ["addnorm1_dense_hidden", "addnorm1", ["L", "n", "d"], "activation", true, false, "C W + b", "output projection"],
  ["addnorm1_add_hidden", "addnorm1", ["L", "n", "d"], "activation", true, false, "dense + X_l", "residual"],
  ["addnorm1_norm_hidden", "addnorm1", ["L", "n", "d"], "activation", true, false, "LayerNorm(add)", "after attention"],
  ["ffnn_dense_hidden", "ffnn", ["L", "n", "f"], "activation", true, false, "N W1 + b1", "intermediate"],
  ["ffnn_dense_act", "ffnn", ["L", "n", "f"], "activation", true, false, "gelu(dense)", "activation"],
  ["addnorm2_dense_hidden", "addnorm2", ["L", "n", "d"], "activation", true, false, "act W2 + b2", "output dense"],
  ["addnorm2_add_hidden", "addnorm2", ["L", "n", "d"], "activation", true, false, "dense + N", "residual"],
  ["addnorm2_norm_hidden", "addnorm2", ["L", "n", "d"], "activation", true, false, "LayerNorm(add) = X_{l+1}", "layer output"],
  ["manual_hiddens", "manual", ["L+1", "n", "d"], "activation", true, false, "[X_0 … X_L]", "hidden states recomputed"],
  ["pipeline_hiddens", "pipeline", ["L+1", "n", "d"], "activation", false, false, "model(x).hidden_states", "the model's own output"],
];

export function makeCase({ layers, heads, n, pairAt = -1, evil = false, d = 768, f = 3072 }) {
  const tokens = makeTokens(n, evil);
  if (pairAt > 0) tokens[pairAt - 1] = "[SEP]";
  const segments = tokens.map((_, i) => (pairAt > 0 && i >= pairAt ? 1 : 0));
  const inner = tokens.slice(1, -1);
  const innerSeg = segments.slice(1, -1);
  const reduced = wordsOf(inner);
  const sizes = { L: layers, H: heads, n, dh: d / heads, d, f, V: 30522, "L+1": layers + 1 };
  const stages = STAGE_DEFS.map(([name, group, dims, kind, per_layer, per_head, formula, meaning]) => ({
    name, group, dims, shape: dims.map((k) => sizes[k]), kind, per_layer, per_head, formula, meaning,
  }));
  const meta = {
    model_name: `synthetic-bert-${layers}x${heads}`, family: "bert", n_layers: layers, n_heads: heads, n_tokens: n,
    tokens, segments, special: tokens.map((t) => t === "[CLS]" || t === "[SEP]"),
    variants: {
      raw: { labels: tokens, segments, special: tokens.map((t) => t === "[CLS]" || t === "[SEP]") },
      nosep: { labels: inner, segments: innerSeg },
      nosep_linscale: { labels: inner, segments: innerSeg },
      nosep_softmax_scale: { labels: inner, segments: innerSeg },
      reduced: { labels: reduced, segments: reduced.map(() => 0) },
    },
    thumb: 48, stages,
    // dev only: one diagram row per stage (Python sends the registry's steps)
    steps: stages.map((s) => ({ title: s.name, section: s.group, stages: [s.name] })),
  };
  return { meta, sizes };
}

/** Row-normalised attention-like values for one layer (H × m × m). */
export function attention(H, m, layer) {
  const out = new Float32Array(H * m * m);
  const row = new Float32Array(m);
  for (let h = 0; h < H; h++) {
    const kind = (h + layer) % 5;
    for (let i = 0; i < m; i++) {
      let sum = 0;
      for (let j = 0; j < m; j++) {
        let s = 0.3 * Math.sin(i * 0.7 + j * 1.3 + h);
        if (kind === 0) s += j === i - 1 ? 5 : 0;
        else if (kind === 1) s += j === i + 1 ? 5 : 0;
        else if (kind === 2) s += j === 0 || j === m - 1 ? 4 : 0;
        else if (kind === 3) s += -Math.abs(i - j) / (2 + h);
        else s += j === i ? 3 : 0;
        row[j] = Math.exp(s);
        sum += row[j];
      }
      for (let j = 0; j < m; j++) out[(h * m + i) * m + j] = row[j] / sum;
    }
  }
  return out;
}

function thumbnails(L, H, m, t) {
  const data = new Uint8Array(L * H * t * t);
  const scale = new Array(L * H).fill(0);
  for (let l = 0; l < L; l++) {
    const a = attention(H, m, l);
    for (let h = 0; h < H; h++) {
      const block = new Float32Array(t * t);
      for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) {
        block[Math.floor((i * t) / m) * t + Math.floor((j * t) / m)] += a[(h * m + i) * m + j];
      }
      const cells = (m / t) * (m / t);
      let max = 0;
      for (let k = 0; k < block.length; k++) { block[k] /= cells; max = Math.max(max, block[k]); }
      scale[l * H + h] = max;
      // one scale for every head (PROTOCOL.md: 255 = vmax = 1); the dev page block-averages, Python max-pools
      for (let k = 0; k < block.length; k++) data[(l * H + h) * t * t + k] = Math.round(Math.min(1, block[k]) * 255);
    }
  }
  return { data, scale };
}

export function answer(meta, sizes, req) {
  const H = meta.n_heads;
  if (req.what === "layer") {
    const m = meta.variants[req.variant].labels.length;
    return { content: { what: "layer", variant: req.variant, layer: req.layer, dtype: "float16", shape: [H, m, m] }, buffers: [halfBytes(attention(H, m, req.layer))] };
  }
  if (req.what === "overview") {
    const m = meta.variants[req.variant].labels.length;
    const t = Math.min(meta.thumb, m);
    const { data, scale } = thumbnails(meta.n_layers, H, m, t);
    return { content: { what: "overview", variant: req.variant, dtype: "uint8", shape: [meta.n_layers, H, t, t], vmax: 1, head_max: scale }, buffers: [data.buffer] };
  }
  if (req.what === "stage") {
    const info = meta.stages.find((s) => s.name === req.stage);
    if (req.stage.startsWith("pipeline")) {
      return { content: { what: "stage", stage: req.stage, parity: { max_abs_diff: 2.4e-7, allclose: true, atol: 1e-5, compared: "manual_hiddens vs pipeline_hiddens" } } };
    }
    const dims = info.dims.slice(-2);
    const rows = sizes[dims[0]] ?? 1;
    const cols = sizes[dims[dims.length - 1]];
    const r = Math.min(rows, 512);
    const v = new Float32Array(r * cols);
    const norms = [];
    for (let i = 0; i < r; i++) {
      let s = 0;
      for (let j = 0; j < cols; j++) {
        const x = Math.sin(i * 0.31 + j * 0.07 + req.layer) * Math.cos(j * 0.013 + req.head) * (1 + (j % 17 === 0 ? 3 : 0));
        v[i * cols + j] = x; s += x * x;
      }
      norms.push(Math.sqrt(s));
    }
    let min = Infinity, max = -Infinity, sum = 0;
    for (const x of v) { min = Math.min(min, x); max = Math.max(max, x); sum += x; }
    const mean = sum / v.length;
    let varsum = 0; for (const x of v) varsum += (x - mean) ** 2;
    return {
      content: {
        what: "stage", stage: req.stage, layer: req.layer, head: req.head, dtype: "float16", shape: [r, cols],
        row_step: Math.max(1, Math.round(rows / r)), col_step: 1, dims, row_labels: dims[0] === "n" ? meta.tokens : Array.from({ length: r }, (_, i) => `${dims[0]}${i}`),
        stats: { min, max, mean, std: Math.sqrt(varsum / v.length) }, row_norms: norms, signed: true,
        note: rows > r ? `${rows} rows averaged to ${r}` : "",
      },
      buffers: [halfBytes(v)],
    };
  }
  return null;
}

/** A minimal anywidget-like model with a log of what the widget wrote. */
export function fakeModel(state, answerFn, delayMs = 5) {
  const handlers = new Map();
  const emit = (ev, ...args) => [...(handlers.get(ev) ?? [])].forEach((fn) => fn(...args));
  const model = {
    state, log: [],
    get: (k) => state[k],
    set(k, v) { if (state[k] === v) return; state[k] = v; model.log.push(["set", k, v]); emit(`change:${k}`, model, v); emit("change", model); },
    on(ev, fn) { if (!handlers.has(ev)) handlers.set(ev, new Set()); handlers.get(ev).add(fn); },
    off(ev, fn) { if (fn) handlers.get(ev)?.delete(fn); else handlers.delete(ev); },
    save_changes() { model.log.push(["save"]); },
    send(req) {
      model.log.push(["send", req.what, req.variant ?? req.stage, req.layer]);
      setTimeout(() => {
        const r = answerFn(req);
        if (!r) emit("msg:custom", { type: "error", id: req.id, message: "no data" }, []);
        else emit("msg:custom", { type: "reply", id: req.id, ...r.content }, r.buffers.map((b) => new DataView(b)));
      }, delayMs);
    },
    listeners: () => [...handlers.values()].reduce((a, s) => a + s.size, 0),
  };
  return model;
}
