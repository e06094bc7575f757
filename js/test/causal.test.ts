import { afterEach, describe, expect, it } from "vitest";
import {
  MASKED_CAUSAL,
  MASKED_WINDOW,
  SEEN,
  headLabel,
  maskOf,
  maskedCell,
  paintThumbMasks,
  poolBlock,
  positionOfRow,
  rowOfPosition,
  seenPairs,
  variantTitle,
} from "../causal";
import { readLensReply } from "../lensdata";
import { readMeta } from "../meta";
import { PackData } from "../pack";
import widget from "../widget";
import { FakeModel, responderFor, settle } from "./fakeModel";

afterEach(() => {
  document.body.innerHTML = "";
});

/** A decoder's meta as Python writes it: <s> (special, the BOS), 4 pieces, words "The" "cat sat"→ pieces. */
function decoderMeta(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const tokens = ["<s>", "The", "Ġcat", "Ġs", "at"];
  const v = (labels: string[]) => ({ labels, segments: labels.map(() => 0), special: labels.map(() => false) });
  return {
    model_name: "tiny-llama",
    family: "llama",
    n_layers: 2,
    n_heads: 4,
    n_tokens: tokens.length,
    tokens,
    segments: tokens.map(() => 0),
    special: [true, false, false, false, false],
    variants: {
      raw: { ...v(tokens), special: [true, false, false, false, false] },
      nosep: v(tokens.slice(1)),
      nosep_linscale: v(tokens.slice(1)),
      nosep_softmax_scale: v(tokens.slice(1)),
      reduced: { ...v(["The", "cat", "sat"]), pieces: [[1, 1], [2, 2], [3, 4]] },
    },
    thumb: 48,
    stages: [],
    steps: [],
    causal: { windows: [null, 2] },
    kv_heads: [0, 0, 1, 1],
    lens: { kind: "next token", k: 2, rows: ["emb", "0", "1"] },
    ...extra,
  };
}

describe("the causal mask rule (causal.py masked_cell)", () => {
  it("masks keys after every query, and keys a window or more before the nearest query", () => {
    expect(maskedCell(2, 2, 3, 3, null)).toBe(MASKED_CAUSAL);
    expect(maskedCell(3, 3, 3, 3, null)).toBe(SEEN);
    expect(maskedCell(5, 5, 0, 0, null)).toBe(SEEN);
    expect(maskedCell(5, 5, 1, 1, 4)).toBe(MASKED_WINDOW);
    expect(maskedCell(5, 5, 2, 2, 4)).toBe(SEEN);
    expect(maskedCell(4, 6, 5, 8, 1)).toBe(SEEN); // overlapping spans: a piece sees itself
    expect(maskedCell(5, 9, 0, 2, 4)).toBe(SEEN); // the nearest pair is 3 apart
  });

  it("pools blocks as PyTorch's adaptive max pooling does", () => {
    // adaptive_max_pool2d bounds: start = ⌊i m / t⌋, end = ⌈(i + 1) m / t⌉ (exclusive)
    expect([0, 1, 2, 3, 4].map((i) => poolBlock(i, 13, 5))).toEqual([[0, 2], [2, 5], [5, 7], [7, 10], [10, 12]]);
    expect(poolBlock(3, 4, 4)).toEqual([3, 3]);
  });

  it("gives each variant's map its mask: pieces, the BOS dropped, words, and a layer's sliding window", () => {
    const meta = readMeta(decoderMeta());
    const raw = maskOf(meta, "raw", 0, 5)!;
    for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) expect(raw[i * 5 + j]).toBe(j > i ? MASKED_CAUSAL : SEEN);
    const nosep = maskOf(meta, "nosep", 0, 4)!;
    expect(Array.from(nosep.slice(0, 4))).toEqual([SEEN, MASKED_CAUSAL, MASKED_CAUSAL, MASKED_CAUSAL]);
    // words: "sat" (pieces 3, 4) sees "cat" (2) and itself; "cat" does not see "sat"
    const words = maskOf(meta, "reduced", 0, 3)!;
    expect(Array.from(words)).toEqual([SEEN, 1, 1, SEEN, SEEN, 1, SEEN, SEEN, SEEN]);
    // layer 1: a window of 2, so "at" (4) no longer sees "Ġcat" (2) nor "The" (1)
    const windowed = maskOf(meta, "raw", 1, 5)!;
    expect(windowed[4 * 5 + 2]).toBe(MASKED_WINDOW);
    expect(windowed[4 * 5 + 3]).toBe(SEEN);
    // …but the word "sat" (pieces 3–4) still sees "cat" (2) through its first piece
    expect(maskOf(meta, "reduced", 1, 3)![2 * 3 + 1]).toBe(SEEN);
    expect(maskOf(meta, "reduced", 1, 3)![2 * 3 + 0]).toBe(MASKED_WINDOW);
    // an encoder: nothing masked
    expect(maskOf(readMeta(decoderMeta({ causal: null })), "raw", 0, 5)).toBeNull();
  });

  it("masks the contribution views on every piece, the BOS included; a window only where one layer is read", () => {
    const contribution = (through: boolean) => ({
      labels: ["<s>", "The", "Ġcat", "Ġs", "at"], segments: [0, 0, 0, 0, 0], special: [true, false, false, false, false],
      group: "contributions", per_head: false, scale: "unit", title: "t", quantity: "q", through_layers: through,
    });
    const base = decoderMeta() as { variants: Record<string, unknown> };
    const meta = readMeta(decoderMeta({ variants: { ...base.variants, alti: contribution(false), rollout: contribution(true) } }));
    const alti = maskOf(meta, "alti", 1, 5)!;
    expect(alti[1 * 5 + 0]).toBe(SEEN); // the BOS row and column are there (5 rows, not 4)
    expect(alti[0 * 5 + 1]).toBe(MASKED_CAUSAL);
    expect(alti[4 * 5 + 2]).toBe(MASKED_WINDOW); // one layer's ALTI: layer 1's window of 2 holds
    const rollout = maskOf(meta, "rollout", 1, 5)!;
    expect(rollout[4 * 5 + 2]).toBe(SEEN); // rolled out through layers 0 and 1: "at" reaches "Ġcat" through "Ġs"
    expect(rollout[2 * 5 + 4]).toBe(MASKED_CAUSAL);
  });

  it("drops masked arcs and greys masked thumbnail blocks", () => {
    const meta = readMeta(decoderMeta());
    const mask = maskOf(meta, "raw", 0, 5)!;
    expect(seenPairs([3, 1, 1, 3, 2, 2], mask, 5)).toEqual([3, 1, 2, 2]);
    // one layer, one head, a 4 px thumbnail of a 2×2 pooled mask
    const t = 2;
    const out = new Uint32Array(4 * 4);
    paintThumbMasks(out, 4, 1, 1, 4, 2, t, (l) => maskOf(meta, "raw", l, 5, t), 7);
    // pooled blocks: rows 0–2 and 2–4; block (0, 1) (queries 0–2, keys 2–4) still sees 2→2, so nothing is masked
    expect(Array.from(out).every((v) => v === 0)).toBe(true);
    const out3 = new Uint32Array(3 * 3);
    paintThumbMasks(out3, 3, 1, 1, 3, 2, 5, (l) => maskOf(meta, "raw", l, 5, 5), 7);
    // 5 values on 3 px: pixel x reads value ⌊5x/3⌋ = 0, 1, 3
    expect(Array.from(out3)).toEqual([0, 7, 7, 0, 0, 7, 0, 0, 0]);
  });
});

describe("labels and positions of a decoder", () => {
  const meta = readMeta(decoderMeta());

  it("says which key/value head each query head reads, and names the BOS the variants drop", () => {
    expect(headLabel(meta, 3)).toBe("head 3 · kv 1");
    expect(headLabel(readMeta(decoderMeta({ kv_heads: null })), 3)).toBe("head 3");
    expect(variantTitle(meta, "nosep", "no [CLS]/[SEP]")).toBe("no <s>");
    expect(variantTitle(meta, "nosep_softmax_scale", "x")).toBe("no <s>, softmax");
    const gpt2 = readMeta(decoderMeta({ special: [false, false, false, false, false] }));
    expect(variantTitle(gpt2, "nosep", "x")).toBe("no specials (none here: = raw)");
    expect(variantTitle(readMeta(decoderMeta({ causal: null })), "nosep", "no [CLS]/[SEP]")).toBe("no [CLS]/[SEP]");
  });

  it("maps rows of every variant to raw positions and back", () => {
    expect(positionOfRow(meta, "raw", 2)).toBe(2);
    expect(positionOfRow(meta, "nosep", 0)).toBe(1);
    expect(positionOfRow(meta, "reduced", 2)).toBe(4); // a word reads out after its last piece
    expect(rowOfPosition(meta, "reduced", 3)).toBe(2);
    expect(rowOfPosition(meta, "nosep", 0)).toBe(-1); // the BOS is no row of nosep
    expect(rowOfPosition(meta, "nosep_linscale", 4)).toBe(3);
  });
});

/** A lens reply for decoderMeta: rows × 5 positions × k = 2, token "t{row}{pos}" first, "z" second. */
function lensReply(): { content: Record<string, unknown>; buffers: ArrayBuffer[] } {
  const rows = 3;
  const n = 5;
  const k = 2;
  const vocab: string[] = ["z"];
  const ids = new Uint32Array(rows * n * k);
  const probs = new Float32Array(rows * n * k);
  for (let r = 0; r < rows; r++) {
    for (let p = 0; p < n; p++) {
      vocab.push(`t${r}${p}`);
      ids[(r * n + p) * k] = vocab.length - 1;
      probs[(r * n + p) * k] = 0.5 + 0.1 * r;
      ids[(r * n + p) * k + 1] = 0;
      probs[(r * n + p) * k + 1] = 0.1;
    }
  }
  return {
    content: { what: "lens", k, kind: "next token", rows: ["emb", "0", "1"], shape: [rows, n, k], vocab, dtype: ["uint32", "float32"] },
    buffers: [ids.buffer, probs.buffer],
  };
}

describe("the logit lens panel", () => {
  function mount(extra: Record<string, unknown> = {}) {
    const meta = decoderMeta();
    const m = new FakeModel({ layer: 0, head: 0, token: -1, variant: "raw", arcs_all_heads: false, stage: "", meta,
                              panels: ["heatmap", "lens"], ...extra });
    const base = responderFor(meta);
    m.responder = (req) => (req.what === "lens" ? lensReply() : base(req));
    const el = document.createElement("div");
    document.body.appendChild(el);
    widget.initialize({ model: m });
    widget.render({ model: m, el });
    return { m, el };
  }

  it("asks for the lens once, shows each cell's top token, and links rows and columns to the selection", async () => {
    const { m, el } = mount({ layer: 1, token: 2, variant: "reduced" });
    await settle(40);
    expect(m.sent.filter((r) => r.what === "lens")).toEqual([expect.objectContaining({ what: "lens", k: 2 })]);
    const rowText = (r: number) => [...el.querySelectorAll(`.tw-lens-cell[data-row='${r}']`)].map((c) => c.textContent);
    expect(rowText(0)).toEqual(["t00", "t01", "t02", "t03", "t04"]);
    expect(rowText(2)).toEqual(["t20", "t21", "t22", "t23", "t24"]);
    expect([...el.querySelectorAll(".tw-lens-row")].map((c) => c.textContent)).toEqual(["emb", "L0", "L1"]);
    // layer 1 → its output, row 2; the word "sat" (token 2 of reduced) → its last piece, position 4
    const lensEl = el.querySelector(".tw-lens") as HTMLElement;
    expect(lensEl.dataset.row).toBe("2");
    expect(lensEl.dataset.pos).toBe("4");
    expect(el.querySelector(".tw-lens-cell.tw-lens-selrow.tw-lens-selcol")!.textContent).toBe("t24");

    // a click selects that layer (row 1: layer 0's output) and the word holding that position
    (el.querySelector(".tw-lens-cell[data-row='1'][data-pos='2']") as HTMLElement).click();
    expect(m.state.layer).toBe(0);
    expect(m.state.token).toBe(1);
    await settle(10);
    expect(el.querySelector(".tw-lens-cell.tw-lens-selrow.tw-lens-selcol")!.textContent).toBe("t12");

    // hover: every token of the cell with its probability
    const cell = el.querySelector(".tw-lens-cell[data-row='2'][data-pos='1']") as HTMLElement;
    cell.dispatchEvent(new MouseEvent("mousemove", { bubbles: true, clientX: 5, clientY: 5 }));
    expect(el.querySelector(".tw-tooltip")!.textContent).toBe(
      "layer 1's output · after “The” (position 1): ‘t21’ 0.700 · ‘z’ 0.100");
  });

  it("asks nothing while closed, and says so where the model has no read-out", async () => {
    const { m } = mount({ panels: ["heatmap"] });
    await settle(30);
    expect(m.sent.filter((r) => r.what === "lens")).toEqual([]);
    document.body.innerHTML = "";
    const meta = decoderMeta({ lens: null });
    const m2 = new FakeModel({ layer: 0, head: 0, token: -1, variant: "raw", stage: "", meta, panels: ["lens"] });
    m2.responder = responderFor(meta);
    const el = document.createElement("div");
    document.body.appendChild(el);
    widget.initialize({ model: m2 });
    widget.render({ model: m2, el });
    await settle(30);
    expect(m2.sent.filter((r) => r.what === "lens")).toEqual([]);
    expect(el.querySelector(".tw-lens-note")!.textContent).toContain("no output head");
    expect((el.querySelector(".tw-toggles input[data-panel='lens']")!.closest("label") as HTMLElement).hidden).toBe(true);
  });

  it("is read from a page's pack for the k it holds", async () => {
    const reply = lensReply();
    const text: string[] = [];
    const chunks: Array<[number, number]> = [];
    let end = 0;
    const { deflateSync } = await import("node:zlib");
    for (const b of reply.buffers) {
      const t = Buffer.from(deflateSync(Buffer.from(b))).toString("base64");
      chunks.push([end, end + t.length]);
      end += t.length;
      text.push(t);
    }
    const manifest = { version: 1, n_layers: 2, n_heads: 4, attention: { kept: [], word_of_piece: [], n_words: 0, layers: {}, overview: {} },
                       lens: { content: reply.content, chunks: [0, 1] }, chunks };
    const pack = new PackData(manifest as never, text.join(""), [], (w) => w);
    expect(pack.has({ what: "lens", k: 2 })).toBe(true);
    expect(pack.has({ what: "lens", k: 3 })).toBe(false);
    const got = await pack.answer({ what: "lens", k: 2 });
    const lens = readLensReply(got.content, got.buffers ?? []);
    expect(lens.vocab[lens.ids[(2 * 5 + 3) * 2]!]).toBe("t23");
    expect(lens.probs[(2 * 5 + 3) * 2]).toBeCloseTo(0.7);
    await expect(pack.answer({ what: "lens", k: 3 })).rejects.toThrow("not in this page");
  });
});
