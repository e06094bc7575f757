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

/**
 * Side of the heatmap in CSS pixels: fills the space given (160 … 440 px), at most 36 px per cell; a long input
 * gets cells under a pixel (the browser averages them) rather than a map wider than the cell.
 */
export function heatmapSide(m: number, available: number): number {
  const target = Math.max(160, Math.min(440, available));
  if (m <= 0) return target;
  const cell = Math.min(36, target / m);
  return Math.round(cell * m);
}

/** Widths of the fixed parts around the maps (CSS px), shared by the views and the layout below. */
export const HEATMAP_ROW_LABELS = 64;
export const HEATMAP_COL_LABELS = 56;
export const OVERVIEW_ROW_LABELS = 20;
export const PANEL_GAP = 12;
const MIN_SIDE = 200;
const OVERVIEW_MAX_HEIGHT = 440;

export interface MainLayout {
  /** Heatmap side (px). */
  side: number;
  /** Overview thumbnail side (px per head). */
  thumb: number;
  /** Whether the overview sits beside the heatmap (else on its own row above it). */
  beside: boolean;
  /** Width of the arcs view. */
  arcs: number;
}

/**
 * The main views in `width` px: the overview beside the heatmap where its thumbnails get ≥ 14 px (at most 48, as
 * bertviz's model view; beyond that the heatmap needs the room more), the heatmap taking the rest (≥ 200 px);
 * otherwise the overview on its own row, as wide as the widget. The overview is never taller than 440 px.
 */
export function mainLayout(width: number, m: number, layers: number, heads: number, gap = 2): MainLayout {
  const w = Math.max(200, width);
  const byHeight = Math.floor(OVERVIEW_MAX_HEIGHT / Math.max(1, layers)) - gap;
  const fit = (room: number) => Math.min(48, byHeight, Math.floor(room / Math.max(1, heads)) - gap);
  const besideThumb = fit(w - HEATMAP_ROW_LABELS - MIN_SIDE - PANEL_GAP - OVERVIEW_ROW_LABELS);
  const arcs = Math.min(380, w);
  if (besideThumb >= 14) {
    const overviewWidth = OVERVIEW_ROW_LABELS + heads * (besideThumb + gap) - gap;
    const side = heatmapSide(m, w - overviewWidth - PANEL_GAP - HEATMAP_ROW_LABELS - 4);
    return { side, thumb: besideThumb, beside: true, arcs };
  }
  const thumb = Math.max(4, fit(w - OVERVIEW_ROW_LABELS));
  return { side: heatmapSide(m, Math.min(360, w - HEATMAP_ROW_LABELS - 4)), thumb, beside: false, arcs };
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
  const rowHeight = arcsRowHeight(m);
  const labelWidth = Math.min(120, Math.max(60, Math.round(width * 0.28)));
  const top = 6;
  return { m, rowHeight, width, labelWidth, top, contentHeight: top * 2 + m * rowHeight };
}

/** Height of one arcs row: 18 px for a sentence, 13 px for a long input (the column scrolls). */
export function arcsRowHeight(m: number): number {
  return m <= 24 ? 18 : m <= 64 ? 15 : 13;
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
