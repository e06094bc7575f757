// The widget's saved first paint (the `_first_paint` trait, transeasy_widget/widget.py): with it the widget paints
// from the notebook's saved widget state, without a kernel; what it does not hold asks the kernel, or, where no
// kernel is connected, says at once to run the cell.

import type { LocalSource } from "./client";
import { PackData, type Manifest } from "./pack";
import type { Request, WidgetModel } from "./types";

interface Saved {
  manifest?: Manifest;
  data?: string;
}

/**
 * No kernel: the widget manager says so (JupyterLab and Notebook 7 give `kernel: null` to a notebook opened
 * without one). A manager with no `kernel` at all (the HTML manager of nbconvert's pages, and perhaps others) is
 * judged by the model's comm instead (`commDead`), so that a live front end we do not know is never cut off.
 */
export function kernelMissing(model: WidgetModel): boolean {
  const manager = (model as { widget_manager?: unknown }).widget_manager as Record<string, unknown> | undefined;
  if (!manager || typeof manager !== "object") return false; // not a Jupyter front end (tests, the exported page)
  return "kernel" in manager && (manager.kernel === null || manager.kernel === undefined);
}

/**
 * Whether this widget's model has no live comm: a model restored from the notebook's saved state while a kernel
 * runs but the cell has not been run again (JupyterLab, Notebook 7). Its `send` goes nowhere. anywidget hands us a
 * proxy, so the model is found among the manager's by its `_first_paint` (the same object); undefined: unknown.
 */
export async function commDead(model: WidgetModel): Promise<boolean | undefined> {
  const manager = (model as { widget_manager?: { _models?: Record<string, unknown> } }).widget_manager;
  const models = manager?._models;
  const mine = model.get("_first_paint");
  if (!models || typeof models !== "object" || mine === undefined) return undefined;
  for (const pending of Object.values(models)) {
    const m = (await Promise.resolve(pending).catch(() => null)) as
      | { get?: (k: string) => unknown; comm_live?: boolean; comm?: unknown }
      | null;
    if (m && typeof m.get === "function" && m.get("_first_paint") === mine) {
      return m.comm_live === false || m.comm === undefined;
    }
  }
  return undefined;
}

export function firstPaintSource(model: WidgetModel): LocalSource {
  let dead = false;
  void commDead(model).then((v) => {
    dead = v === true;
  });
  let pack: PackData | null = null;
  let seen: unknown = undefined;
  const current = (): PackData | null => {
    const saved = model.get("_first_paint") as Saved | undefined;
    if (saved !== seen) {
      seen = saved;
      const meta = model.get("meta") as { tokens?: string[] } | undefined;
      pack = saved?.manifest && typeof saved.data === "string"
        ? new PackData(saved.manifest, saved.data, meta?.tokens ?? [], () => "not in the saved view")
        : null;
    }
    return pack;
  };
  return {
    answer(request: Request) {
      const p = current();
      const req = request as unknown as Record<string, unknown>;
      return p && p.has(req) ? p.answer(req) : null;
    },
    offline: () => dead || kernelMissing(model),
  };
}
