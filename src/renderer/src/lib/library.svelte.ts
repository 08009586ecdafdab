/**
 * The payload library as this page knows it: one store per session, kept in step with the
 * engine by `library.changed` (sent to every page, so two tabs agree), and the send that puts a
 * saved payload on the composer's target with the composer's own commands.
 */
import type { LibraryItem, PayloadSpec, SendTarget } from '../../../shared/contract';
import type { UserError } from '../../../shared/errors';
import type { Session } from './session.svelte';

export class LibraryStore {
  items = $state.raw<LibraryItem[]>([]);
  /** Why the engine could not use the library file (it started empty), if it could not. */
  problem = $state.raw<UserError | null>(null);
  loaded = $state(false);
  /** The library section is open: remembered while the user moves between endpoints. */
  open = $state(false);
  /** Bumped by each change event, so an older list answer never overwrites a newer change. */
  private changes = 0;
  private loading: Promise<UserError | null> | null = null;

  constructor(private readonly session: Session) {
    // The session lives as long as the page, and so does this store: never unsubscribed.
    session.api.on('library.changed', ({ items }) => {
      this.changes += 1;
      this.items = items;
      this.loaded = true;
      // The engine may have set a bad file aside on this change: its notice says where now.
      if (this.problem) void this.refresh();
    });
  }

  /** Reads the list from the engine (first use, and after a reconnect). */
  refresh(): Promise<UserError | null> {
    this.loading ??= this.load().finally(() => (this.loading = null));
    return this.loading;
  }

  private async load(): Promise<UserError | null> {
    const before = this.changes;
    const result = await this.session.invoke('library.list', {});
    if (!result.ok) return result.error;
    if (this.changes === before) this.items = result.value.items;
    this.problem = result.value.problem;
    this.loaded = true;
    return null;
  }
}

const stores = new WeakMap<Session, LibraryStore>();

export function libraryStore(session: Session): LibraryStore {
  let store = stores.get(session);
  if (!store) {
    store = new LibraryStore(session);
    stores.set(session, store);
  }
  return store;
}

export type SendOutcome =
  { ok: true; bytes: number; connections?: number } | { ok: false; error: UserError };

/** Sends a payload the way the composer's Send does for the same target. */
export async function sendToTarget(
  session: Session,
  target: SendTarget,
  payload: PayloadSpec,
): Promise<SendOutcome> {
  switch (target.kind) {
    case 'connection': {
      const result = await session.invoke('connection.send', { id: target.id, payload });
      return result.ok ? { ok: true, bytes: result.value.bytes } : result;
    }
    case 'broadcast': {
      const result = await session.invoke('listener.broadcast', { id: target.id, payload });
      if (!result.ok) return result;
      return { ok: true, bytes: result.value.bytes, connections: result.value.connections };
    }
    case 'datagram': {
      const { id, host, port } = target;
      const result = await session.invoke('udp.send', { id, host, port, payload });
      return result.ok ? { ok: true, bytes: result.value.bytes } : result;
    }
  }
}
