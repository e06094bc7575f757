// Running the widget without Jupyter: an in-page model backed by plain JSON state and an answer function.

import { ablationPageAnswer } from "./ablation";
import { requestKey } from "./client";
import { type ComparePack, comparePageAnswer } from "./compare";
import { PackData, type Manifest, type PackText } from "./pack";
import type { Handler, WidgetModel } from "./types";
import widget from "./widget";

export interface Answer {
  content: Record<string, unknown>;
  buffers?: Array<ArrayBuffer | ArrayBufferView>;
}

/** Answers one request (`{type, id, what, ...}`); null or a throw becomes an error reply. */
export type AnswerFn = (request: Record<string, unknown>) => Answer | null | undefined | Promise<Answer | null | undefined>;

export interface StandaloneModel extends WidgetModel {
  readonly state: Record<string, unknown>;
  /** How many times save_changes was called (nothing to save to, but pages and tests may look). */
  saves: number;
}

function asDataView(buffer: ArrayBuffer | ArrayBufferView): DataView {
  if (buffer instanceof ArrayBuffer) return new DataView(buffer);
  return new DataView(buffer.buffer as ArrayBuffer, buffer.byteOffset, buffer.byteLength);
}

/** A model with get/set/on/off/save_changes/send over `state`; replies come from `answer`. */
export function createStandaloneModel(state: Record<string, unknown>, answer: AnswerFn): StandaloneModel {
  const handlers = new Map<string, Set<Handler>>();
  const emit = (event: string, ...args: unknown[]) => {
    for (const fn of [...(handlers.get(event) ?? [])]) fn(...args);
  };
  const model: StandaloneModel = {
    state,
    saves: 0,
    get: (name) => state[name],
    set(name, value) {
      if (state[name] === value) return;
      state[name] = value;
      emit(`change:${name}`, model, value);
      emit("change", model);
    },
    on(event, fn) {
      for (const e of event.split(/\s+/)) {
        if (!handlers.has(e)) handlers.set(e, new Set());
        handlers.get(e)!.add(fn);
      }
    },
    off(event, fn) {
      if (!event) {
        if (!fn) handlers.clear();
        else for (const set of handlers.values()) set.delete(fn);
        return;
      }
      for (const e of event.split(/\s+/)) {
        if (fn) handlers.get(e)?.delete(fn);
        else handlers.delete(e);
      }
    },
    save_changes() {
      model.saves++;
    },
    send(content) {
      const request = (content ?? {}) as Record<string, unknown>;
      Promise.resolve()
        .then(() => answer(request))
        .then(
          (reply) => {
            if (!reply) {
              emit("msg:custom", { type: "error", id: request.id, message: `no data for this ${String(request.what)} request in this page` }, []);
              return;
            }
            if (typeof reply.content.error === "string") {  // a precomputed answer that is an error (export.py)
              emit("msg:custom", { type: "error", id: request.id, message: reply.content.error }, []);
              return;
            }
            emit("msg:custom", { type: "reply", ...reply.content, id: request.id }, (reply.buffers ?? []).map(asDataView));
          },
          (err: unknown) => {
            emit("msg:custom", { type: "error", id: request.id, message: err instanceof Error ? err.message : String(err) }, []);
          },
        );
    },
  };
  return model;
}

/** Bytes of a base64 string (for replies embedded in a page). */
export function fromBase64(text: string): ArrayBuffer {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

export { requestKey };

/** An answer function over precomputed replies: `{key: {content, buffers: [base64, ...]}}`. */
export function answerFromTable(table: Record<string, { content: Record<string, unknown>; buffers?: string[] }>): AnswerFn {
  return (request) => {
    const entry = table[requestKey(request)];
    return entry ? { content: entry.content, buffers: (entry.buffers ?? []).map(fromBase64) } : null;
  };
}

/** Renders the widget into `el` from `state` (the traits) and `answer`; returns the cleanup. */
export function mount(el: HTMLElement, state: Record<string, unknown>, answer: AnswerFn): () => void {
  const model = createStandaloneModel(state, answer);
  const stopInitialize = widget.initialize({ model });
  const stopRender = widget.render({ model, el });
  return () => {
    stopRender();
    stopInitialize();
  };
}

/** The exported page: the widget over the page's pack (transeasy_widget/export.py). */
export function mountPage(el: HTMLElement, state: Record<string, unknown>, manifest: Manifest, text: PackText): () => void {
  const meta = state.meta as { tokens?: string[] } | undefined;
  const held = manifest.stage_layers ?? [];
  const pack = new PackData(manifest, text, meta?.tokens ?? [], (what) =>
    `${what} is not in this page (it holds the stage tensors of layers ${held.join(", ") || "none"}): ` +
    "export it again with --layers (layers= in Python) naming this layer.");
  const compare = (manifest as { compare?: ComparePack }).compare;
  const b = (meta as { compare?: { b?: { tokens?: string[] } } } | undefined)?.compare?.b;
  // a comparison's page (tw.compare): b's pack and the differences beside a's
  const data = compare ? comparePageAnswer(pack, compare, b?.tokens ?? []) : (request: Record<string, unknown>) => pack.answer(request);
  // the ablations computed before export (ablation.py): their effects, or a message saying they were not
  const ablations = ablationPageAnswer((manifest as { ablations?: Record<string, Record<string, unknown>> }).ablations);
  return mount(el, state, (request) => (request.what === "ablation" ? ablations(request) : data(request)));
}

/**
 * The texts of a page's pack, element `${prefix}${part}`, read once each. The page's boot runs while the
 * document is still parsing: a part not parsed yet is read once the document is.
 */
export function pageTexts(prefix: string): (part: number) => Promise<string> {
  const texts = new Map<number, Promise<string>>();
  const parsed = new Promise<void>((resolve) => {
    if (document.readyState !== "loading") resolve();
    else document.addEventListener("DOMContentLoaded", () => resolve(), { once: true });
  });
  return (part) => {
    let hit = texts.get(part);
    if (!hit) {
      // part 0 comes before the boot script, so it is whole; a later part may still be parsing
      const ready = part === 0 ? Promise.resolve() : parsed;
      hit = ready.then(() => document.getElementById(`${prefix}${part}`)?.textContent ?? "");
      texts.set(part, hit);
    }
    return hit;
  };
}
