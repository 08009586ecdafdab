/**
 * Exports made for a browser to download. In browser mode the page may run on another machine
 * than the engine (through an SSH tunnel to a headless box), where a path on the engine's disk is
 * of little use. Each export is written to a private temporary folder under a random id, handed
 * out once through the serve server's `/download/<id>`, and deleted once sent, when nobody fetched
 * it within DOWNLOAD_KEEP_MS, or when the engine stops.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** An export nobody fetched is deleted after this long. */
export const DOWNLOAD_KEEP_MS = 10 * 60_000;
/** Exports waiting at once: a newer one pushes out the oldest (each may be gigabytes). */
export const PENDING_DOWNLOADS_MAX = 4;

export interface Download {
  path: string;
  /** The file name the browser suggests. */
  name: string;
}

interface Pending extends Download {
  expiry: ReturnType<typeof setTimeout>;
}

export class Downloads {
  private folder: Promise<string> | null = null;
  /** Insertion order is age: the first entry is the oldest. */
  private readonly pending = new Map<string, Pending>();

  /** Writes a file through `write` and keeps it for one fetch; resolves with its id. */
  async prepare(name: string, write: (path: string) => Promise<void>): Promise<string> {
    // mkdtemp makes the folder readable by this user only.
    // A folder that could not be made (a full /tmp) is tried again next time.
    this.folder ??= mkdtemp(join(tmpdir(), 'socket-workbench-downloads-')).catch((error) => {
      this.folder = null;
      throw error;
    });
    const folder = await this.folder;
    const id = randomBytes(24).toString('base64url');
    const path = join(folder, id);
    try {
      await write(path);
    } catch (error) {
      await rm(path, { force: true });
      throw error;
    }
    while (this.pending.size >= PENDING_DOWNLOADS_MAX) {
      this.discard(this.pending.keys().next().value as string);
    }
    const expiry = setTimeout(() => this.discard(id), DOWNLOAD_KEEP_MS);
    expiry.unref();
    this.pending.set(id, { path, name, expiry });
    return id;
  }

  /** The file waiting under `id`, once: the caller sends it, then calls `sent`. */
  take(id: string): Download | undefined {
    const entry = this.pending.get(id);
    if (!entry) return undefined;
    clearTimeout(entry.expiry);
    this.pending.delete(id);
    return { path: entry.path, name: entry.name };
  }

  /** A taken file was sent (or the fetch failed): it is deleted. */
  async sent(download: Download): Promise<void> {
    await rm(download.path, { force: true });
  }

  async dispose(): Promise<void> {
    for (const entry of this.pending.values()) clearTimeout(entry.expiry);
    this.pending.clear();
    if (this.folder) await rm(await this.folder, { recursive: true, force: true });
  }

  private discard(id: string): void {
    const entry = this.take(id);
    if (entry) void this.sent(entry);
  }
}
