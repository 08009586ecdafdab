/**
 * The workspace in use (docs/workspaces.md): what the user opened, the endpoints' rules, the
 * payload library and the view settings, saved to one JSON file a second after each change and
 * opened again on the next start. Opening a workspace closes what is open and opens what it
 * holds through the same engine methods the commands use.
 *
 * Saves, opens and settings changes run one at a time (a promise chain), so an autosave never
 * writes a half-opened workspace.
 */
import { dirname, join, resolve } from 'node:path';
import {
  viewSettingsSchema,
  WORKSPACE_FORMAT,
  WORKSPACE_VERSION,
  workspaceEndpointSchema,
  type EndpointInfo,
  type ValidInput,
  type ViewSettings,
  type Workspace,
  type WorkspaceEndpoint,
  type WorkspaceState,
} from '../../shared/contract';
import { formatHostPort } from '../../shared/domain';
import { hostExposure } from '../../shared/host-exposure';
import { isErrorCode, WorkbenchError, type UserError } from '../../shared/errors';
import { serializeLibrary } from './payload-library';
import { sameStamp, stampOf, writeFileAtomically, type FileStamp } from './data-file';
import {
  checkOverwritable,
  readWorkspaceFile,
  serializeWorkspace,
  workspacePath,
} from './workspace-file';
import {
  defaultWorkspaceSettings,
  readWorkspaceSettings,
  withRecent,
  WORKSPACE_FILE_NAME,
  writeWorkspaceSettings,
  type WorkspaceSettings,
} from './workspace-settings';

/** How long after a change the workspace is saved: changes in between are saved together. */
export const AUTOSAVE_DELAY_MS = 1000;

/** The command that opened a top-level endpoint, and its input: what reopens it. */
export interface EndpointOrigin {
  open: WorkspaceEndpoint['open'];
  /** The command's input as the engine got it (completed by the schema when saved). */
  input: object;
}

type WorkspaceReport = NonNullable<WorkspaceState['lastOpen']>;

/** What the workspace needs of the engine. */
export interface WorkspaceEngine {
  listenTcp(input: ValidInput<'tcp.listen'>): Promise<EndpointInfo>;
  connectTcp(input: ValidInput<'tcp.connect'>): Promise<EndpointInfo>;
  listenUnix(input: ValidInput<'unix.listen'>): Promise<EndpointInfo>;
  connectUnix(input: ValidInput<'unix.connect'>): Promise<EndpointInfo>;
  bindUdp(input: ValidInput<'udp.bind'>): Promise<EndpointInfo>;
  info(id: string): EndpointInfo;
  /** Top-level endpoints still listed that a command opened, oldest first. */
  endpointOrigins(): Array<{ id: string; origin: EndpointOrigin }>;
  /** Stops every job, listener, client and UDP socket (before another workspace opens). */
  closeEverything(): Promise<void>;
  readonly rules: {
    get(id: string): { mode: 'first' | 'all'; rules: unknown[] };
    set(input: ValidInput<'rules.set'>): unknown;
  };
  readonly library: {
    list(): Promise<{ items: Workspace['library'] }>;
    import(input: ValidInput<'library.import'>): Promise<unknown>;
  };
}

const defaultView = (): ViewSettings => viewSettingsSchema.parse({});

export class WorkspaceManager {
  private settings: WorkspaceSettings = defaultWorkspaceSettings();
  /** The file changes are saved to; null: none yet (no data folder and no Save as). */
  private path: string | null;
  private view = defaultView();
  private savedAt: number | null = null;
  private saveError: UserError | null = null;
  private lastOpen: WorkspaceReport | null = null;
  /**
   * Changes are saved by themselves: from start() on, unless the file in use could not be read
   * (it is kept as it is until the user saves under another name or opens another).
   */
  private autosave = false;
  private dirty = false;
  private opening = false;
  private disposed = false;
  private timer: NodeJS.Timeout | null = null;
  /** What was last written where: an unchanged workspace is not written again. */
  private written: { path: string; body: string; stamp: FileStamp } | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * Endpoints of the workspaces opened before this one: closed, but still listed, and one that
   * never opened (a busy port) would otherwise be saved into this workspace too.
   */
  private leftBehind = new Set<string>();
  /**
   * Endpoints this workspace held that failed to open when it was opened (a busy port): kept in
   * it until the user forgets them. One the user opened that failed (a typo, nothing listening)
   * was never part of it and is not saved.
   */
  private failedToReopen = new Set<string>();

  constructor(
    private readonly engine: WorkspaceEngine,
    /** The app's data folder: the default workspace and the settings file live there. */
    readonly dataDir: string | null,
    private readonly published: (state: WorkspaceState) => void,
    private readonly autosaveDelayMs = AUTOSAVE_DELAY_MS,
  ) {
    this.path = this.defaultPath;
  }

  get defaultPath(): string | null {
    return this.dataDir === null ? null : join(this.dataDir, WORKSPACE_FILE_NAME);
  }

  state(): WorkspaceState {
    return {
      path: this.path,
      isDefault: this.path !== null && this.path === this.defaultPath,
      recent: [...this.settings.recent],
      reopenOnStart: this.settings.reopenOnStart,
      view: { ...this.view },
      savedAt: this.savedAt,
      saveError: this.saveError,
      lastOpen: this.lastOpen,
    };
  }

  /**
   * At start-up: opens `path` if given, else the workspace in use last time (if reopenOnStart).
   * Never throws: a file that cannot be used is reported in lastOpen.error, the app starts
   * empty, and that file is not written until the user saves elsewhere or opens another.
   */
  start(options: { path?: string } = {}): Promise<void> {
    return this.exclusive(async () => {
      this.settings = await readWorkspaceSettings(this.dataDir);
      let file: string | null;
      try {
        file =
          options.path !== undefined
            ? workspacePath(resolve(options.path), null)
            : this.settings.reopenOnStart
              ? (this.settings.current ?? this.defaultPath)
              : this.defaultPath;
      } catch (error) {
        this.failedAtStart(resolve(options.path ?? ''), error);
        return;
      }
      if (file === null) {
        this.autosave = false;
        this.publish();
        return;
      }
      const reopen = options.path !== undefined || this.settings.reopenOnStart;
      if (!reopen || (await stampOf(file)) === null) {
        // Nothing to open: a new workspace there, written on the first change.
        await this.use(file, false);
        this.publish();
        return;
      }
      try {
        const workspace = await readWorkspaceFile(file);
        await this.apply(file, workspace);
      } catch (error) {
        this.failedAtStart(file, error);
      }
    });
  }

  /** Opens a workspace file; one that cannot be used throws and changes nothing. */
  open(path: string): Promise<WorkspaceState> {
    return this.exclusive(async () => {
      const file = workspacePath(path, this.folder());
      const workspace = await readWorkspaceFile(file);
      // Changes not yet saved go to the workspace they belong to first.
      await this.saveIfDirty();
      await this.apply(file, workspace);
      return this.state();
    });
  }

  /**
   * `{view}` alone: the view settings a page reports (saved with the next autosave). Otherwise
   * saves now, to `path` when given (Save as: it becomes the workspace in use).
   */
  save(input: { path?: string; view?: ViewSettings }): Promise<WorkspaceState> {
    if (input.view !== undefined && input.path === undefined) {
      if (JSON.stringify(input.view) !== JSON.stringify(this.view)) {
        this.view = { ...input.view };
        this.changed();
      }
      return Promise.resolve(this.state());
    }
    return this.exclusive(async () => {
      if (input.view !== undefined) this.view = { ...input.view };
      const target =
        input.path === undefined ? this.path : workspacePath(input.path, this.folder());
      if (target === null) {
        throw new WorkbenchError(
          'INVALID_PATH',
          'This workspace has no file yet: use Save as and give one (a path ending in .json)',
        );
      }
      this.cancelTimer();
      try {
        await this.writeTo(target, true);
      } catch (error) {
        if (target === this.path) {
          this.saveError = toUserError(error);
          this.publish();
        }
        throw error;
      }
      this.saveError = null;
      this.dirty = false;
      await this.use(target, true);
      this.publish();
      return this.state();
    });
  }

  setReopenOnStart(reopenOnStart: boolean): Promise<WorkspaceState> {
    return this.exclusive(async () => {
      this.settings = { ...this.settings, reopenOnStart };
      await this.writeSettings();
      this.publish();
      return this.state();
    });
  }

  /** Something the workspace holds changed: save it in about a second. */
  changed(): void {
    if (this.opening || this.disposed) return;
    this.dirty = true;
    if (!this.autosave || this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.exclusive(() => this.saveIfDirty());
    }, this.autosaveDelayMs);
    this.timer.unref();
  }

  /** A clean stop: saves what changed since the last save; later changes are not saved. */
  async dispose(): Promise<void> {
    this.cancelTimer();
    await this.exclusive(async () => {
      await this.saveIfDirty();
      // A change made while that save was written must not be saved a second later, when the
      // engine has closed everything: the file would lose every endpoint.
      this.disposed = true;
      this.cancelTimer();
    });
  }

  private async saveIfDirty(): Promise<void> {
    if (this.disposed || !this.autosave || !this.dirty || this.path === null) return;
    this.dirty = false;
    try {
      if (await this.writeTo(this.path, false)) this.saveError = null;
      else return;
    } catch (error) {
      this.saveError = toUserError(error);
    }
    this.publish();
  }

  /** Writes the workspace to `file`; false when an autosave found nothing new to write. */
  private async writeTo(file: string, always: boolean): Promise<boolean> {
    const snapshot = await this.snapshot();
    const body = JSON.stringify(snapshot);
    const known = this.written?.path === file ? this.written : null;
    if (!always && known?.body === body) return false;
    // The file written last time and untouched since needs no look: anything else does.
    if (known === null || !sameStamp(await stampOf(file), known.stamp)) {
      await checkOverwritable(file);
    }
    const workspace: Workspace = {
      format: WORKSPACE_FORMAT,
      version: WORKSPACE_VERSION,
      savedAt: new Date().toISOString(),
      ...snapshot,
    };
    const stamp = await writeFileAtomically(file, serializeWorkspace(workspace), {
      makeFolder: file === this.defaultPath,
      what: `The workspace ${file}`,
    });
    this.written = { path: file, body, stamp };
    this.savedAt = Date.now();
    return true;
  }

  /** What the workspace holds now. */
  private async snapshot(): Promise<Omit<Workspace, 'format' | 'version' | 'savedAt'>> {
    const endpoints: WorkspaceEndpoint[] = [];
    for (const { id, origin } of this.engine.endpointOrigins()) {
      if (this.leftBehind.has(id)) continue;
      const info = this.engine.info(id);
      if (info.openedFrom !== undefined) continue;
      const life = lifeOf(info);
      if (life === 'finished' || (life === 'failed' && !this.failedToReopen.has(id))) continue;
      const { mode, rules } = this.engine.rules.get(id);
      const entry = workspaceEndpointSchema.safeParse({
        open: origin.open,
        input: origin.input,
        ...(rules.length > 0 ? { rules: { mode, rules } } : {}),
      });
      if (entry.success) endpoints.push(entry.data);
    }
    const { items } = await this.engine.library.list();
    return { endpoints, library: items, view: { ...this.view } };
  }

  /** Closes what is open, opens what the workspace holds and makes it the one in use. */
  private async apply(file: string, workspace: Workspace): Promise<void> {
    this.cancelTimer();
    this.opening = true;
    const failed: WorkspaceReport['failed'] = [];
    const exposed: string[] = [];
    let opened = 0;
    try {
      await this.engine.closeEverything();
      this.leftBehind = new Set(this.engine.endpointOrigins().map(({ id }) => id));
      this.failedToReopen = new Set();
      // Started together, in the file's order (ids follow it): a client waiting for its connect
      // timeout does not hold up the rest. Reported in the same order.
      const attempts = workspace.endpoints.map((entry) => ({
        entry,
        outcome: this.openEndpoint(entry).then(
          (info) => ({ id: info.id, error: null }),
          (error: unknown) => ({ id: this.idOpenedFrom(entry), error: toUserError(error) }),
        ),
      }));
      for (const { entry, outcome } of attempts) {
        const { id, error } = await outcome;
        if (error === null) {
          opened += 1;
          if (id !== null && reachesOtherMachines(entry)) {
            const local = this.engine.info(id).local;
            exposed.push(
              describeEndpoint(entry, local && 'port' in local ? local.port : undefined),
            );
          }
        } else {
          failed.push({ label: describeEndpoint(entry), error });
          if (id !== null) this.failedToReopen.add(id);
        }
        if (id === null || entry.rules === undefined) continue;
        try {
          this.engine.rules.set({ id, ...entry.rules });
        } catch (ruleError) {
          failed.push({
            label: `Auto-reply rules of ${describeEndpoint(entry)}`,
            error: toUserError(ruleError),
          });
        }
      }
      if (workspace.library.length > 0) {
        try {
          // Merged by id: a saved payload of the workspace replaces the library's one.
          const json = serializeLibrary(workspace.library);
          await this.engine.library.import({ json, mode: 'merge' });
        } catch (error) {
          failed.push({ label: 'Saved payloads', error: toUserError(error) });
        }
      }
    } finally {
      this.opening = false;
    }
    this.view = { ...workspace.view };
    this.lastOpen = { path: file, at: Date.now(), opened, failed, exposed, error: null };
    this.saveError = null;
    this.dirty = false;
    this.written = null;
    await this.use(file, true);
    this.publish();
  }

  private openEndpoint(entry: WorkspaceEndpoint): Promise<EndpointInfo> {
    switch (entry.open) {
      case 'tcp.listen':
        return this.engine.listenTcp(entry.input);
      case 'tcp.connect':
        return this.engine.connectTcp(entry.input);
      case 'unix.listen':
        return this.engine.listenUnix(entry.input);
      case 'unix.connect':
        return this.engine.connectUnix(entry.input);
      case 'udp.bind':
        return this.engine.bindUdp(entry.input);
    }
  }

  /** The endpoint an open that failed left listed (failed), found by the very input it got. */
  private idOpenedFrom(entry: WorkspaceEndpoint): string | null {
    const found = this.engine.endpointOrigins().find(({ origin }) => origin.input === entry.input);
    return found?.id ?? null;
  }

  /** Makes `file` the workspace in use (saved to from now on) and, if it exists, a recent one. */
  private async use(file: string, exists: boolean): Promise<void> {
    this.path = file;
    this.autosave = true;
    const before = JSON.stringify(this.settings);
    this.settings = {
      ...this.settings,
      current: file === this.defaultPath ? null : file,
      recent: exists ? await withRecent(this.settings.recent, file) : this.settings.recent,
    };
    // Nothing is written to the data folder before there is something to keep.
    if (JSON.stringify(this.settings) !== before) await this.writeSettings();
  }

  private failedAtStart(file: string, error: unknown): void {
    const problem = toUserError(error);
    this.path = file;
    this.autosave = false;
    this.lastOpen = {
      path: file,
      at: Date.now(),
      opened: 0,
      failed: [],
      exposed: [],
      error: problem,
    };
    this.saveError = {
      code: problem.code,
      message:
        `Changes are not being saved: ${file} could not be opened and is kept as it is. ` +
        'Save the workspace under another name, or open another, to save again',
    };
    this.publish();
  }

  private async writeSettings(): Promise<void> {
    try {
      await writeWorkspaceSettings(this.dataDir, this.settings);
    } catch (error) {
      this.saveError = toUserError(error);
    }
  }

  /** Where a relative path given to Save as or Open is taken from. */
  private folder(): string | null {
    if (this.path !== null) return dirname(this.path);
    return this.dataDir;
  }

  private cancelTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private publish(): void {
    if (!this.disposed) this.published(this.state());
  }

  private exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.queue.then(operation);
    this.queue = result.catch(() => undefined);
    return result;
  }
}

/**
 * Where an endpoint is in its life, as the workspace sees it: still open (or opening); finished
 * after it was open (closed by the user or the peer: not saved); or finished without ever
 * listening, being bound or connecting, a failed open.
 */
function lifeOf(info: EndpointInfo): 'open' | 'finished' | 'failed' {
  const finished = info.state === 'closed' || info.state === 'reset' || info.state === 'error';
  if (!finished) return 'open';
  const wasOpen = info.timeline.some(
    (entry) =>
      entry.event === 'listening' || entry.event === 'bound' || entry.event === 'established',
  );
  return wasOpen ? 'finished' : 'failed';
}

/** A listener or UDP socket on any host but a loopback address (see host-exposure.ts). */
function reachesOtherMachines(entry: WorkspaceEndpoint): boolean {
  if (entry.open !== 'tcp.listen' && entry.open !== 'udp.bind') return false;
  return hostExposure(entry.input.host) !== 'loopback';
}

/**
 * "TCP listener 127.0.0.1:9000", "Unix client /tmp/app.sock", "UDP socket 0.0.0.0:5000";
 * `boundPort`: the port a listener or UDP socket got, where the file asked for any (0).
 */
export function describeEndpoint(entry: WorkspaceEndpoint, boundPort?: number): string {
  switch (entry.open) {
    case 'tcp.listen':
      return `TCP listener ${formatHostPort(entry.input.host, boundPort ?? entry.input.port)}`;
    case 'tcp.connect':
      return `TCP client ${formatHostPort(entry.input.host, entry.input.port)}`;
    case 'unix.listen':
      return `Unix listener ${entry.input.path}`;
    case 'unix.connect':
      return `Unix client ${entry.input.path}`;
    case 'udp.bind':
      return `UDP socket ${formatHostPort(entry.input.host, boundPort ?? entry.input.port)}`;
  }
}

function toUserError(error: unknown): UserError {
  if (error instanceof WorkbenchError) return error.toUserError();
  const errno = (error as NodeJS.ErrnoException | null)?.code;
  return {
    code: isErrorCode(errno) ? errno : 'INTERNAL',
    message: error instanceof Error ? error.message : String(error),
  };
}
