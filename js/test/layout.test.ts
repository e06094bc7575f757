import { describe, expect, it } from "vitest";
import {
  arcsGeometry,
  arcsRowAt,
  arcsRowY,
  cellAt,
  clampIndex,
  heatmapSide,
  mainLayout,
  indexAt,
  labelStep,
  overviewGeometry,
  overviewHit,
  segmentBoundary,
  thinnedIndices,
  thumbOrigin,
  visibleRows,
} from "../layout";

describe("label thinning", () => {
  it("keeps every label when they fit", () => {
    expect(thinnedIndices(11, 36)).toHaveLength(11);
    expect(labelStep(12)).toBe(1);
  });

  it("shows at most one label per 12 px at 512 tokens on 512 px", () => {
    const shown = thinnedIndices(512, 1, 12);
    expect(shown.length).toBeLessThanOrEqual(Math.ceil(512 / 12));
    expect(shown.length).toBeGreaterThan(30);
    expect(shown[0]).toBe(0);
    expect(shown[1]).toBe(12);
  });
});

describe("hit tests", () => {
  it("maps pixels to indices, -1 outside", () => {
    expect(indexAt(0, 512, 512)).toBe(0);
    expect(indexAt(511.9, 512, 512)).toBe(511);
    expect(indexAt(256, 512, 512)).toBe(256);
    expect(indexAt(100, 400, 11)).toBe(2);
    expect(indexAt(-1, 400, 11)).toBe(-1);
    expect(indexAt(400, 400, 11)).toBe(-1);
  });

  it("finds the cell under the pointer", () => {
    expect(cellAt(10, 300, 480, 480, 512, 512)).toEqual({ row: 320, col: 10 });
    expect(cellAt(500, 10, 480, 480, 512, 512)).toBeNull();
  });

  it("sizes the heatmap to the space, at most 36 px per cell", () => {
    expect(heatmapSide(11, 480)).toBe(396);
    expect(heatmapSide(512, 480)).toBe(440); // under a pixel per cell, not wider than the space
    expect(heatmapSide(20, 480)).toBe(440);
    expect(heatmapSide(20, 300)).toBe(300);
  });

  it("finds a sentence pair's boundary", () => {
    expect(segmentBoundary([0, 0, 0, 1, 1])).toBe(3);
    expect(segmentBoundary([0, 0, 0])).toBe(-1);
  });

  it("places and hits overview thumbnails", () => {
    const g = overviewGeometry(12, 12, 24, 2);
    expect(g.width).toBe(12 * 26 - 2);
    expect(thumbOrigin(g, 3, 5)).toEqual([130, 78]);
    expect(overviewHit(g, 130, 78)).toEqual({ layer: 3, head: 5 });
    expect(overviewHit(g, 155, 101)).toEqual({ layer: 3, head: 5 });
    expect(overviewHit(g, g.width, 0)).toBeNull();
  });

  it("lays the arcs out in rows and finds the visible ones", () => {
    const g = arcsGeometry(512, 340);
    expect(arcsRowAt(g, arcsRowY(g, 200))).toBe(200);
    const [first, last] = visibleRows(g, 100 * g.rowHeight, 560);
    expect(first).toBe(99);
    expect(last - first).toBeLessThan(50);
    expect(arcsGeometry(11, 340).rowHeight).toBeGreaterThan(g.rowHeight);
  });

  it("clamps indices", () => {
    expect(clampIndex(-1, 6)).toBe(0);
    expect(clampIndex(9, 6)).toBe(5);
    expect(clampIndex(3, 0)).toBe(0);
  });
});

describe("main layout", () => {
  it("puts 48 px thumbnails beside the heatmap on a 1,000 px cell (MiniLM: 6 layers × 12 heads)", () => {
    const l = mainLayout(904, 13, 6, 12);
    expect(l.beside).toBe(true);
    expect(l.thumb).toBe(48);
    expect(l.side).toBeGreaterThanOrEqual(200);
    // everything fits the width: overview, gap, heatmap labels and map
    expect(20 + 12 * 50 - 2 + 12 + 64 + l.side).toBeLessThanOrEqual(904);
  });

  it("shrinks the thumbnails on JupyterLab's 668 px cell and stacks the overview only when they would be tiny", () => {
    const narrow = mainLayout(574, 13, 6, 12);
    expect(narrow.beside).toBe(true);
    expect(narrow.thumb).toBeGreaterThanOrEqual(14);
    const half = mainLayout(420, 13, 6, 12); // a widget in half of an HBox
    expect(half.beside).toBe(false);
    expect(20 + 12 * (half.thumb + 2) - 2).toBeLessThanOrEqual(420);
    expect(half.side + 64).toBeLessThanOrEqual(420);
  });

  it("keeps a 12-layer overview under 440 px tall", () => {
    const l = mainLayout(1400, 13, 12, 12);
    expect(12 * (l.thumb + 2)).toBeLessThanOrEqual(440);
  });
});
