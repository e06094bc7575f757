// Colour scales for the canvases: sequential (attention, low end = theme background) and diverging (signed, centre = background).

export type RGB = readonly [number, number, number];

export const LUT_SIZE = 256;
/** Odd, so that one entry sits exactly on zero. */
export const DIVERGING_SIZE = 255;

/** Parses `#rgb`, `#rrggbb`, `#rrggbbaa`, `rgb(...)` and `rgba(...)`; null when unknown or fully transparent. */
export function parseColor(text: string | null | undefined): RGB | null {
  if (!text) return null;
  const s = text.trim().toLowerCase();
  let m = /^#([0-9a-f]{3,8})$/.exec(s);
  if (m) {
    const hex = m[1]!;
    if (hex.length === 3) return [0, 1, 2].map((i) => parseInt(hex[i]! + hex[i]!, 16)) as unknown as RGB;
    if (hex.length === 6 || hex.length === 8) {
      if (hex.length === 8 && parseInt(hex.slice(6, 8), 16) === 0) return null;
      return [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16)) as unknown as RGB;
    }
    return null;
  }
  m = /^rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)(?:[\s,/]+([\d.]+%?))?\s*\)$/.exec(s);
  if (m) {
    const alpha = m[4] === undefined ? 1 : m[4].endsWith("%") ? parseFloat(m[4]) / 100 : parseFloat(m[4]);
    if (alpha === 0) return null;
    return [Number(m[1]), Number(m[2]), Number(m[3])].map((v) => Math.max(0, Math.min(255, Math.round(v)))) as unknown as RGB;
  }
  if (s === "white") return [255, 255, 255];
  if (s === "black") return [0, 0, 0];
  return null;
}

/** Relative luminance (0 black .. 1 white) of an sRGB colour. */
export function luminance(c: RGB): number {
  const lin = (v: number) => {
    const x = v / 255;
    return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
}

export function isDark(background: RGB): boolean {
  return luminance(background) < 0.2;
}

/** `n` RGBA entries interpolated linearly through evenly spaced stops. */
export function rampRGBA(stops: readonly RGB[], n = LUT_SIZE): Uint8ClampedArray {
  const out = new Uint8ClampedArray(n * 4);
  const segments = stops.length - 1;
  for (let i = 0; i < n; i++) {
    const t = n === 1 ? 0 : (i / (n - 1)) * segments;
    const k = Math.min(segments - 1, Math.floor(t));
    const f = segments === 0 ? 0 : t - k;
    const a = stops[Math.max(0, k)]!;
    const b = stops[Math.min(stops.length - 1, k + 1)]!;
    for (let c = 0; c < 3; c++) out[i * 4 + c] = Math.round(a[c]! + (b[c]! - a[c]!) * f);
    out[i * 4 + 3] = 255;
  }
  return out;
}

const hostLittleEndian = new Uint8Array(new Uint32Array([0x0a0b0c0d]).buffer)[0] === 0x0d;

/** One RGBA colour packed as ImageData's Uint32 view expects on this machine. */
export function packRGBA(r: number, g: number, b: number, a = 255): number {
  return hostLittleEndian
    ? ((a << 24) | (b << 16) | (g << 8) | r) >>> 0
    : ((r << 24) | (g << 16) | (b << 8) | a) >>> 0;
}

/** The packed form of an RGBA ramp, for writing into `new Uint32Array(imageData.data.buffer)`. */
export function packRamp(rgba: Uint8ClampedArray): Uint32Array {
  const out = new Uint32Array(rgba.length / 4);
  for (let i = 0; i < out.length; i++) {
    out[i] = packRGBA(rgba[i * 4]!, rgba[i * 4 + 1]!, rgba[i * 4 + 2]!, rgba[i * 4 + 3]!);
  }
  return out;
}

/** Sequential stops from the background to a strong ink: dark blue on light themes, pale yellow on dark ones. */
export function sequentialStops(background: RGB): RGB[] {
  return isDark(background)
    ? [background, [38, 84, 124], [42, 157, 160], [240, 228, 120]]
    : [background, [158, 202, 225], [49, 130, 189], [8, 48, 107]];
}

/** Diverging stops: blue for negative, the background exactly at zero, red for positive. */
export function divergingStops(background: RGB): RGB[] {
  return isDark(background)
    ? [[110, 170, 240], [50, 90, 150], background, [170, 70, 60], [250, 150, 110]]
    : [[5, 48, 97], [103, 169, 207], background, [239, 138, 98], [103, 0, 31]];
}

/**
 * The LUT entry of a value on [lo, hi] (clamped; NaN → the low end): the one mapping every canvas uses
 * (paint.ts fills the same way), so colour bars and cells agree.
 */
export function lutIndex(value: number, lo: number, hi: number, n = LUT_SIZE): number {
  if (!(hi > lo) || Number.isNaN(value)) return 0;
  const i = Math.floor(((value - lo) / (hi - lo)) * n);
  return i < 0 ? 0 : i >= n ? n - 1 : i;
}

/** A distinct colour for head `h` of `count` heads (evenly spaced hues, brighter on dark themes). */
export function headColor(h: number, count: number, dark: boolean): RGB {
  const hue = ((h * 360) / Math.max(1, count) + 10) % 360;
  return hslToRgb(hue, 0.75, dark ? 0.62 : 0.42);
}

export function hslToRgb(hue: number, sat: number, light: number): RGB {
  const c = (1 - Math.abs(2 * light - 1)) * sat;
  const hp = hue / 60;
  const x = c * (1 - Math.abs((hp % 2) - 1));
  const [r, g, b] =
    hp < 1 ? [c, x, 0] : hp < 2 ? [x, c, 0] : hp < 3 ? [0, c, x] : hp < 4 ? [0, x, c] : hp < 5 ? [x, 0, c] : [c, 0, x];
  const m = light - c / 2;
  return [Math.round((r + m) * 255), Math.round((g + m) * 255), Math.round((b + m) * 255)];
}

export function cssColor(c: RGB, alpha = 1): string {
  return alpha >= 1 ? `rgb(${c[0]}, ${c[1]}, ${c[2]})` : `rgba(${c[0]}, ${c[1]}, ${c[2]}, ${alpha})`;
}

/** Everything a view needs to colour its canvases for one theme. */
export interface Palette {
  background: RGB;
  foreground: RGB;
  dark: boolean;
  sequential: Uint32Array;
  sequentialRGBA: Uint8ClampedArray;
  diverging: Uint32Array;
  divergingRGBA: Uint8ClampedArray;
}

export function paletteFor(background: RGB, foreground: RGB): Palette {
  const sequentialRGBA = rampRGBA(sequentialStops(background));
  const divergingRGBA = rampRGBA(divergingStops(background), DIVERGING_SIZE);
  return {
    background,
    foreground,
    dark: isDark(background),
    sequential: packRamp(sequentialRGBA),
    sequentialRGBA,
    diverging: packRamp(divergingRGBA),
    divergingRGBA,
  };
}
