// Pure geometry: label thinning, pixel → index hit tests, sizes of the heatmap, overview and arcs.

/** Every k-th label keeps labels at least `minPx` apart when items are `pxPerItem` apart. */
export function labelStep(pxPerItem: number, minPx = 12): number {
  if (!(pxPerItem > 0)) return Number.MAX_SAFE_INTEGER;
  return Math.max(1, Math.ceil(minPx / pxPerItem));
}

/** Indices of the labels to draw: every k-th, always starting at 0. */
export function thinnedIndices(n: number, pxPerItem: number, minPx = 12): number[] {
  const step = labelStep(pxPerItem, minPx);
  const out: number[] = [];
  for (let i = 0; i < n; i += step) out.push(i);
  return out;
}

/** The item under a pixel coordinate when `n` items share `size` pixels; -1 outside. */
export function indexAt(pos: number, size: number, n: number): number {
  if (!(size > 0) || n <= 0 || pos < 0 || pos >= size) return -1;
  return Math.min(n - 1, Math.floor((pos / size) * n));
}

/** The cell under (x, y) of a `rows` × `cols` grid drawn at width × height; null outside. */
export function cellAt(
  x: number,
  y: number,
  width: number,
  height: number,
  rows: number,
  cols: number,
): { row: number; col: number } | null {
  const row = indexAt(y, height, rows);
  const col = indexAt(x, width, cols);
  return row < 0 || col < 0 ? null : { row, col };
}

/** Side of the heatmap in CSS pixels: fills the space given, at least 1 px per cell, at most 36 px per cell. */
export function heatmapSide(m: number, available: number): number {
  const target = Math.max(200, Math.min(560, available));
  if (m <= 0) return target;
  const cell = Math.min(36, Math.max(1, target / m));
  return Math.round(cell * m);
}

/** First index whose segment differs from the one before (a sentence pair's boundary); -1 when none. */
export function segmentBoundary(segments: readonly number[]): number {
  for (let i = 1; i < segments.length; i++) if (segments[i] !== segments[i - 1]) return i;
  return -1;
}

export interface OverviewGeometry {
  layers: number;
  heads: number;
  thumb: number;
  gap: number;
  width: number;
  height: number;
}

/** The overview canvas: layers are rows, heads are columns, `gap` pixels between thumbnails. */
export function overviewGeometry(layers: number, heads: number, thumb: number, gap = 2): OverviewGeometry {
  return {
    layers,
    heads,
    thumb,
    gap,
    width: Math.max(1, heads * (thumb + gap) - gap),
    height: Math.max(1, layers * (thumb + gap) - gap),
  };
}

/** Top-left pixel of a thumbnail. */
export function thumbOrigin(g: OverviewGeometry, layer: number, head: number): [number, number] {
  return [head * (g.thumb + g.gap), layer * (g.thumb + g.gap)];
}

/** The (layer, head) under a canvas pixel (gaps belong to the thumbnail before them); null outside. */
export function overviewHit(g: OverviewGeometry, x: number, y: number): { layer: number; head: number } | null {
  if (x < 0 || y < 0 || x >= g.width || y >= g.height) return null;
  const pitch = g.thumb + g.gap;
  return { layer: Math.min(g.layers - 1, Math.floor(y / pitch)), head: Math.min(g.heads - 1, Math.floor(x / pitch)) };
}

export interface ArcsGeometry {
  m: number;
  rowHeight: number;
  width: number;
  labelWidth: number;
  top: number;
  contentHeight: number;
}

/** Two columns of m rows; rows shrink to 13 px on long inputs so the column scrolls. */
export function arcsGeometry(m: number, width: number): ArcsGeometry {
  const rowHeight = m <= 24 ? 22 : m <= 64 ? 16 : 13;
  const labelWidth = Math.min(120, Math.max(60, Math.round(width * 0.28)));
  const top = 6;
  return { m, rowHeight, width, labelWidth, top, contentHeight: top * 2 + m * rowHeight };
}

/** Vertical centre of row i in content coordinates. */
export function arcsRowY(g: ArcsGeometry, i: number): number {
  return g.top + (i + 0.5) * g.rowHeight;
}

/** Row under a content y coordinate; -1 outside. */
export function arcsRowAt(g: ArcsGeometry, y: number): number {
  return indexAt(y - g.top, g.m * g.rowHeight, g.m);
}

/** Rows [first, last] visible in a viewport at scrollTop of height viewport (content coordinates). */
export function visibleRows(g: ArcsGeometry, scrollTop: number, viewport: number): [number, number] {
  const first = Math.max(0, Math.floor((scrollTop - g.top) / g.rowHeight));
  const last = Math.min(g.m - 1, Math.ceil((scrollTop + viewport - g.top) / g.rowHeight));
  return [first, Math.max(first, last)];
}

/** The largest a clamped index can be, for selectors and keyboard moves. */
export function clampIndex(i: number, n: number): number {
  if (n <= 0) return 0;
  return Math.max(0, Math.min(n - 1, Math.trunc(i)));
}
