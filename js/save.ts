// "Save as PNG / SVG" for a heatmap: the map with its row and column labels, title and colour bar, as a file.

import { type Palette, cssColor, lutIndex } from "./colors";
import { formatValue } from "./view";

export interface HeatmapFigure {
  name: string;
  title: string;
  labels: string[];
  /** m×m values, row-major. */
  values: Float32Array;
  m: number;
  range: [number, number];
  palette: Palette;
  /** Signed values (a comparison's difference): the diverging ramp, as the map on screen. */
  signed?: boolean;
}

const CELL_MAX = 24;
const FONT = "11px sans-serif";

/** Where everything goes in the figure: cells of `cell` px after a `left` × `top` margin. */
export function figureGeometry(m: number, labelWidth: number): { cell: number; left: number; top: number; width: number; height: number } {
  const cell = Math.max(2, Math.min(CELL_MAX, Math.floor(640 / Math.max(1, m))));
  const left = Math.ceil(labelWidth) + 12;
  const top = 28 + Math.ceil(labelWidth) + 8;
  return { cell, left, top, width: left + m * cell + 16, height: top + m * cell + 44 };
}

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

function colour(f: HeatmapFigure, v: number): string {
  const rgba = f.signed ? f.palette.divergingRGBA : f.palette.sequentialRGBA;
  const k = lutIndex(v, f.range[0], f.range[1], rgba.length / 4) * 4;
  return `rgb(${rgba[k]}, ${rgba[k + 1]}, ${rgba[k + 2]})`;
}

/** The figure as an SVG document: one rect per cell, labels as text (escaped), a colour bar with its range. */
export function heatmapSvg(f: HeatmapFigure): string {
  const labelWidth = Math.min(120, 7 * Math.max(1, ...f.labels.map((l) => l.length)));
  const g = figureGeometry(f.m, labelWidth);
  const fg = cssColor(f.palette.foreground);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${g.width}" height="${g.height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="${cssColor(f.palette.background)}"/>`,
    `<text x="4" y="16" fill="${fg}" font-weight="bold">${escapeXml(f.title)}</text>`,
  ];
  for (let i = 0; i < f.m; i++) {
    const y = g.top + (i + 0.5) * g.cell;
    const x = g.left + (i + 0.5) * g.cell;
    out.push(`<text x="${g.left - 4}" y="${y + 4}" text-anchor="end" fill="${fg}">${escapeXml(f.labels[i] ?? "")}</text>`);
    out.push(`<text transform="translate(${x + 4} ${g.top - 4}) rotate(-90)" fill="${fg}">${escapeXml(f.labels[i] ?? "")}</text>`);
    for (let j = 0; j < f.m; j++) {
      const v = f.values[i * f.m + j]!;
      out.push(`<rect x="${g.left + j * g.cell}" y="${g.top + i * g.cell}" width="${g.cell}" height="${g.cell}" fill="${colour(f, v)}"><title>${escapeXml(`${f.labels[i]} → ${f.labels[j]}: ${formatValue(v)}`)}</title></rect>`);
    }
  }
  const by = g.top + f.m * g.cell + 14;
  for (let x = 0; x < 120; x++) {
    const v = f.range[0] + ((x + 0.5) / 120) * (f.range[1] - f.range[0]);
    out.push(`<rect x="${g.left + x}" y="${by}" width="1" height="10" fill="${colour(f, v)}"/>`);
  }
  out.push(`<text x="${g.left - 4}" y="${by + 9}" text-anchor="end" fill="${fg}">${formatValue(f.range[0])}</text>`);
  out.push(`<text x="${g.left + 124}" y="${by + 9}" fill="${fg}">${formatValue(f.range[1])}</text>`);
  out.push("</svg>");
  return out.join("\n");
}

/** The figure drawn on a canvas (for PNG). */
export function heatmapCanvas(f: HeatmapFigure): HTMLCanvasElement {
  const canvas = document.createElement("canvas");
  const probe = canvas.getContext("2d");
  if (!probe) return canvas;
  probe.font = FONT;
  const labelWidth = Math.min(120, Math.max(10, ...f.labels.map((l) => probe.measureText(l).width)));
  const g = figureGeometry(f.m, labelWidth);
  canvas.width = g.width;
  canvas.height = g.height;
  const c = canvas.getContext("2d")!;
  c.fillStyle = cssColor(f.palette.background);
  c.fillRect(0, 0, g.width, g.height);
  c.fillStyle = cssColor(f.palette.foreground);
  c.font = `bold ${FONT}`;
  c.fillText(f.title, 4, 16);
  c.font = FONT;
  for (let i = 0; i < f.m; i++) {
    c.fillStyle = cssColor(f.palette.foreground);
    c.textAlign = "right";
    c.fillText(f.labels[i] ?? "", g.left - 4, g.top + (i + 0.5) * g.cell + 4, labelWidth);
    c.save();
    c.translate(g.left + (i + 0.5) * g.cell + 4, g.top - 4);
    c.rotate(-Math.PI / 2);
    c.textAlign = "left";
    c.fillText(f.labels[i] ?? "", 0, 0, labelWidth);
    c.restore();
    for (let j = 0; j < f.m; j++) {
      c.fillStyle = colour(f, f.values[i * f.m + j]!);
      c.fillRect(g.left + j * g.cell, g.top + i * g.cell, g.cell, g.cell);
    }
  }
  const by = g.top + f.m * g.cell + 14;
  for (let x = 0; x < 120; x++) {
    c.fillStyle = colour(f, f.range[0] + ((x + 0.5) / 120) * (f.range[1] - f.range[0]));
    c.fillRect(g.left + x, by, 1, 10);
  }
  c.fillStyle = cssColor(f.palette.foreground);
  c.textAlign = "right";
  c.fillText(formatValue(f.range[0]), g.left - 4, by + 9);
  c.textAlign = "left";
  c.fillText(formatValue(f.range[1]), g.left + 124, by + 9);
  return canvas;
}

function download(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.rel = "noopener";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Saves the figure as `<name>.png` or `<name>.svg` (the browser's download). */
export function saveHeatmap(kind: "png" | "svg", f: HeatmapFigure): void {
  if (kind === "svg") {
    download(new Blob([heatmapSvg(f)], { type: "image/svg+xml" }), `${f.name}.svg`);
    return;
  }
  heatmapCanvas(f).toBlob((blob) => {
    if (blob) download(blob, `${f.name}.png`);
  }, "image/png");
}
