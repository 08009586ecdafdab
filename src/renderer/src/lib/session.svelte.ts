/**
 * What the UI knows about the engine: every endpoint, which one is selected, and whether the
 * transport is up. Endpoint records arrive as whole snapshots (`endpoint.updated`) and are
 * replaced, never mutated, in a plain tree (endpoint-tree.ts) that the UI reads through
 * `version`: a swarm adds thousands a second, and the changes of each frame are published in
 * one step whose cost does not grow with the number of endpoints. Traffic bytes bypass reactive
 * state entirely: a view opens a feed (`session.feeds`) and writes straight into its terminal.
 */
import { getContext, setContext } from 'svelte';
import type { UserError } from '../../../shared/errors';
import type {
  CommandInput,
  CommandName,
  CommandResult,
  EndpointInfo,
  EngineStatus,
} from '../../../shared/contract';
import { EndpointTree } from './endpoint-tree';
import { Feeds } from './feed';
import { readSelected, writeSelected } from './tab-state';
import type { Transport, TransportStatus } from './transport';

/** Reactive list updates are coalesced to one per frame: counters change on every flush. */
const PUBLISH_DELAY_MS = 16;
/**
 * During a burst (a swarm connecting: more changes in one publish than a person could read),
 * the list is published ~10 times a second instead: each publish re-lays out the tree, and the
 * listener's count itself only changes every 250 ms (the engine's UPDATE_INTERVAL_MS).
 */
const BURST_CHANGES = 64;
const BURST_PUBLISH_DELAY_MS = 100;

export class Session {
  /** The endpoints as of the last publish; read `version` (or the getters below) to follow it. */
  readonly tree = new EndpointTree();
  /** Increases at each publish of the tree. */
  version = $state(0);
  selectedId = $state<string | null>(null);
  status = $state.raw<TransportStatus>({ state: 'connecting' });
  /** True once the first snapshot has arrived, so an empty list means "nothing open". */
  ready = $state(false);
  /**
   * Increases every time state was rebuilt from a snapshot (first load, reconnect). Live data may
   * have been missed in between, so open views re-read their capture when it changes.
   */
  epoch = $state(0);
  lastError = $state.raw<string | null>(null);
  engineStatus = $state.raw<EngineStatus | null>(null);

  readonly selected = $derived.by(() => {
    void this.version;
    return this.selectedId === null ? null : (this.tree.get(this.selectedId) ?? null);
  });

  /** Live data: every view that follows an endpoint opens a feed here. */
  readonly feeds: Feeds;

  private publishTimer: ReturnType<typeof setTimeout> | undefined;
  /** Changes since the last publish, and whether that publish carried a burst. */
  private changesPending = 0;
  private inBurst = false;
  /** The endpoint this tab had selected before a reload: selected again once the snapshot has it. */
  private restoreId: string | null = readSelected();

  constructor(readonly api: Transport) {
    // The session lives as long as the page, so these subscriptions are never undone.
    api.on('endpoint.added', (info) => this.upsert(info));
    api.on('endpoint.updated', (info) => this.upsert(info));
    api.on('endpoint.removed', ({ id }) => this.remove(id));
    this.feeds = new Feeds(api);
    api.on('engine.status', (status) => (this.engineStatus = status));
    api.onStatus((status) => {
      this.status = status;
      if (status.state === 'open') void this.resync();
    });
  }

  invoke<C extends CommandName>(command: C, input: CommandInput<C>): Promise<CommandResult<C>> {
    return this.api.invoke(command, input);
  }

  /** Selects an endpoint (or none); the tab remembers it across a reload. */
  select(id: string | null): void {
    this.selectedId = id;
    this.restoreId = null;
    writeSelected(id);
  }

  /** Commands that create an endpoint answer with it; show it before its event arrives. */
  adopt(info: EndpointInfo): void {
    // Over IPC, results and events take different channels: an event already seen is newer.
    if (this.tree.has(info.id)) return;
    this.upsert(info);
    this.publishNow();
  }

  /** The answer of a command that opens an endpoint: select the new one, or give back the error. */
  showOpened(result: { ok: true; value: EndpointInfo } | { ok: false; error: UserError }) {
    if (!result.ok) return result.error;
    this.adopt(result.value);
    this.select(result.value.id);
    return null;
  }

  /** Every endpoint, oldest first. O(n log n) each publish it is read in: not for rendering. */
  get endpoints(): EndpointInfo[] {
    void this.version;
    return this.tree.ordered();
  }

  /** Accepted connections of a listener, oldest first. */
  childrenOf(listenerId: string): EndpointInfo[] {
    void this.version;
    return this.tree.childrenOf(listenerId);
  }

  /**
   * Rebuilds the list from the engine's snapshot, fetched page by page. Each page is applied as
   * it arrives, before awaiting the next: an event that arrived before a page is older than it,
   * and one that arrives after it is newer, so neither order loses an update or a removal.
   */
  async resync(): Promise<void> {
    let cursor: number | undefined;
    let first = true;
    do {
      const result = await this.api.invoke('session.snapshot', { cursor });
      if (!result.ok) {
        this.lastError = result.error.message;
        return;
      }
      if (first) this.tree.clear();
      first = false;
      for (const info of result.value.endpoints) this.tree.upsert(info);
      this.publishNow();
      cursor = result.value.nextCursor;
    } while (cursor !== undefined);
    this.lastError = null;
    const restore = this.restoreId;
    this.restoreId = null;
    // After a reload: the endpoint this tab showed, if the engine still has it.
    if (restore !== null && this.selectedId === null && this.tree.has(restore))
      this.select(restore);
    if (this.selectedId !== null && !this.tree.has(this.selectedId)) this.select(null);
    if (restore !== null && this.selectedId === null) writeSelected(null);
    this.ready = true;
    this.epoch += 1;
    const status = await this.api.invoke('engine.status', {});
    if (status.ok) this.engineStatus = status.value;
  }

  private upsert(info: EndpointInfo): void {
    this.tree.upsert(info);
    this.schedulePublish();
  }

  private remove(id: string): void {
    this.tree.remove(id);
    if (this.selectedId === id) this.select(null);
    this.schedulePublish();
  }

  private schedulePublish(): void {
    this.changesPending += 1;
    this.publishTimer ??= setTimeout(
      () => this.publishNow(),
      this.inBurst ? BURST_PUBLISH_DELAY_MS : PUBLISH_DELAY_MS,
    );
  }

  private publishNow(): void {
    clearTimeout(this.publishTimer);
    this.publishTimer = undefined;
    this.inBurst = this.changesPending >= BURST_CHANGES;
    this.changesPending = 0;
    this.tree.commit();
    this.version += 1;
  }
}

const KEY = Symbol('session');

export function provideSession(session: Session): void {
  setContext(KEY, session);
}

export function useSession(): Session {
  const session = getContext<Session | undefined>(KEY);
  if (!session) throw new Error('useSession() outside <App>');
  return session;
}
