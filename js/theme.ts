// The widget's palette read from the computed JupyterLab theme, re-read when the theme changes.

import { type Palette, type RGB, paletteFor, parseColor } from "./colors";

const LIGHT_BG: RGB = [255, 255, 255];
const LIGHT_FG: RGB = [34, 34, 34];

/** The palette for the colours an element actually shows (its own or its nearest opaque ancestor's background). */
export function readPalette(el: HTMLElement): Palette {
  let background: RGB | null = null;
  let node: HTMLElement | null = el;
  while (node && !background) {
    background = parseColor(getComputedStyle(node).backgroundColor);
    node = node.parentElement;
  }
  const bg = background ?? LIGHT_BG;
  const fg = parseColor(getComputedStyle(el).color) ?? LIGHT_FG;
  return paletteFor(bg, fg);
}

/** Watches for theme switches (JupyterLab sets data-jp-theme-* on <body>) and calls back with a new palette. */
export class ThemeWatch {
  palette: Palette;
  private listeners = new Set<(p: Palette) => void>();
  private observer: MutationObserver | null = null;
  private media: MediaQueryList | null = null;
  private onMedia = () => this.refresh();

  constructor(private el: HTMLElement) {
    this.palette = readPalette(el);
    if (typeof MutationObserver !== "undefined" && document.body) {
      this.observer = new MutationObserver(() => this.refresh());
      this.observer.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name", "class"] });
    }
    if (typeof matchMedia === "function") {
      this.media = matchMedia("(prefers-color-scheme: dark)");
      this.media.addEventListener?.("change", this.onMedia);
    }
  }

  subscribe(fn: (p: Palette) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Re-reads the colours; listeners hear only of a real change. */
  refresh(): void {
    const next = readPalette(this.el);
    const same =
      next.background.every((v, i) => v === this.palette.background[i]) &&
      next.foreground.every((v, i) => v === this.palette.foreground[i]);
    if (same) return;
    this.palette = next;
    for (const fn of this.listeners) fn(next);
  }

  dispose(): void {
    this.observer?.disconnect();
    this.media?.removeEventListener?.("change", this.onMedia);
    this.listeners.clear();
  }
}
