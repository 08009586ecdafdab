/**
 * What the UI knows about the engine: every endpoint, which one is selected, and whether the
 * transport is up. Endpoint records arrive as whole snapshots (`endpoint.updated`), so they are
 * kept in `$state.raw` and replaced, never mutated. Traffic bytes bypass reactive state
 * entirely: a view opens a feed (`session.feeds`) and writes straight into its terminal.
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
import { Feeds } from './feed';
import { readSelected, writeSelected } from './tab-state';
import type { Transport, TransportStatus } from './transport';

/** Reactive list updates are coalesced to one per frame: counters change on every flush. */
const PUBLISH_DELAY_MS = 16;

export class Session {
  endpoints = $state.raw<EndpointInfo[]>([]);
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

  readonly selected = $derived(this.endpoints.find((e) => e.id === this.selectedId) ?? null);

  /** Live data: every view that follows an endpoint opens a feed here. */
  readonly feeds: Feeds;

  // A plain map on purpose: `endpoints` is what the UI reacts to, published once a frame.
  // eslint-disable-next-line svelte/prefer-svelte-reactivity
  private readonly byId = new Map<string, EndpointInfo>();
  private publishTimer: ReturnType<typeof setTimeout> | undefined;
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
    if (this.byId.has(info.id)) return;
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

  /** Accepted connections of a listener, oldest first. */
  childrenOf(listenerId: string): EndpointInfo[] {
    return this.endpoints.filter((e) => e.parentId === listenerId);
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
      if (first) this.byId.clear();
      first = false;
      for (const info of result.value.endpoints) this.byId.set(info.id, info);
      this.publishNow();
      cursor = result.value.nextCursor;
    } while (cursor !== undefined);
    this.lastError = null;
    const restore = this.restoreId;
    this.restoreId = null;
    // After a reload: the endpoint this tab showed, if the engine still has it.
    if (restore !== null && this.selectedId === null && this.byId.has(restore))
      this.select(restore);
    if (this.selectedId !== null && !this.byId.has(this.selectedId)) this.select(null);
    if (restore !== null && this.selectedId === null) writeSelected(null);
    this.ready = true;
    this.epoch += 1;
    const status = await this.api.invoke('engine.status', {});
    if (status.ok) this.engineStatus = status.value;
  }

  private upsert(info: EndpointInfo): void {
    this.byId.set(info.id, info);
    this.schedulePublish();
  }

  private remove(id: string): void {
    this.byId.delete(id);
    if (this.selectedId === id) this.select(null);
    this.schedulePublish();
  }

  private schedulePublish(): void {
    this.publishTimer ??= setTimeout(() => this.publishNow(), PUBLISH_DELAY_MS);
  }

  private publishNow(): void {
    clearTimeout(this.publishTimer);
    this.publishTimer = undefined;
    this.endpoints = [...this.byId.values()].sort((a, b) => a.createdAt - b.createdAt);
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
