// The page's rollout (transeasy_widget/propagation.py, Abnar & Zuidema 2020), against values computed by hand.
import { describe, expect, it } from "vitest";
import { matmul, residualAttention } from "../derive";

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
});
