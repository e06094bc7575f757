// The page's rollout (transeasy_widget/propagation.py, Abnar & Zuidema 2020), against values computed by hand.
import { describe, expect, it } from "vitest";
import { attentionTimesColumns, matmul, maxPool, ratioTimesHeadSum, readViewLayer, residualAttention } from "../derive";

describe("rollout in the page", () => {
  it("mixes the heads' mean with the identity and renormalises each row", () => {
    // two heads of two tokens: head 0 attends to itself, head 1 to the other token
    const values = Float32Array.from([1, 0, 0, 1, 0, 1, 1, 0]);
    const m = residualAttention({ heads: 2, n: 2, values, sigma: new Float32Array(0) });
    // mean over heads: 0.5 everywhere; 0.5 · 0.5 + 0.5 on the diagonal = 0.75, 0.25 off it; rows already sum to 1
    expect([...m]).toEqual([0.75, 0.25, 0.25, 0.75]);
  });

  it("multiplies the layers through, M · R", () => {
    const m = Float32Array.from([0.75, 0.25, 0.25, 0.75]);
    const r = Float32Array.from([1, 0, 0.5, 0.5]);
    // row 0: 0.75·[1, 0] + 0.25·[0.5, 0.5] = [0.875, 0.125]; row 1: 0.25·[1, 0] + 0.75·[0.5, 0.5] = [0.625, 0.375]
    expect([...matmul(m, r, 2)]).toEqual([0.875, 0.125, 0.625, 0.375]);
  });

  it("derives norm from the attention and its column factors, and norm_summed from its ratio to their sum", () => {
    // two heads of two tokens; ‖f_h(x_j)‖ = [[2, 4], [1, 3]]
    const raw = { heads: 2, n: 2, values: Float32Array.from([0.5, 0.5, 1, 0, 0, 1, 0.25, 0.75]), sigma: new Float32Array(0) };
    const norm = attentionTimesColumns(raw, Float32Array.from([2, 4, 1, 3]));
    expect([...norm.values]).toEqual([1, 2, 2, 0, 0, 3, 0.25, 2.25]);
    // Σ_h: [1, 5, 2.25, 2.25]; ratios stored column by column: q[j, i] = 255, 51 (column 0), 0, 102 (column 1)
    const summed = ratioTimesHeadSum(Uint8Array.from([255, 51, 0, 102]), norm);
    expect(summed.heads).toBe(1);
    expect([...summed.values].map((v) => Math.round(v * 1e6) / 1e6)).toEqual([1, 0, 0.45, 0.9]);
  });

  it("reads a per-layer view stored column by column, and pools the overview as torch does", () => {
    const bytes = new ArrayBuffer(4 + 4);
    new Float32Array(bytes, 0, 1)[0] = 2;
    new Uint8Array(bytes, 4, 4).set([255, 0, 51, 102]); // q[j, i]
    expect([...readViewLayer(bytes, 1, 2).values].map((v) => Math.round(v * 1e6) / 1e6)).toEqual([2, 0.4, 0, 0.8]);
    // 5×5 pooled to 2×2: bins 0..3 and 2..5 (floor(i·5/2) … ceil((i+1)·5/2)), overlapping at 2
    const values = Float32Array.from({ length: 25 }, (_, k) => k);
    expect([...maxPool(values, 1, 5, 2)]).toEqual([12, 14, 22, 24]);
  });
});
