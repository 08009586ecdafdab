/**
 * The `serve` command line, and where browser mode keeps its capture: a directory the user
 * names keeps the capture files (owner-only) after the server stops.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCommandLine, startServer } from '../../src/main/serve';
import { tempDir } from '../support/peers';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('serve command line', () => {
  it('takes --capture-dir, or SOCKET_WORKBENCH_CAPTURE_DIR, as an absolute path', () => {
    expect(parseCommandLine(['--capture-dir', 'captures'])).toEqual({
      host: '127.0.0.1',
      port: 7357,
      captureDir: path.resolve('captures'),
    });
    expect(
      parseCommandLine(['--port', '0'], { SOCKET_WORKBENCH_CAPTURE_DIR: '/srv/captures' }),
    ).toEqual({ host: '127.0.0.1', port: 0, captureDir: '/srv/captures' });
    expect(
      parseCommandLine(['--capture-dir', '/a'], { SOCKET_WORKBENCH_CAPTURE_DIR: '/b' }),
    ).toMatchObject({ captureDir: '/a' });
    expect(parseCommandLine([])).toEqual({ host: '127.0.0.1', port: 7357 });
  });

  it('says what is wrong with a bad argument', () => {
    expect(parseCommandLine(['--capture-dir', ''])).toMatch(/^--capture-dir is empty/);
    expect(parseCommandLine(['--port', '70000'])).toMatch(/^--port must be a whole number/);
    expect(parseCommandLine(['--bogus'])).toMatch(/Unknown option '--bogus'/);
  });
});

describe('a chosen capture directory', () => {
  it('holds the capture and its index, owner-only, and keeps them after the server stops', async () => {
    const root = tempDir();
    cleanups.push(() => fs.rmSync(root, { recursive: true, force: true }));
    const rendererDir = path.join(root, 'renderer');
    fs.mkdirSync(rendererDir);
    fs.writeFileSync(path.join(rendererDir, 'index.html'), '<title>Socket Workbench</title>');
    const captureDir = path.join(root, 'captures', 'today');

    const server = await startServer({ port: 0, rendererDir, captureDir });
    const files = fs.readdirSync(captureDir).sort();
    expect(files).toEqual([
      expect.stringMatching(/^capture-.*\.bin$/),
      expect.stringMatching(/^index-.*\.bin$/),
    ]);
    for (const file of files) {
      expect(fs.statSync(path.join(captureDir, file)).mode & 0o777).toBe(0o600);
    }
    await server.close();
    expect(fs.readdirSync(captureDir).sort()).toEqual(files);
  });
});
