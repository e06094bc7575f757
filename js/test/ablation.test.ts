import { afterEach, describe, expect, it } from "vitest";
import { ablationKey, ablationPageAnswer, readAblated, toggleHead } from "../ablation";
import widget from "../widget";
import { FakeModel, makeMeta, responderFor, settle } from "./fakeModel";

const EFFECT = {
  what: "ablation", heads: [[1, 2]], mode: "zero", cosine: [1, 1, 0.98765], readout: true, token: "mat",
  predicts: "token", note: "", positions: [{ position: 3, input_token: "[MASK]", before: [["mat", 0.5], ["dog", 0.25]],
  after: [["dog", 0.4], ["mat", 0.125]], prob_before: 0.5, prob_after: 0.125, kl: 0.25, changed: true }],
};

function model(ablated: unknown = []): FakeModel {
  const meta = makeMeta({ layers: 2, heads: 3 });
  const m = new FakeModel({ layer: 1, head: 2, token: -1, variant: "raw", arcs_all_heads: false, stage: "", meta, ablated,
                            panels: ["overview", "heatmap", "arcs", "ablation"] });
  const plain = responderFor(meta);
  m.responder = (req) => (req.what === "ablation" ? { content: EFFECT } : plain(req));
  return m;
}

afterEach(() => {
  document.body.innerHTML = "";
});

describe("ablation", () => {
  it("keeps the set sorted, each head once, and files effects under Python's key", () => {
    expect(toggleHead([[1, 0]], 0, 2)).toEqual([[0, 2], [1, 0]]);
    expect(toggleHead([[0, 2], [1, 0]], 0, 2)).toEqual([[1, 0]]);
    expect(readAblated([[1, 2], "x", [true, 1], [3]])).toEqual([[1, 2]]);
    expect(ablationKey([[0, 2], [1, 0]], "zero")).toBe("ablation|0.2,1.0|zero");
  });

  it("ablates the selected head with the button and the key a, and shows the effect", async () => {
    const m = model();
    const el = document.createElement("div");
    document.body.appendChild(el);
    const stop = widget.render({ model: m, el });
    const button = el.querySelector<HTMLButtonElement>(".tw-ablate")!;
    expect(button.textContent).toBe("ablate L1 H2");
    button.click();
    expect(m.get("ablated")).toEqual([[1, 2]]);
    expect(m.saves).toBeGreaterThan(0);
    await settle();
    expect(m.sent.at(-1)).toMatchObject({ what: "ablation", heads: [[1, 2]], mode: "zero" });
    const out = el.querySelector(".tw-ablation-out")!.textContent!;
    expect(out).toContain("the top prediction changed");
    expect(out).toContain("p(“mat”): 0.500 → 0.125");
    expect(out).toContain("X2 0.9877");
    expect(button.textContent).toBe("restore L1 H2");
    // the key a, on the focused root, gives it back
    const root = el.querySelector<HTMLElement>(".tw-root")!;
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "a", bubbles: true }));
    expect(m.get("ablated")).toEqual([]);
    expect(el.querySelector(".tw-ablation-set")!.textContent).toContain("no head ablated");
    // Python sets the trait: the view follows
    m.pythonSet("ablated", [[0, 1]]);
    expect(el.querySelector(".tw-ablation-set")!.textContent).toBe("ablated (zero): L0 H1");
    // the mode: a trait too, and the request asks for it
    const mode = el.querySelector<HTMLSelectElement>(".tw-ablation-mode")!;
    mode.value = "mean";
    mode.dispatchEvent(new Event("change"));
    expect(m.get("ablation_mode")).toBe("mean");
    await settle();
    expect(m.sent.at(-1)).toMatchObject({ what: "ablation", heads: [[0, 1]], mode: "mean" });
    expect(el.querySelector(".tw-ablation-set")!.textContent).toBe("ablated (mean): L0 H1");
    stop();
  });

  it("answers from the page's table, and says when an ablation was not computed before export", async () => {
    const answer = ablationPageAnswer({ "ablation|1.2|zero": EFFECT });
    await expect(answer({ what: "ablation", heads: [[1, 2]], mode: "zero" })).resolves.toMatchObject({ content: EFFECT });
    await expect(answer({ what: "ablation", heads: [[0, 0]], mode: "zero" })).rejects.toThrow(
      /not computed before export: this page holds the ablations of L1 H2 \(zero\)\. Ablate L0 H0 \(zero\) in the notebook/);
  });
});
