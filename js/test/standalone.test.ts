import { afterEach, describe, expect, it } from "vitest";
import { answerFromTable, createStandaloneModel, mount, requestKey } from "../standalone";
import { halfBuffer, makeMeta, settle } from "./fakeModel";

function base64(buffer: ArrayBuffer): string {
  return btoa(String.fromCharCode(...new Uint8Array(buffer)));
}

describe("standalone model", () => {
  afterEach(() => {
    document.body.innerHTML = "";
  });

  it("gets, sets with change events, and answers sends asynchronously with DataView buffers", async () => {
    const model = createStandaloneModel({ layer: 1 }, (req) => ({ content: { what: req.what, shape: [1] }, buffers: [halfBuffer([1])] }));
    const seen: unknown[] = [];
    const onLayer = (_: unknown, v: unknown) => seen.push(v);
    model.on("change:layer", onLayer);
    model.set("layer", 2);
    model.set("layer", 2);
    expect(seen).toEqual([2]);
    model.off("change:layer", onLayer);
    model.set("layer", 3);
    expect(seen).toEqual([2]);
    const replies: Array<[Record<string, unknown>, unknown[]]> = [];
    model.on("msg:custom", (msg: Record<string, unknown>, buffers: unknown[]) => replies.push([msg, buffers]));
    model.send({ type: "request", id: 5, what: "layer" });
    expect(replies).toHaveLength(0);
    await settle();
    expect(replies[0]![0]).toMatchObject({ type: "reply", id: 5, what: "layer" });
    expect(replies[0]![1][0]).toBeInstanceOf(DataView);
  });

  it("turns a precomputed answer that holds an error into an error reply with its message", async () => {
    const model = createStandaloneModel({}, () => ({ content: { what: "stage", error: "no pass of its own to compare with" } }));
    const replies: Array<Record<string, unknown>> = [];
    model.on("msg:custom", (msg: Record<string, unknown>) => replies.push(msg));
    model.send({ type: "request", id: 7, what: "stage" });
    await settle();
    expect(replies).toEqual([{ type: "error", id: 7, message: "no pass of its own to compare with" }]);
  });

  it("mounts the widget from embedded replies, without Jupyter", async () => {
    const meta = makeMeta({ layers: 1, heads: 1 });
    const table = {
      [requestKey({ what: "layer", variant: "raw", layer: 0 })]: {
        content: { what: "layer", variant: "raw", layer: 0, dtype: "float16", shape: [1, 5, 5] },
        buffers: [base64(halfBuffer(new Array(25).fill(0.2)))],
      },
    };
    const el = document.createElement("div");
    document.body.appendChild(el);
    const stop = mount(el, { layer: 0, head: 0, token: -1, variant: "raw", arcs_all_heads: false, stage: "", meta }, answerFromTable(table));
    await settle();
    expect(el.querySelector(".tw-root")!.getAttribute("data-variant")).toBe("raw");
    expect(el.querySelector(".tw-heatmap .tw-loading")!.hasAttribute("hidden")).toBe(true);
    expect(el.querySelector(".tw-overview .tw-loading")!.textContent).toContain("no data for this overview request");
    stop();
    expect(el.querySelector(".tw-root")).toBeNull();
  });
});

describe("the page's data texts", () => {
  it("reads each part from its element, once", async () => {
    const { pageTexts } = await import("../standalone");
    document.body.innerHTML = '<script type="text/plain" id="tw-t-0">AAAA</script><script type="text/plain" id="tw-t-1">BBBB</script>';
    const read = pageTexts("tw-t-");
    expect(await read(0)).toBe("AAAA");
    expect(await read(1)).toBe("BBBB");
    document.getElementById("tw-t-1")!.textContent = "changed";
    expect(await read(1)).toBe("BBBB");
  });
});
