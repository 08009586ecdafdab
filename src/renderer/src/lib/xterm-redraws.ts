/**
 * xterm.js's DOM renderer re-renders every row of the screen whenever its selection service asks
 * for a selection redraw, and the service asks after every scroll, even with nothing selected
 * (xterm.js issue 4633, open upstream). In a flood the terminal scrolls every frame, so every
 * frame rendered the whole screen twice and the page fell behind its frames. This lets through
 * only the redraws that change something: a selection shown, moved or removed.
 *
 * It reaches into xterm's private renderer, so every step is checked: with another shape (another
 * xterm version) nothing is changed, and rendering is as slow as before, never wrong.
 */
import type { Terminal } from '@xterm/xterm';

type CellPosition = [number, number];

interface SelectionRedraws {
  handleSelectionChanged(
    start: CellPosition | undefined,
    end: CellPosition | undefined,
    columnSelectMode: boolean,
  ): void;
}

interface TerminalInternals {
  _core?: { _renderService?: { _renderer?: { value?: Partial<SelectionRedraws> } } };
}

/** Installs the filter on an opened terminal; says whether xterm had the expected shape. */
export function skipEmptySelectionRedraws(terminal: Terminal): boolean {
  const renderer = (terminal as unknown as TerminalInternals)._core?._renderService?._renderer
    ?.value;
  const redraw = renderer?.handleSelectionChanged;
  if (!renderer || typeof redraw !== 'function') return false;
  // Unknown at first: the first redraw always goes through.
  let shownSelection = true;
  renderer.handleSelectionChanged = (start, end, columnSelectMode) => {
    const selection = start !== undefined && end !== undefined;
    if (!selection && !shownSelection) return;
    shownSelection = selection;
    redraw.call(renderer, start, end, columnSelectMode);
  };
  return true;
}
