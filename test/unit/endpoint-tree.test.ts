/**
 * The sidebar's endpoint tree (renderer/src/lib/endpoint-tree.ts): the rows it gives by index
 * must be the flattened tree the sidebar showed before it was kept incrementally: listeners each
 * followed by their connections, then clients (and connections whose listener is gone), then
 * UDP sockets, each oldest first, with ARIA positions.
 */
import { describe, expect, it } from 'vitest';
import type { EndpointInfo } from '../../src/shared/contract';
import { EndpointTree, type TreeRow } from '../../src/renderer/src/lib/endpoint-tree';

function endpoint(
  id: string,
  role: EndpointInfo['role'],
  createdAt: number,
  parentId: string | null = null,
): EndpointInfo {
  return { id, role, createdAt, parentId, state: 'open' } as unknown as EndpointInfo;
}

/** Each row as text: a heading's key, or id@level posinset/setsize (+ when expanded). */
function rows(tree: EndpointTree): string[] {
  const out: string[] = [];
  for (let i = 0; i < tree.rowCount; i++) {
    const row = tree.rowAt(i) as TreeRow;
    out.push(
      row.type === 'heading'
        ? row.key
        : `${row.endpoint.id}@${row.level} ${row.posinset}/${row.setsize}${row.expanded ? '+' : ''}`,
    );
  }
  return out;
}

describe('EndpointTree', () => {
  it('lists listeners with their connections, then clients, then UDP sockets, oldest first', () => {
    const tree = new EndpointTree();
    tree.upsert(endpoint('udp-1', 'udp', 5));
    tree.upsert(endpoint('lst-2', 'listener', 2));
    tree.upsert(endpoint('conn-3', 'accepted', 3, 'lst-1'));
    tree.upsert(endpoint('lst-1', 'listener', 1));
    tree.upsert(endpoint('conn-4', 'client', 4));
    tree.upsert(endpoint('conn-6', 'accepted', 6, 'lst-1'));
    tree.commit();
    expect(rows(tree)).toEqual([
      'sidebar.listeners',
      'lst-1@1 1/2+',
      'conn-3@2 1/2',
      'conn-6@2 2/2',
      'lst-2@1 2/2',
      'sidebar.clients',
      'conn-4@1 1/1',
      'sidebar.udp',
      'udp-1@1 1/1',
    ]);
    expect(tree.headingIndexes).toEqual([0, 5, 7]);
    expect(tree.indexOf('conn-6')).toBe(3);
    expect(tree.indexOf('lst-2')).toBe(4);
    expect(tree.indexOf('udp-1')).toBe(8);
    expect(tree.rowAt(9)).toBeUndefined();
    expect(tree.childrenOf('lst-1').map((e) => e.id)).toEqual(['conn-3', 'conn-6']);
  });

  it('shows changes only once committed, and applies removals then', () => {
    const tree = new EndpointTree();
    tree.upsert(endpoint('lst-1', 'listener', 1));
    tree.commit();
    tree.upsert(endpoint('conn-2', 'accepted', 2, 'lst-1'));
    expect(rows(tree)).toEqual(['sidebar.listeners', 'lst-1@1 1/1']);
    tree.commit();
    expect(rows(tree)).toEqual(['sidebar.listeners', 'lst-1@1 1/1+', 'conn-2@2 1/1']);
    tree.remove('conn-2');
    tree.commit();
    expect(rows(tree)).toEqual(['sidebar.listeners', 'lst-1@1 1/1']);
    expect(tree.indexOf('conn-2')).toBeUndefined();
    expect(tree.has('conn-2')).toBe(false);
  });

  it('replaces a record without moving its row', () => {
    const tree = new EndpointTree();
    tree.upsert(endpoint('conn-1', 'client', 1));
    tree.upsert(endpoint('conn-2', 'client', 2));
    tree.commit();
    const closed = { ...endpoint('conn-1', 'client', 1), state: 'closed' } as EndpointInfo;
    tree.upsert(closed);
    tree.commit();
    expect(rows(tree)).toEqual(['sidebar.clients', 'conn-1@1 1/2', 'conn-2@1 2/2']);
    expect((tree.rowAt(1) as TreeRow & { type: 'row' }).endpoint).toBe(closed);
  });

  it('puts a connection made earlier than the newest in its place', () => {
    const tree = new EndpointTree();
    for (const at of [10, 30, 20, 5, 30])
      tree.upsert(endpoint(`c-${at}-${tree.size}`, 'client', at));
    tree.commit();
    expect(
      rows(tree)
        .slice(1)
        .map((row) => row.split('@')[0]),
    ).toEqual(['c-5-3', 'c-10-0', 'c-20-2', 'c-30-1', 'c-30-4']);
    expect(tree.indexOf('c-20-2')).toBe(3);
  });

  it('keeps connections whose listener is gone, under clients after the clients', () => {
    const tree = new EndpointTree();
    tree.upsert(endpoint('lst-1', 'listener', 1));
    tree.upsert(endpoint('conn-2', 'accepted', 2, 'lst-1'));
    tree.upsert(endpoint('conn-3', 'client', 3));
    tree.remove('lst-1');
    tree.commit();
    expect(rows(tree)).toEqual(['sidebar.clients', 'conn-3@1 1/2', 'conn-2@1 2/2']);
    expect(tree.indexOf('conn-2')).toBe(2);
  });

  it('keeps one row for an endpoint removed and added again before a commit', () => {
    const tree = new EndpointTree();
    tree.upsert(endpoint('conn-1', 'client', 1));
    tree.commit();
    tree.remove('conn-1');
    tree.upsert(endpoint('conn-1', 'client', 1));
    tree.commit();
    expect(rows(tree)).toEqual(['sidebar.clients', 'conn-1@1 1/1']);
  });

  it('holds ten thousand connections of one listener and finds any of them', () => {
    const tree = new EndpointTree();
    tree.upsert(endpoint('lst-1', 'listener', 1));
    for (let i = 0; i < 10_000; i++) {
      tree.upsert(endpoint(`conn-${i}`, 'accepted', 2 + i / 7, 'lst-1'));
      if (i % 997 === 0) tree.commit();
    }
    tree.commit();
    expect(tree.rowCount).toBe(10_002);
    expect(tree.indexOf('conn-9999')).toBe(10_001);
    expect(rows(tree)[5001]).toBe('conn-4999@2 5000/10000');
    for (let i = 0; i < 10_000; i += 2) tree.remove(`conn-${i}`);
    tree.commit();
    expect(tree.rowCount).toBe(5_002);
    expect(tree.indexOf('conn-9999')).toBe(5_001);
    expect(tree.rowAt(2)).toMatchObject({ posinset: 1, setsize: 5000 });
  });

  it('starts over on clear', () => {
    const tree = new EndpointTree();
    tree.upsert(endpoint('lst-1', 'listener', 1));
    tree.upsert(endpoint('conn-2', 'accepted', 2, 'lst-1'));
    tree.commit();
    tree.clear();
    expect(tree.rowCount).toBe(0);
    tree.upsert(endpoint('conn-2', 'accepted', 2, 'lst-1'));
    tree.commit();
    expect(rows(tree)).toEqual(['sidebar.clients', 'conn-2@1 1/1']);
  });
});
