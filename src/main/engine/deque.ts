/**
 * A first-in, first-out queue over an array with a moving head: shift() is O(1) because it only
 * advances the head, and the array drops its consumed front once that is most of it (so a long
 * run of shifts costs amortised O(1) each, not a copy per shift as Array.prototype.shift may).
 */
export class Deque<T> {
  private items: T[] = [];
  private head = 0;

  /** compactAfter: how many consumed slots may sit at the front before they are dropped. */
  constructor(private readonly compactAfter = 1024) {}

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** The `i`th item from the front (0: the oldest), or undefined past the end. */
  at(i: number): T | undefined {
    return i >= 0 && i < this.length ? this.items[this.head + i] : undefined;
  }

  /** Removes and returns the oldest item, or undefined when empty. */
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head] as T;
    // Let go of the item now: the slot may not be dropped for a while.
    this.items[this.head] = undefined as T;
    this.head += 1;
    if (this.head > this.compactAfter && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Keeps only the items `keep` accepts, in order. */
  retain(keep: (item: T) => boolean): void {
    this.items = this.items.slice(this.head).filter(keep);
    this.head = 0;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i] as T;
  }
}
