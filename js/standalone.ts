// Running the widget without Jupyter: an in-page model backed by plain JSON state and an answer function.

import { requestKey } from "./client";
import type { Handler, WidgetModel } from "./types";
import { initialize, render } from "./widget";

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
  const stopInitialize = initialize({ model });
  const stopRender = render({ model, el });
  return () => {
    stopRender();
    stopInitialize();
  };
}
