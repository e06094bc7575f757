import { afterEach, describe, expect, it } from "vitest";
import { diagramRows } from "../diagram";
import { aggregationNote, parityRows, shapeText, stageCellSize } from "../stages";
import type { StageInfo } from "../types";
import widget from "../widget";
import { FakeModel, makeMeta, responderFor, settle } from "./fakeModel";

/** The registry's names as the Python side lists them, deliberately shuffled. */
const NAMES = [
  "pipeline_hiddens", "selfattn_attention", "addnorm2_norm_hidden", "preemb_sum_emb", "selfattn_value_hidden",
  "selfattn_query_hidden", "selfattn_key_hidden", "selfattn_query_weight", "selfattn_qkt_hidden", "preemb_word_emb",
  "preemb_pos_emb", "preemb_seg_emb", "preemb_vocab", "preemb_norm_sum_emb", "preemb_norm_weight",
  "selfattn_qkt_scale_hidden", "selfattn_qkt_scale_soft_hidden", "selfattn_contvec", "selfattn_contvec_concat",
  "addnorm1_dense_hidden", "addnorm1_add_hidden", "addnorm1_norm_hidden", "ffnn_dense_hidden", "ffnn_dense_act",
  "addnorm2_dense_hidden", "addnorm2_add_hidden", "ffnn_dense_weight", "manual_hiddens", "pipeline_attns",
  "selfattn_mystery_hidden",
];

function stage(name: string): StageInfo {
  const perHead = name.startsWith("selfattn_") && name !== "selfattn_contvec_concat";
  return {
    name, group: name.split("_")[0]!, dims: perHead ? ["L", "H", "n", "dh"] : ["n", "d"], shape: perHead ? [6, 12, 5, 32] : [5, 384],
    formula: `${name} = f(x)`, meaning: `meaning of ${name}`, kind: /weight|vocab/.test(name) ? "weight" : "activation",
    per_layer: !name.startsWith("preemb") && !name.startsWith("pipeline") && !name.startsWith("manual"), per_head: perHead,
  };
}

/** Steps as Python's registry sends them (stages.py STEPS, filtered to the model's stages by diagram_steps). */
const STEPS = [
  { title: "embedding tables", section: "embeddings", stages: ["preemb_word_emb", "preemb_pos_emb", "preemb_seg_emb", "preemb_vocab"] },
  { title: "sum", section: "embeddings", stages: ["preemb_sum_emb"] },
  { title: "LayerNorm", section: "embeddings", stages: ["preemb_norm_sum_emb", "preemb_norm_weight"] },
  { title: "Q / K / V", section: "encoder layer", stages: ["selfattn_query_hidden", "selfattn_key_hidden", "selfattn_value_hidden", "selfattn_query_weight"] },
  { title: "QKᵀ", section: "encoder layer", stages: ["selfattn_qkt_hidden"] },
  { title: "÷ √dh", section: "encoder layer", stages: ["selfattn_qkt_scale_hidden"] },
  { title: "softmax", section: "encoder layer", stages: ["selfattn_qkt_scale_soft_hidden", "selfattn_attention"] },
  { title: "context = A·V", section: "encoder layer", stages: ["selfattn_contvec", "selfattn_mystery_hidden"] },
  { title: "concat heads", section: "encoder layer", stages: ["selfattn_contvec_concat"] },
  { title: "dense", section: "encoder layer", stages: ["addnorm1_dense_hidden"] },
  { title: "add (residual)", section: "encoder layer", stages: ["addnorm1_add_hidden"] },
  { title: "LayerNorm", section: "encoder layer", stages: ["addnorm1_norm_hidden"] },
  { title: "FFN dense", section: "encoder layer", stages: ["ffnn_dense_hidden", "ffnn_dense_weight"] },
  { title: "activation", section: "encoder layer", stages: ["ffnn_dense_act"] },
  { title: "dense", section: "encoder layer", stages: ["addnorm2_dense_hidden"] },
  { title: "add (residual)", section: "encoder layer", stages: ["addnorm2_add_hidden"] },
  { title: "LayerNorm", section: "encoder layer", stages: ["addnorm2_norm_hidden"] },
  { title: "hidden states", section: "output and verification", stages: ["manual_hiddens"] },
  { title: "the model's own output", section: "output and verification", stages: ["pipeline_attns", "pipeline_hiddens"] },
];

const flat = (rows: ReturnType<typeof diagramRows>) => rows.flatMap((r) => [...r.stages, ...r.params]);

describe("diagram layout", () => {
  const rows = diagramRows(STEPS, NAMES.map(stage));

  it("draws the registry's steps in their order, every stage of the model once", () => {
    expect([...flat(rows)].sort()).toEqual([...NAMES].sort());
    expect(rows.map((r) => r.title)).toEqual(STEPS.map((s) => s.title));
  });

  it("separates a step's activations from its parameters (kind weight)", () => {
    const qkv = rows.find((r) => r.title === "Q / K / V")!;
    expect(qkv.stages).toEqual(["selfattn_query_hidden", "selfattn_key_hidden", "selfattn_value_hidden"]);
    expect(qkv.params).toEqual(["selfattn_query_weight"]);
    expect(rows[0]!.params).toEqual(["preemb_vocab"]);
  });

  it("leaves out the stages a model lacks, and a step with none of its stages", () => {
    const few = diagramRows(STEPS, ["preemb_sum_emb", "selfattn_attention"].map(stage));
    expect(few.map((r) => [r.title, r.stages])).toEqual([["sum", ["preemb_sum_emb"]], ["softmax", ["selfattn_attention"]]]);
  });
});

describe("stage panel helpers", () => {
  it("names the full shape and the slice shown", () => {
    const text = shapeText(stage("selfattn_query_hidden"), { dims: ["n", "dh"] }, 5, 32);
    expect(text).toBe("tensor L×H×n×dh = 6×12×5×32 · shown: n×dh = 5×32");
  });

  it("notes aggregation only when a step is above 1", () => {
    expect(aggregationNote({ row_step: 1, col_step: 1 })).toBe("");
    expect(aggregationNote({ row_step: 1, col_step: 4 })).toContain("1 row × 4 columns");
  });

  it("flattens a nested parity report into dotted rows", () => {
    expect(parityRows({ ok: true, hiddens: { max_abs_diff: 1e-7, layers: 7 } })).toEqual([
      ["ok", true], ["hiddens.max_abs_diff", 1e-7], ["hiddens.layers", 7],
    ]);
  });

  it("gives wide tensors 1 px columns", () => {
    expect(stageCellSize(512, 3072)).toEqual({ cw: 1, ch: 1 });
    expect(stageCellSize(5, 32).cw).toBe(16);
  });
});

describe("stage viewer", () => {
  afterEach(() => {
    document.body.innerHTML = "";
  });

  function setup(extra: Record<string, unknown> = {}) {
    const meta = makeMeta({ layers: 6, heads: 12, stages: NAMES.map(stage) as unknown as Array<Record<string, unknown>>, steps: STEPS });
    const panels = ["overview", "heatmap", "arcs", "stages"];
    const m = new FakeModel({ layer: 0, head: 0, token: -1, variant: "raw", arcs_all_heads: false, stage: "", panels, meta, ...extra });
    m.responder = responderFor(meta);
    widget.initialize({ model: m });
    const el = document.createElement("div");
    document.body.appendChild(el);
    const cleanup = widget.render({ model: m, el });
    return { m, el, cleanup };
  }

  it("draws one box per stage in flow order, and a click selects the stage", () => {
    const { m, el } = setup();
    const boxes = [...el.querySelectorAll<HTMLElement>(".tw-stage-box")];
    expect(boxes.map((b) => b.dataset.stage)).toEqual(flat(diagramRows(STEPS, NAMES.map(stage))));
    boxes.find((b) => b.dataset.stage === "ffnn_dense_act")!.click();
    expect(m.state.stage).toBe("ffnn_dense_act");
    expect(m.saves).toBe(1);
    expect(el.querySelector(".tw-stage-box.tw-selected")!.getAttribute("data-stage")).toBe("ffnn_dense_act");
  });

  it("requests the selected stage and shows shape, formula, meaning and statistics", async () => {
    const { m, el } = setup({ stage: "selfattn_query_hidden", layer: 3, head: 2 });
    await settle();
    expect(m.sent.find((r) => r.what === "stage")).toMatchObject({ stage: "selfattn_query_hidden", layer: 3, head: 2 });
    expect(el.querySelector(".tw-stage-shape")!.textContent).toContain("L×H×n×dh = 6×12×5×32");
    expect(el.querySelector(".tw-stage-formula")!.textContent).toBe("selfattn_query_hidden = f(x)");
    expect(el.querySelector(".tw-stage-meaning")!.textContent).toBe("meaning of selfattn_query_hidden");
    expect(el.querySelector(".tw-stage-stats")!.textContent).toBe("min -2.000 · max 2.000 · mean 0.010 · std 1.400");
    expect(el.querySelectorAll(".tw-stage-rowlabels .tw-label")).toHaveLength(5);
  });

  it("follows head changes for per-head stages and caches per key", async () => {
    const { m } = setup({ stage: "selfattn_query_hidden" });
    await settle();
    m.pythonSet("head", 4);
    await settle();
    m.pythonSet("head", 0);
    await settle();
    const stageRequests = m.sent.filter((r) => r.what === "stage").map((r) => r.head);
    expect(stageRequests).toEqual([0, 4]);
  });

  it("does not re-request a per-layer stage when only the head changes", async () => {
    const { m } = setup({ stage: "addnorm1_add_hidden" });
    await settle();
    m.pythonSet("head", 5);
    await settle();
    expect(m.sent.filter((r) => r.what === "stage")).toHaveLength(1);
  });

  it("shows a pipeline stage's parity as a table", async () => {
    const { el } = setup({ stage: "pipeline_hiddens" });
    await settle();
    const cells = [...el.querySelectorAll(".tw-stage-parity tr")].map((tr) => tr.textContent);
    expect(cells).toEqual(["max_abs_diff1.20e-7", "equalyes"]);
    expect(el.querySelector<HTMLElement>(".tw-stage-plotrow")!.hidden).toBe(true);
  });

  it("notes an aggregated reply, preferring Python's own note", async () => {
    const meta = makeMeta({ stages: [stage("ffnn_dense_act")] as unknown as Array<Record<string, unknown>> });
    const render = async (note: string) => {
      const m = new FakeModel({ layer: 0, head: 0, token: -1, variant: "raw", arcs_all_heads: false, stage: "ffnn_dense_act", panels: ["stages"], meta });
      const base = responderFor(meta);
      m.responder = (req) => {
        const r = base(req)!;
        return { ...r, content: { ...r.content, col_step: 8, full_shape: [5, 64], note } };
      };
      const el = document.createElement("div");
      widget.render({ model: m, el });
      await settle();
      return el;
    };
    const own = await render("");
    expect(own.querySelector(".tw-stage-note")!.textContent).toContain("8 columns");
    expect(own.querySelector(".tw-stage-shape")!.textContent).toContain("shown: n×dh = 5×8 of 5×64");
    const python = await render("aggregated: each cell is the mean of 1×8 values");
    expect(python.querySelector(".tw-stage-note")!.textContent).toBe("aggregated: each cell is the mean of 1×8 values");
  });

  it("shows a symbolic stage's text as pieces", async () => {
    const meta = makeMeta({ tokens: ["[CLS]", "<b>x</b>", "[SEP]"], stages: [{ name: "sym_tokens", group: "sym", kind: "symbolic", dims: ["n"], shape: [3] }] });
    const m = new FakeModel({ layer: 0, head: 0, token: -1, variant: "raw", arcs_all_heads: false, stage: "sym_tokens", panels: ["stages"], meta });
    m.responder = () => ({ content: { what: "stage", stage: "sym_tokens", text: ["[CLS]", "<b>x</b>", "[SEP]"] } });
    const el = document.createElement("div");
    widget.render({ model: m, el });
    await settle();
    expect([...el.querySelectorAll(".tw-stage-piece")].map((n) => n.textContent)).toEqual(["[CLS]", "<b>x</b>", "[SEP]"]);
    expect(el.querySelector(".tw-stage-text b")).toBeNull();
  });

  it("shows an error reply instead of hanging", async () => {
    const meta = makeMeta({ stages: [stage("ffnn_dense_act")] as unknown as Array<Record<string, unknown>> });
    const m = new FakeModel({ layer: 0, head: 0, token: -1, variant: "raw", arcs_all_heads: false, stage: "ffnn_dense_act", panels: ["stages"], meta });
    m.responder = () => null;
    const el = document.createElement("div");
    widget.render({ model: m, el });
    await settle();
    expect(el.querySelector(".tw-stage-panel .tw-loading")!.textContent).toContain("no data");
  });
});
