/**
 * Where an export goes: a file (written beside it as `path.tmp-XXXX`, renamed into place once
 * complete, so a failed export never leaves half a file under the name asked for) or a stream
 * (the CLI's stdout), written with backpressure. Bytes are gathered into ~1 MiB buffers.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { WorkbenchError, type ErrorCode } from '../../../shared/errors';

const BUFFER_BYTES = 4 * 1024 * 1024;

export type ExportTarget = { path: string; overwrite: boolean } | { stream: Writable };

/**
 * Buffers output and hands it on in big writes; `written` counts every byte appended. One write
 * may be in flight while the next buffer fills, so reading, drawing and writing overlap.
 */
export class Output {
  buffer: Uint8Array = new Uint8Array(BUFFER_BYTES);
  used = 0;
  written = 0;
  private readonly encoder = new TextEncoder();
  private inFlight: Promise<void> | null = null;
  private failure: unknown = null;
  /** A buffer whose write has completed, to fill again (files only: see `reuse`). */
  private spare: Uint8Array | null = null;

  constructor(
    private readonly sink: (bytes: Uint8Array) => Promise<void>,
    /** Whether a written buffer may be filled again (a stream may hold on to what it was given). */
    private readonly reuse: boolean,
  ) {}

  /** Makes room for `bytes` more at `buffer[used…]` (the caller then writes and calls `advance`). */
  async reserve(bytes: number): Promise<void> {
    if (this.used + bytes <= this.buffer.byteLength) return;
    await this.flush();
    if (bytes > this.buffer.byteLength) this.buffer = new Uint8Array(bytes);
  }

  advance(bytes: number): void {
    this.used += bytes;
    this.written += bytes;
  }

  async append(bytes: Uint8Array): Promise<void> {
    if (bytes.byteLength >= BUFFER_BYTES) {
      await this.flush();
      await this.settle();
      // Big pieces go as they are, copied once: the caller may reuse its buffer.
      this.written += bytes.byteLength;
      await this.sink(Uint8Array.prototype.slice.call(bytes));
      return;
    }
    await this.reserve(bytes.byteLength);
    this.buffer.set(bytes, this.used);
    this.advance(bytes.byteLength);
  }

  async text(text: string): Promise<void> {
    await this.append(this.encoder.encode(text));
  }

  /** Starts writing what is buffered, once the write before it is done. */
  async flush(): Promise<void> {
    if (this.used === 0) return;
    await this.settle();
    const full = this.buffer.subarray(0, this.used);
    const filled = this.buffer;
    this.buffer = this.spare ?? new Uint8Array(BUFFER_BYTES);
    this.spare = null;
    this.used = 0;
    this.inFlight = this.sink(full).then(
      () => {
        if (this.reuse) this.spare = filled;
      },
      (error: unknown) => {
        this.failure = error;
      },
    );
  }

  /** Waits for the write in flight; throws if it failed. */
  async settle(): Promise<void> {
    if (this.inFlight) await this.inFlight;
    this.inFlight = null;
    if (this.failure) throw this.failure;
  }

  /** Writes everything buffered and waits until it is written. */
  async finish(): Promise<void> {
    await this.flush();
    await this.settle();
  }
}

export interface OpenedTarget {
  output: Output;
  /** The final path (files), or null (a stream). */
  path: string | null;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** Checks the path and opens the temporary file (or takes the stream). */
export async function openTarget(target: ExportTarget): Promise<OpenedTarget> {
  if ('stream' in target) return streamTarget(target.stream);
  const finalPath = target.path;
  if (!path.isAbsolute(finalPath)) {
    throw new WorkbenchError('INVALID_PATH', `${finalPath} is not an absolute path`);
  }
  await checkDestination(finalPath, target.overwrite);
  const temporary = `${finalPath}.tmp-${randomBytes(4).toString('hex')}`;
  let handle: fs.FileHandle;
  try {
    // 0600: a capture holds whatever peers sent.
    handle = await fs.open(temporary, 'wx', 0o600);
  } catch (error) {
    throw fileError(finalPath, error);
  }
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await handle.close();
  };
  const output = new Output(async (bytes) => {
    try {
      let done = 0;
      while (done < bytes.byteLength) {
        const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done);
        done += bytesWritten;
      }
    } catch (error) {
      throw fileError(finalPath, error);
    }
  }, true);
  return {
    output,
    path: finalPath,
    async commit() {
      await output.finish();
      await close();
      try {
        if (target.overwrite) {
          await checkDestination(finalPath, true);
          await fs.rename(temporary, finalPath);
        } else {
          await placeWithoutOverwriting(temporary, finalPath);
        }
      } catch (error) {
        await fs.rm(temporary, { force: true });
        throw error instanceof WorkbenchError ? error : fileError(finalPath, error);
      }
    },
    async abort() {
      await output.settle().catch(() => undefined);
      await close().catch(() => undefined);
      await fs.rm(temporary, { force: true }).catch(() => undefined);
    },
  };
}

/**
 * INVALID_PATH if `file` would go in `folder` or below it (through symbolic links too): an export
 * into the capture session folder could take the name of the capture's own index, data or session
 * file, or of the segment it writes next.
 */
export async function refuseInside(folder: string, file: string): Promise<void> {
  const real = (where: string) => fs.realpath(where).catch(() => path.resolve(where));
  const [root, parent] = await Promise.all([real(folder), real(path.dirname(file))]);
  const relative = path.relative(root, parent);
  if (relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative))) {
    throw new WorkbenchError(
      'INVALID_PATH',
      `${file} is inside the capture folder ${folder}, whose files the capture itself uses; ` +
        'export to another folder',
    );
  }
}

/** A link fails if the name is taken since the check, where a rename would replace it. */
async function placeWithoutOverwriting(temporary: string, finalPath: string): Promise<void> {
  try {
    await fs.link(temporary, finalPath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw wouldOverwrite(finalPath);
    // Some file systems have no hard links: check again, then rename.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV') throw error;
    await checkDestination(finalPath, false);
    await fs.rename(temporary, finalPath);
    return;
  }
  await fs.rm(temporary, { force: true });
}

async function checkDestination(finalPath: string, overwrite: boolean): Promise<void> {
  let stat;
  try {
    stat = await fs.stat(finalPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw fileError(finalPath, error);
  }
  if (stat.isDirectory()) {
    throw new WorkbenchError('INVALID_PATH', `${finalPath} is a folder; name a file to export to`);
  }
  if (!overwrite) throw wouldOverwrite(finalPath);
  if (!stat.isFile()) {
    throw new WorkbenchError('INVALID_PATH', `${finalPath} is not a regular file`);
  }
}

function wouldOverwrite(finalPath: string): WorkbenchError {
  return new WorkbenchError(
    'WOULD_OVERWRITE',
    `${finalPath} already exists; export with overwrite to replace it`,
  );
}

const PASSED_ON: ReadonlySet<string> = new Set<ErrorCode>([
  'EACCES',
  'EPERM',
  'ENOSPC',
  'EDQUOT',
  'EFBIG',
  'EROFS',
  'EIO',
  'ENAMETOOLONG',
]);

function fileError(finalPath: string, error: unknown): WorkbenchError {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  const reason = error instanceof Error ? error.message : String(error);
  if (code === 'ENOENT') {
    return new WorkbenchError(
      'ENOENT',
      `Cannot write ${finalPath}: the folder ${path.dirname(finalPath)} does not exist`,
    );
  }
  if (code === 'EISDIR') {
    return new WorkbenchError('INVALID_PATH', `${finalPath} is a folder; name a file to export to`);
  }
  if (code === 'ENOTDIR') {
    return new WorkbenchError(
      'INVALID_PATH',
      `Cannot write ${finalPath}: part of it is not a folder`,
    );
  }
  if (PASSED_ON.has(code)) {
    return new WorkbenchError(code as ErrorCode, `Cannot write ${finalPath}: ${reason}`);
  }
  return new WorkbenchError('INVALID_PATH', `Cannot write ${finalPath}: ${reason}`);
}

function streamTarget(stream: Writable): OpenedTarget {
  let failure: Error | null = null;
  const onError = (error: Error) => (failure = error);
  stream.on('error', onError);
  const output = new Output(async (bytes) => {
    if (failure) throw failure;
    if (!stream.write(bytes)) {
      await new Promise<void>((resolve, reject) => {
        const drained = () => {
          stream.off('close', closed);
          resolve();
        };
        const closed = () => {
          stream.off('drain', drained);
          reject(failure ?? new Error('the output was closed'));
        };
        stream.once('drain', drained);
        stream.once('close', closed);
      });
    }
    if (failure) throw failure;
  }, false);
  return {
    output,
    path: null,
    async commit() {
      await output.finish();
      stream.off('error', onError);
    },
    async abort() {
      await output.settle().catch(() => undefined);
      stream.off('error', onError);
    },
  };
}
