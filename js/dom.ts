// DOM building blocks for the views: elements with text, listener/observer/frame bookkeeping, the tooltip.

/** A new element with a class and, optionally, text (always through textContent). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Removes every child of a node. */
export function clear(node: Element): void {
  while (node.firstChild) node.removeChild(node.firstChild);
}

/** Keeps track of what a view registered so that one call undoes all of it. */
export class Disposer {
  private undo: Array<() => void> = [];

  listen<E extends Event>(
    target: EventTarget,
    type: string,
    handler: (event: E) => void,
    options?: AddEventListenerOptions,
  ): void {
    const fn = handler as EventListener;
    target.addEventListener(type, fn, options);
    this.undo.push(() => target.removeEventListener(type, fn, options));
  }

  /** A ResizeObserver on `target` (nothing where the environment has none). */
  observeResize(target: Element, callback: () => void): void {
    if (typeof ResizeObserver === "undefined") return;
    const observer = new ResizeObserver(() => callback());
    observer.observe(target);
    this.undo.push(() => observer.disconnect());
  }

  add(fn: () => void): void {
    this.undo.push(fn);
  }

  dispose(): void {
    const fns = this.undo.splice(0).reverse();
    for (const fn of fns) {
      try {
        fn();
      } catch (err) {
        console.error("transeasy-widget: cleanup failed", err);
      }
    }
  }
}

/** Coalesces work into animation frames, one pending frame per key; cancels them all on dispose. */
export class Frames {
  private pending = new Map<string, number>();
  private disposed = false;

  request(key: string, fn: () => void): void {
    if (this.disposed || this.pending.has(key)) return;
    const run = () => {
      this.pending.delete(key);
      if (!this.disposed) fn();
    };
    const id = typeof requestAnimationFrame === "function" ? requestAnimationFrame(run) : (setTimeout(run, 0) as unknown as number);
    this.pending.set(key, id);
  }

  dispose(): void {
    this.disposed = true;
    for (const id of this.pending.values()) {
      if (typeof cancelAnimationFrame === "function") cancelAnimationFrame(id);
      clearTimeout(id);
    }
    this.pending.clear();
  }
}

/** One floating tooltip per widget root, positioned next to the pointer. */
export class Tooltip {
  readonly el: HTMLDivElement;

  constructor(private root: HTMLElement) {
    this.el = h("div", "tw-tooltip");
    this.el.setAttribute("role", "tooltip");
    this.el.hidden = true;
    root.appendChild(this.el);
  }

  show(text: string, clientX: number, clientY: number): void {
    this.el.textContent = text;
    this.el.hidden = false;
    const box = this.root.getBoundingClientRect();
    const x = clientX - box.left + 14;
    const y = clientY - box.top + 14;
    const maxX = Math.max(0, this.root.clientWidth - (this.el.offsetWidth || 0) - 4);
    this.el.style.left = `${Math.min(x, maxX > 0 ? maxX : x)}px`;
    this.el.style.top = `${y}px`;
  }

  hide(): void {
    this.el.hidden = true;
  }
}

/** A 2-D context, or null where the environment has no canvas (jsdom, happy-dom). */
export function context2d(canvas: HTMLCanvasElement): CanvasRenderingContext2D | null {
  try {
    return canvas.getContext("2d");
  } catch {
    return null;
  }
}

/** Pointer position relative to an element's box. */
export function localPoint(event: MouseEvent, target: Element): { x: number; y: number; width: number; height: number } {
  const box = target.getBoundingClientRect();
  return { x: event.clientX - box.left, y: event.clientY - box.top, width: box.width, height: box.height };
}
