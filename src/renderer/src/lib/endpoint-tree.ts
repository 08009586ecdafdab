/**
 * The endpoint tree the sidebar shows, kept up to date one endpoint at a time: listeners, each
 * followed by the connections it accepted, then clients (and connections whose listener is
 * gone), then UDP sockets, each in the order the engine made them.
 *
 * A swarm adds thousands of connections a second, so no change walks every endpoint: adding or
 * updating one is O(1) when it is the newest of its group (the usual case) and O(log n) to find;
 * removals are applied in one pass per group at the next `commit()`. Readers see the tree as of
 * the last commit: a row count, rows by index, and an endpoint's index, each without building a
 * row per endpoint.
 */
import type { EndpointInfo } from '../../../shared/contract';

export type SectionKey = 'sidebar.listeners' | 'sidebar.clients' | 'sidebar.udp';

export type TreeRow =
  | { type: 'heading'; key: SectionKey }
  | {
      type: 'row';
      endpoint: EndpointInfo;
      level: number;
      /** Position among its siblings, from 1, and how many siblings there are (ARIA). */
      posinset: number;
      setsize: number;
      /** Listeners with connections are expanded (they always are); other rows have no state. */
      expanded: boolean | undefined;
    };

/** Ids in the order their endpoints were made (createdAt, then arrival). */
class OrderedIds {
  readonly ids: string[] = [];
  /** Removed ids not yet taken out of `ids`. */
  private readonly removed = new Set<string>();

  constructor(private readonly before: (a: string, b: string) => boolean) {}

  insert(id: string): void {
    const last = this.ids.at(-1);
    if (last === undefined || !this.before(id, last)) this.ids.push(id);
    else this.ids.splice(this.lowerBound(id), 0, id);
  }

  remove(id: string): void {
    this.removed.add(id);
  }

  /** An id removed since the last compaction is back: true when it was still here. */
  restore(id: string): boolean {
    return this.removed.delete(id);
  }

  /** Takes removed ids out, telling `forget` each. */
  compact(forget: (id: string) => void): void {
    if (this.removed.size === 0) return;
    let kept = 0;
    for (const id of this.ids) {
      if (this.removed.has(id)) forget(id);
      else this.ids[kept++] = id;
    }
    this.ids.length = kept;
    this.removed.clear();
  }

  reset(): void {
    this.ids.length = 0;
    this.removed.clear();
  }

  /** Where `id` is, or -1; valid once compacted. */
  indexOf(id: string): number {
    const at = this.lowerBound(id);
    return this.ids[at] === id ? at : -1;
  }

  private lowerBound(id: string): number {
    let low = 0;
    let high = this.ids.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.before(this.ids[mid] as string, id)) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}

/**
 * A run of consecutive rows as of the last commit: a section heading, one listener, the
 * connections of one listener, or a flat list (clients, UDP sockets, orphaned connections).
 */
interface Segment {
  start: number;
  count: number;
  kind: 'heading' | 'list';
  key?: SectionKey;
  group?: OrderedIds;
  /** For a list: the index in `group` of its first row. */
  from: number;
  level: number;
  /** For a list: the position of its first row among its siblings, and their number. */
  firstPos: number;
  setsize: number;
  /** For a listener row: whether it has connections. */
  expanded?: boolean;
}

export class EndpointTree {
  private readonly byId = new Map<string, EndpointInfo>();
  /**
   * Each id's place in the order: when it was made, and when it arrived here (for endpoints
   * made in the same millisecond). Kept until its group is compacted, after a removal too, so
   * the order stays searchable in between.
   */
  private readonly keys = new Map<string, { createdAt: number; arrival: number }>();
  private arrivals = 0;
  private readonly before = (a: string, b: string): boolean => {
    const ka = this.keys.get(a);
    const kb = this.keys.get(b);
    const ca = ka?.createdAt ?? 0;
    const cb = kb?.createdAt ?? 0;
    if (ca !== cb) return ca < cb;
    return (ka?.arrival ?? 0) < (kb?.arrival ?? 0);
  };
  private readonly forgetKey = (id: string): void => {
    if (!this.byId.has(id)) this.keys.delete(id);
  };
  private readonly listeners = new OrderedIds(this.before);
  private readonly clients = new OrderedIds(this.before);
  private readonly udp = new OrderedIds(this.before);
  /** Accepted connections by the id of the listener that accepted them. */
  private readonly children = new Map<string, OrderedIds>();

  private segments: Segment[] = [];
  /** Where each listener's row segment is, and each children or flat group's, as committed. */
  private segmentOfGroup = new Map<OrderedIds, Segment>();
  private segmentOfListener = new Map<string, Segment>();
  private committedRows = 0;
  private committedHeadings: number[] = [];

  get size(): number {
    return this.byId.size;
  }

  get(id: string): EndpointInfo | undefined {
    return this.byId.get(id);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** Adds an endpoint, or replaces the record of one already here. */
  upsert(info: EndpointInfo): void {
    const known = this.byId.has(info.id);
    this.byId.set(info.id, info);
    if (known) return;
    const group = this.groupOf(info, true);
    // Removed and back before the removal was applied: it still has its place.
    if (group?.restore(info.id)) return;
    this.keys.set(info.id, { createdAt: info.createdAt, arrival: this.arrivals++ });
    group?.insert(info.id);
  }

  remove(id: string): void {
    const info = this.byId.get(id);
    if (!info) return;
    this.groupOf(info, false)?.remove(id);
    this.byId.delete(id);
  }

  clear(): void {
    this.byId.clear();
    this.keys.clear();
    for (const group of [this.listeners, this.clients, this.udp]) group.reset();
    this.children.clear();
    this.commit();
  }

  /** Applies the changes since the last commit to what readers see. O(listeners + groups). */
  commit(): void {
    for (const group of [this.listeners, this.clients, this.udp]) group.compact(this.forgetKey);
    for (const [parentId, group] of this.children) {
      group.compact(this.forgetKey);
      if (group.ids.length === 0) this.children.delete(parentId);
    }
    const segments: Segment[] = [];
    const headings: number[] = [];
    let row = 0;
    const heading = (key: SectionKey): void => {
      headings.push(row);
      segments.push({
        start: row++,
        count: 1,
        kind: 'heading',
        key,
        from: 0,
        level: 0,
        firstPos: 0,
        setsize: 0,
      });
    };
    const list = (group: OrderedIds, level: number, firstPos: number, setsize: number): Segment => {
      const segment: Segment = {
        start: row,
        count: group.ids.length,
        kind: 'list',
        group,
        from: 0,
        level,
        firstPos,
        setsize,
      };
      segments.push(segment);
      row += segment.count;
      return segment;
    };
    const segmentOfGroup = new Map<OrderedIds, Segment>();
    const segmentOfListener = new Map<string, Segment>();

    const listenerIds = this.listeners.ids;
    if (listenerIds.length > 0) {
      heading('sidebar.listeners');
      listenerIds.forEach((id, index) => {
        const nested = this.children.get(id);
        const segment: Segment = {
          start: row++,
          count: 1,
          kind: 'list',
          group: this.listeners,
          from: index,
          level: 1,
          firstPos: index + 1,
          setsize: listenerIds.length,
          expanded: nested !== undefined && nested.ids.length > 0 ? true : undefined,
        };
        segments.push(segment);
        segmentOfListener.set(id, segment);
        if (nested) segmentOfGroup.set(nested, list(nested, 2, 1, nested.ids.length));
      });
    }
    // A connection whose listener was forgotten still belongs somewhere visible.
    const orphans: OrderedIds[] = [];
    for (const [parentId, group] of this.children) {
      if (!this.byId.has(parentId) || this.byId.get(parentId)?.role !== 'listener') {
        orphans.push(group);
      }
    }
    const clientRows = this.clients.ids.length + orphans.reduce((n, g) => n + g.ids.length, 0);
    if (clientRows > 0) {
      heading('sidebar.clients');
      let position = 1;
      for (const group of [this.clients, ...orphans]) {
        if (group.ids.length === 0) continue;
        segmentOfGroup.set(group, list(group, 1, position, clientRows));
        position += group.ids.length;
      }
    }
    if (this.udp.ids.length > 0) {
      heading('sidebar.udp');
      segmentOfGroup.set(this.udp, list(this.udp, 1, 1, this.udp.ids.length));
    }
    this.segments = segments;
    this.segmentOfGroup = segmentOfGroup;
    this.segmentOfListener = segmentOfListener;
    this.committedRows = row;
    this.committedHeadings = headings;
  }

  /** Rows (headings included) as of the last commit. */
  get rowCount(): number {
    return this.committedRows;
  }

  /** Indexes of the section headings (at most three), ascending. */
  get headingIndexes(): readonly number[] {
    return this.committedHeadings;
  }

  /** The row at `index`, or undefined past the end. O(log segments). */
  rowAt(index: number): TreeRow | undefined {
    const segment = this.segmentAt(index);
    if (!segment) return undefined;
    if (segment.kind === 'heading') return { type: 'heading', key: segment.key as SectionKey };
    const offset = index - segment.start;
    const id = segment.group?.ids[segment.from + offset];
    const endpoint = id === undefined ? undefined : this.byId.get(id);
    if (!endpoint) return undefined;
    return {
      type: 'row',
      endpoint,
      level: segment.level,
      posinset: segment.firstPos + offset,
      setsize: segment.setsize,
      expanded: segment.expanded,
    };
  }

  /** The index of an endpoint's row, or undefined when it has none. O(log n). */
  indexOf(id: string): number | undefined {
    const info = this.byId.get(id);
    if (!info) return undefined;
    const listenerRow = this.segmentOfListener.get(id);
    if (listenerRow) return listenerRow.start;
    const group = this.groupOf(info, false);
    const segment = group && this.segmentOfGroup.get(group);
    if (!group || !segment) return undefined;
    const at = group.indexOf(id);
    return at >= 0 && at < segment.count ? segment.start + at : undefined;
  }

  /** Accepted connections of a listener, oldest first. O(its connections). */
  childrenOf(listenerId: string): EndpointInfo[] {
    const ids = this.children.get(listenerId)?.ids ?? [];
    const out: EndpointInfo[] = [];
    for (const id of ids) {
      const info = this.byId.get(id);
      if (info) out.push(info);
    }
    return out;
  }

  /** Every endpoint, oldest first. O(n log n): for actions, not for rendering. */
  ordered(): EndpointInfo[] {
    return [...this.byId.values()].sort((a, b) =>
      this.before(a.id, b.id) ? -1 : this.before(b.id, a.id) ? 1 : 0,
    );
  }

  private segmentAt(index: number): Segment | undefined {
    if (index < 0 || index >= this.committedRows) return undefined;
    let low = 0;
    let high = this.segments.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >>> 1;
      if ((this.segments[mid] as Segment).start <= index) low = mid;
      else high = mid - 1;
    }
    const segment = this.segments[low];
    return segment && index < segment.start + segment.count ? segment : undefined;
  }

  private groupOf(info: EndpointInfo, create: boolean): OrderedIds | undefined {
    if (info.role === 'listener') return this.listeners;
    if (info.role === 'client') return this.clients;
    if (info.role === 'udp') return this.udp;
    if (info.parentId === null) return this.clients;
    let group = this.children.get(info.parentId);
    if (!group && create) {
      group = new OrderedIds(this.before);
      this.children.set(info.parentId, group);
    }
    return group;
  }
}
