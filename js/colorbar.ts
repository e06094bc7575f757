// The colour bar beside each map: the palette's ramp and the range it spans, written as the numbers the map uses.

import { h } from "./dom";
import { context2d } from "./dom";
import { formatValue } from "./view";

export interface ColorBar {
  el: HTMLElement;
  /** Shows the ramp `rgba` (n RGBA entries, low → high) over [lo, hi], with `what` as the bar's title. */
  set(rgba: Uint8ClampedArray, lo: number, hi: number, what?: string): void;
  hide(): void;
}

export function colorBar(width = 96): ColorBar {
  const el = h("div", "tw-cbar");
  const lo = h("span", "tw-cbar-lo");
  const canvas = h("canvas", "tw-cbar-ramp");
  const mid = h("span", "tw-cbar-mid");
  const hi = h("span", "tw-cbar-hi");
  canvas.width = width;
  canvas.height = 1;
  canvas.style.width = `${width}px`;
  el.append(lo, canvas, hi, mid);
  return {
    el,
    set(rgba, low, high, what = "") {
      el.hidden = false;
      lo.textContent = formatValue(low);
      hi.textContent = formatValue(high);
      // a diverging bar says where its middle (the background colour) is
      mid.textContent = low < 0 && high > 0 ? `(middle ${formatValue((low + high) / 2)})` : "";
      el.title = what;
      const g = context2d(canvas);
      if (!g) return;
      const n = rgba.length / 4;
      const image = g.createImageData(width, 1);
      for (let x = 0; x < width; x++) {
        const k = Math.min(n - 1, Math.floor((x / width) * n)) * 4;
        image.data.set(rgba.subarray(k, k + 4), x * 4);
      }
      g.putImageData(image, 0, 0);
    },
    hide() {
      el.hidden = true;
    },
  };
}
