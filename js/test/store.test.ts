import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SelectionStore } from "../store";
import { FakeModel, makeMeta } from "./fakeModel";

function model(extra: Record<string, unknown> = {}): FakeModel {
  return new FakeModel({
    layer: 0, head: 0, token: -1, variant: "raw", arcs_all_heads: false, stage: "",
    meta: makeMeta({ layers: 6, heads: 12, stages: [{ name: "preemb_sum_emb", group: "preemb" }] }),
    ...extra,
  });
}

describe("SelectionStore", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("reads the traits and follows Python's changes", () => {
    const m = model({ layer: 2 });
    const store = new SelectionStore(m);
    expect(store.selection.layer).toBe(2);
    const seen: string[] = [];
    store.subscribe((s, changed) => seen.push(`${[...changed].join()}=${s.layer}/${s.head}`));
    m.pythonSet("layer", 4);
    m.pythonSet("head", 7);
    expect(seen).toEqual(["layer=4/0", "head=4/7"]);
    expect(m.saves).toBe(0);
  });

  it("writes a user action with set and save_changes at once", () => {
    const m = model();
    const store = new SelectionStore(m);
    store.select({ layer: 3, head: 5 });
    expect(m.sets).toEqual([["layer", 3], ["head", 5]]);
    expect(m.saves).toBe(1);
    expect(store.selection).toMatchObject({ layer: 3, head: 5 });
  });

  it("clamps to valid values and drops unknown variants and stages", () => {
    const m = model();
    const store = new SelectionStore(m);
    store.select({ layer: 99, head: -4, variant: "bogus", stage: "nope" });
    expect(m.state).toMatchObject({ layer: 5, head: 0, variant: "raw", stage: "" });
    store.select({ token: 17 });
    expect(m.state.token).toBe(4);
  });

  it("does not save when nothing changed", () => {
    const m = model();
    new SelectionStore(m).select({ layer: 0, head: 0 });
    expect(m.saves).toBe(0);
  });

  it("resets the token before switching variant", () => {
    const m = model({ token: 4 });
    const store = new SelectionStore(m);
    store.select({ variant: "nosep" });
    expect(m.sets).toEqual([["token", -1], ["variant", "nosep"]]);
    expect(store.m).toBe(3);
  });

  it("debounces hover saves: many hovers, one save after 60 ms of calm", () => {
    const m = model();
    const store = new SelectionStore(m, 60);
    const tokens: number[] = [];
    store.subscribe((s) => tokens.push(s.token));
    store.hoverToken(1);
    vi.advanceTimersByTime(30);
    store.hoverToken(2);
    vi.advanceTimersByTime(30);
    store.hoverToken(3);
    expect(tokens).toEqual([1, 2, 3]); // every view moves at once
    expect(m.saves).toBe(0);
    vi.advanceTimersByTime(59);
    expect(m.saves).toBe(0);
    vi.advanceTimersByTime(1);
    expect(m.saves).toBe(1);
    expect(m.state.token).toBe(3);
  });

  it("returns to the pinned token when the pointer leaves", () => {
    const m = model();
    const store = new SelectionStore(m);
    store.pinToken(2);
    store.hoverToken(4);
    store.leaveToken();
    expect(m.state.token).toBe(2);
    store.pinToken(2);
    expect(m.state.token).toBe(-1);
  });

  it("treats a token set by Python as pinned", () => {
    const m = model();
    const store = new SelectionStore(m);
    m.pythonSet("token", 3);
    store.hoverToken(1);
    store.leaveToken();
    expect(m.state.token).toBe(3);
  });

  it("saves a pending hover on dispose and stops listening", () => {
    const m = model();
    const store = new SelectionStore(m);
    store.hoverToken(2);
    const before = m.listenerCount();
    store.dispose();
    expect(m.saves).toBe(1);
    expect(m.listenerCount()).toBe(before - 9); // 8 selection traits and meta
    vi.advanceTimersByTime(100);
    expect(m.saves).toBe(1);
  });
});
