import { describe, expect, it } from 'vitest';
import { Deque } from '../../src/main/engine/deque';

describe('Deque', () => {
  it('shifts in the order items were pushed', () => {
    const queue = new Deque<number>();
    expect(queue.length).toBe(0);
    expect(queue.shift()).toBeUndefined();
    for (let i = 0; i < 5; i++) queue.push(i);
    expect(queue.length).toBe(5);
    expect(queue.shift()).toBe(0);
    expect(queue.shift()).toBe(1);
    expect(queue.length).toBe(3);
    expect([...queue]).toEqual([2, 3, 4]);
  });

  it('indexes from the front, undefined outside it', () => {
    const queue = new Deque<string>();
    queue.push('a');
    queue.push('b');
    queue.push('c');
    queue.shift();
    expect(queue.at(0)).toBe('b');
    expect(queue.at(1)).toBe('c');
    expect(queue.at(2)).toBeUndefined();
    expect(queue.at(-1)).toBeUndefined();
  });

  it('keeps order and indexes across compaction', () => {
    const queue = new Deque<number>(4);
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < 3; i++) queue.push(next++);
      for (let i = 0; i < 2; i++) expect(queue.shift()).toBe(expected++);
      expect(queue.length).toBe(next - expected);
      expect(queue.at(0)).toBe(expected);
      expect(queue.at(queue.length - 1)).toBe(next - 1);
    }
    expect([...queue]).toEqual(Array.from({ length: next - expected }, (_, i) => expected + i));
  });

  it('retains only accepted items, in order', () => {
    const queue = new Deque<number>();
    for (let i = 0; i < 10; i++) queue.push(i);
    queue.shift();
    queue.retain((n) => n % 2 === 0);
    expect([...queue]).toEqual([2, 4, 6, 8]);
    expect(queue.at(0)).toBe(2);
    queue.push(10);
    expect(queue.length).toBe(5);
  });

  it('clears', () => {
    const queue = new Deque<number>();
    queue.push(1);
    queue.push(2);
    queue.shift();
    queue.clear();
    expect(queue.length).toBe(0);
    expect(queue.shift()).toBeUndefined();
    expect([...queue]).toEqual([]);
  });
});
