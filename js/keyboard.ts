// Keyboard on the focused widget root: arrows move layer (up/down) and head (left/right); keys stay in the widget.

import type { SelectionStore } from "./store";

/** The selection change an arrow key asks for, or null for other keys. */
export function arrowMove(key: string): { layer: number; head: number } | null {
  switch (key) {
    case "ArrowUp":
      return { layer: -1, head: 0 };
    case "ArrowDown":
      return { layer: 1, head: 0 };
    case "ArrowLeft":
      return { layer: 0, head: -1 };
    case "ArrowRight":
      return { layer: 0, head: 1 };
    default:
      return null;
  }
}

/** Keys the notebook must still see while the widget has focus (run cell, shortcuts with modifiers). */
function passThrough(event: KeyboardEvent): boolean {
  return event.ctrlKey || event.metaKey || event.altKey || (event.shiftKey && event.key === "Enter");
}

/** A keydown handler for the root; returns the handler so the caller can remove it. */
export function keyHandler(root: HTMLElement, store: SelectionStore): (event: KeyboardEvent) => void {
  return (event: KeyboardEvent) => {
    if (!passThrough(event)) event.stopPropagation();
    if (event.target !== root || event.ctrlKey || event.metaKey || event.altKey) return;
    const move = arrowMove(event.key);
    if (move) {
      event.preventDefault();
      const { layer, head } = store.selection;
      store.select({ layer: layer + move.layer, head: head + move.head });
    } else if (event.key === "Escape") {
      store.select({ token: -1 });
    }
  };
}

/** Stops the other key events of the widget from reaching the notebook too. */
export function keyShield(event: KeyboardEvent): void {
  if (!passThrough(event)) event.stopPropagation();
}
