/**
 * The workspace as this page knows it (docs/workspaces.md): kept in step with the engine by
 * `workspace.updated`, read again after each reconnect. It also carries the view settings both
 * ways: the traffic view reports a change (sent after a pause, so a burst of clicks is one
 * report), and applies the workspace's settings when another workspace has been opened.
 */
import type { ViewSettings, WorkspaceState } from '../../../shared/contract';
import type { Session } from './session.svelte';
import { writeViewPrefs } from './tab-state';

/** A burst of view changes is reported once, this long after the last. */
const VIEW_REPORT_DELAY_MS = 500;

export class WorkspaceStore {
  state = $state.raw<WorkspaceState | null>(null);
  /**
   * Bumped when a workspace has been opened (lastOpen.at changed after the first answer):
   * views then take its settings.
   */
  openedCount = $state(0);
  private reportTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly session: Session) {
    // The session lives as long as the page, and so does this store: never unsubscribed.
    session.api.on('workspace.updated', (state) => this.take(state));
  }

  async refresh(): Promise<void> {
    const result = await this.session.invoke('workspace.get', {});
    if (result.ok) this.take(result.value);
  }

  /** Whatever answer is newest: a save, an open or an event. */
  take(state: WorkspaceState): void {
    const before = this.state;
    this.state = state;
    const openedAt = state.lastOpen?.at ?? null;
    if (before !== null && openedAt !== null && openedAt !== (before.lastOpen?.at ?? null)) {
      // Views mounted later read the tab's prefs: they start from the workspace's too.
      writeViewPrefs(state.view);
      this.openedCount += 1;
    }
  }

  /**
   * The view settings a tab with none of its own starts from: the workspace's, once one was
   * opened from a file (a fresh engine's default workspace leaves each tab its own defaults).
   */
  get openedView(): ViewSettings | undefined {
    const state = this.state;
    if (!state?.lastOpen || state.lastOpen.error !== null) return undefined;
    return state.view;
  }

  /** The user changed how traffic is shown: the workspace keeps it (after a pause). */
  reportView(view: ViewSettings): void {
    const held = this.state?.view;
    if (!held) return;
    const same =
      held.mode === view.mode &&
      held.decoding === view.decoding &&
      held.timestamps === view.timestamps;
    if (this.reportTimer !== null) clearTimeout(this.reportTimer);
    this.reportTimer = null;
    if (same) return;
    this.reportTimer = setTimeout(() => {
      this.reportTimer = null;
      void this.session.invoke('workspace.save', { view }).then((result) => {
        if (result.ok) this.state = result.value;
      });
    }, VIEW_REPORT_DELAY_MS);
  }
}

const stores = new WeakMap<Session, WorkspaceStore>();

export function workspaceStore(session: Session): WorkspaceStore {
  let store = stores.get(session);
  if (!store) {
    store = new WorkspaceStore(session);
    stores.set(session, store);
  }
  return store;
}
