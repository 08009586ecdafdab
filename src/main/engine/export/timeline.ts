/**
 * The order an export writes things in. Each endpoint has its own sequence: its chunks in stream
 * order, and (pcapng) its handshake and teardown at their times. pcapng merges the endpoints'
 * sequences by time; the other formats write one endpoint after another.
 */
import type { RowColumns } from '../capture-reader';

/** A handshake or teardown step of a stream connection, drawn at `at`. */
export interface Control {
  at: number;
  step: 'handshake' | 'syn-only' | 'fin' | 'rst';
  /** Who connects (handshake), or who sends the FIN or RST. */
  side: 'local' | 'remote';
}

export type Item =
  | { kind: 'row'; slot: number; row: number; at: number }
  | { kind: 'control'; slot: number; control: Control; at: number };

/**
 * One endpoint's sequence. `leading` controls (the handshake) come before every row; the others
 * go before the first row captured after them. Times never go backwards within a sequence, so
 * that merging by time keeps each endpoint's own order.
 */
export class SlotSequence {
  private row: number;
  private lead = 0;
  private control = 0;
  private lastAt = -Infinity;

  constructor(
    readonly slot: number,
    private readonly rows: RowColumns,
    /** The rows to go through, [first, end), and which of them to skip. */
    first: number,
    private readonly end: number,
    private readonly wanted: (row: number) => boolean,
    private readonly leading: Control[],
    private readonly controls: Control[],
  ) {
    this.row = first;
    this.skipUnwanted();
  }

  /** The next item's time, or null when the sequence is done. */
  peekAt(): number | null {
    const next = this.nextRaw();
    return next === null ? null : Math.max(this.lastAt, next.at);
  }

  take(): Item | null {
    const next = this.nextRaw();
    if (next === null) return null;
    this.lastAt = Math.max(this.lastAt, next.at);
    if (next.kind === 'row') {
      this.row += 1;
      this.skipUnwanted();
    } else if (this.lead < this.leading.length) this.lead += 1;
    else this.control += 1;
    return { ...next, at: this.lastAt };
  }

  private nextRaw(): Item | null {
    const lead = this.leading[this.lead];
    if (lead) return { kind: 'control', slot: this.slot, control: lead, at: lead.at };
    const control = this.controls[this.control];
    const rowAt = this.row < this.end ? (this.rows.at[this.row] as number) : null;
    if (control && (rowAt === null || control.at < rowAt)) {
      return { kind: 'control', slot: this.slot, control, at: control.at };
    }
    if (rowAt === null) return null;
    return { kind: 'row', slot: this.slot, row: this.row, at: rowAt };
  }

  private skipUnwanted(): void {
    while (this.row < this.end && !this.wanted(this.row)) this.row += 1;
  }
}

/** Items of every sequence, the earliest first (ties: the lower slot). */
export function* mergedByTime(sequences: SlotSequence[]): Generator<Item> {
  const heap: SlotSequence[] = [];
  const keyOf = new Map<SlotSequence, number>();
  const before = (a: SlotSequence, b: SlotSequence) => {
    const ka = keyOf.get(a) as number;
    const kb = keyOf.get(b) as number;
    return ka < kb || (ka === kb && a.slot < b.slot);
  };
  const up = (start: number) => {
    let i = start;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i] as SlotSequence, heap[parent] as SlotSequence)) break;
      [heap[i], heap[parent]] = [heap[parent] as SlotSequence, heap[i] as SlotSequence];
      i = parent;
    }
  };
  const down = (start: number) => {
    let i = start;
    for (;;) {
      const left = i * 2 + 1;
      const right = left + 1;
      let least = i;
      if (left < heap.length && before(heap[left] as SlotSequence, heap[least] as SlotSequence)) {
        least = left;
      }
      if (right < heap.length && before(heap[right] as SlotSequence, heap[least] as SlotSequence)) {
        least = right;
      }
      if (least === i) return;
      [heap[i], heap[least]] = [heap[least] as SlotSequence, heap[i] as SlotSequence];
      i = least;
    }
  };
  for (const sequence of sequences) {
    const at = sequence.peekAt();
    if (at === null) continue;
    keyOf.set(sequence, at);
    heap.push(sequence);
    up(heap.length - 1);
  }
  while (heap.length > 0) {
    const top = heap[0] as SlotSequence;
    yield top.take() as Item;
    const at = top.peekAt();
    if (at === null) {
      const last = heap.pop() as SlotSequence;
      if (heap.length > 0) {
        heap[0] = last;
        down(0);
      }
    } else {
      keyOf.set(top, at);
      down(0);
    }
  }
}

/** Items of every sequence, one sequence after another. */
export function* oneAfterAnother(sequences: SlotSequence[]): Generator<Item> {
  for (const sequence of sequences) {
    for (let item = sequence.take(); item; item = sequence.take()) yield item;
  }
}
