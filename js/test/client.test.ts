import { describe, expect, it } from "vitest";
import { DataClient, requestKey, stageRequest } from "../client";
import { halfTableF32 } from "../codec";
import { FakeModel, halfBuffer, makeMeta, responderFor, settle } from "./fakeModel";

describe("DataClient", () => {
  it("sends requests with ids and resolves each by its own reply, in any order", async () => {
    const m = new FakeModel();
    const client = new DataClient(m);
    const a = client.layer("raw", 0);
    const b = client.layer("raw", 1);
    expect(m.sent).toHaveLength(2);
    const [ra, rb] = m.sent as Array<{ id: number; type: string; what: string; layer: number }>;
    expect(ra).toMatchObject({ type: "request", what: "layer", variant: "raw", layer: 0 });
    expect(ra!.id).not.toBe(rb!.id);
    m.emit({ type: "reply", id: rb!.id, what: "layer", shape: [1, 2, 2] }, [halfBuffer([0, 0, 0, 2])]);
    m.emit({ type: "reply", id: 123456789, what: "layer", shape: [1, 1, 1] }, [halfBuffer([9])]); // someone else's
    m.emit({ type: "reply", id: ra!.id, what: "layer", shape: [1, 2, 2] }, [halfBuffer([1, 0, 0, 0])]);
    const [la, lb] = await Promise.all([a, b]);
    expect(halfTableF32()[la.bits[0]!]).toBe(1);
    expect(halfTableF32()[lb.bits[3]!]).toBe(2);
    expect(la.m).toBe(2);
  });

  it("answers a cache hit without a new request, and shares one request in flight", async () => {
    const m = new FakeModel();
    m.responder = responderFor(makeMeta());
    const client = new DataClient(m);
    const [x, y] = await Promise.all([client.layer("raw", 1), client.layer("raw", 1)]);
    expect(x).toBe(y);
    expect(m.sent).toHaveLength(1);
    expect(client.peekLayer("raw", 1)).toBe(x);
    await client.layer("raw", 1);
    expect(m.sent).toHaveLength(1);
    await client.layer("nosep", 1);
    expect(m.sent).toHaveLength(2);
  });

  it("rejects on an error reply and asks again next time", async () => {
    const m = new FakeModel();
    const client = new DataClient(m);
    const p = client.overview("raw");
    m.emit({ type: "error", id: (m.sent[0] as { id: number }).id, message: "layer out of range" });
    await expect(p).rejects.toThrow("layer out of range");
    client.overview("raw").catch(() => {});
    expect(m.sent).toHaveLength(2);
  });

  it("rejects a payload whose size disagrees with its shape", async () => {
    const m = new FakeModel();
    const client = new DataClient(m);
    const p = client.layer("raw", 0);
    m.emit({ type: "reply", id: (m.sent[0] as { id: number }).id, what: "layer", shape: [2, 3, 3] }, [halfBuffer([1, 2])]);
    await expect(p).rejects.toThrow(/shape/);
  });

  it("decodes overview thumbnails and stage slices", async () => {
    const meta = makeMeta({ layers: 2, heads: 3 });
    const m = new FakeModel({ meta });
    m.responder = responderFor(meta);
    const client = new DataClient(m);
    const ov = await client.overview("raw");
    expect([ov.layers, ov.heads, ov.thumb]).toEqual([2, 3, 5]);
    expect(ov.headMax).toHaveLength(6);
    expect(ov.vmax).toBe(1);
    const st = await client.stage("selfattn_query_hidden", 1, 2, true, true);
    expect([st.rows, st.cols]).toEqual([5, 8]);
    expect(st.values![1]).toBeCloseTo(Math.sin(1) * 2, 2);
    const parity = await client.stage("pipeline_hiddens", 0, 0, false, false);
    expect(parity.values).toBeNull();
    expect(parity.content.parity).toEqual({ max_abs_diff: 1.2e-7, equal: true });
  });

  it("asks for a stage that does not depend on layer or head at 0, so one reply serves every selection", async () => {
    const meta = makeMeta();
    const m = new FakeModel({ meta });
    m.responder = responderFor(meta);
    const client = new DataClient(m);
    await client.stage("preemb_sum_emb", 3, 2, false, false);
    await client.stage("addnorm1_add_hidden", 3, 2, true, false);
    expect(m.sent.map((r) => [r.layer, r.head])).toEqual([[0, 0], [3, 0]]);
    await client.stage("preemb_sum_emb", 1, 1, false, false);
    expect(m.sent).toHaveLength(2);
  });

  it("keys stages only by the layer and head they depend on, in the protocol's one key format", () => {
    const key = (...a: Parameters<typeof stageRequest>) => requestKey(stageRequest(...a));
    expect(key("preemb_sum_emb", 3, 2, false, false)).toBe("stage|preemb_sum_emb|0|0");
    expect(key("addnorm1_add_hidden", 3, 2, true, false)).toBe(key("addnorm1_add_hidden", 3, 9, true, false));
    expect(key("selfattn_qkt_hidden", 3, 2, true, true)).not.toBe(key("selfattn_qkt_hidden", 3, 1, true, true));
    expect(requestKey({ what: "row", layer: 1, head: 2, query: 3 })).toBe("row|1|2|3");
    expect(requestKey({ what: "layer", variant: "raw", layer: 3 })).toBe("layer|raw|3");
  });

  it("evicts the least recently used payload beyond its byte budget", async () => {
    const meta = makeMeta();
    const m = new FakeModel({ meta });
    m.responder = responderFor(meta);
    const client = new DataClient(m, { budgetBytes: 2 * 3 * 5 * 5 * 2 }); // two raw layers
    await client.layer("raw", 0);
    await client.layer("raw", 1);
    client.peekLayer("raw", 0);
    await client.layer("nosep", 0);
    expect(client.peekLayer("raw", 1)).toBeUndefined();
    expect(client.peekLayer("raw", 0)).toBeDefined();
  });

  it("stops listening and rejects pending requests on dispose", async () => {
    const m = new FakeModel();
    const client = new DataClient(m);
    const p = client.layer("raw", 0);
    expect(m.listenerCount("msg:custom")).toBe(1);
    client.dispose();
    expect(m.listenerCount("msg:custom")).toBe(0);
    await expect(p).rejects.toThrow(/closed/);
    await settle();
  });
});
