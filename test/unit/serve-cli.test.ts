/**
 * The `serve` command line, and where browser mode keeps its capture: a directory the user
 * names keeps the capture files (owner-only) after the server stops.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCommandLine, startServer } from '../../src/main/serve';
import { tempDir } from '../support/peers';
import { cleanupsAfterEach } from '../support/engine';

const cleanups = cleanupsAfterEach();

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

  it('takes the capture limit and floor as sizes, or from the environment', () => {
    expect(
      parseCommandLine(['--capture-limit', '2GiB', '--capture-floor', '512 MiB']),
    ).toMatchObject({
      capture: { limitBytes: 2 * 1024 ** 3, floorBytes: 512 * 1024 ** 2 },
    });
    expect(parseCommandLine(['--capture-limit', 'unlimited'])).toMatchObject({
      capture: { limitBytes: null },
    });
    expect(
      parseCommandLine([], {
        SOCKET_WORKBENCH_CAPTURE_LIMIT: '100m',
        SOCKET_WORKBENCH_CAPTURE_FLOOR: '0',
      }),
    ).toMatchObject({ capture: { limitBytes: 100 * 1024 ** 2, floorBytes: 0 } });
    expect(parseCommandLine(['--capture-limit', '10k'])).toMatch(
      /^--capture-limit must be a size of at least 1.0 MiB/,
    );
    expect(parseCommandLine(['--capture-limit', 'lots'])).toMatch(/^--capture-limit must be/);
    expect(parseCommandLine(['--capture-floor=-1'])).toMatch(/^--capture-floor must be a size/);
  });

  it('says what is wrong with a bad argument', () => {
    expect(parseCommandLine(['--capture-dir', ''])).toMatch(/^--capture-dir is empty/);
    expect(parseCommandLine(['--port', '70000'])).toMatch(/^--port must be a whole number/);
    expect(parseCommandLine(['--bogus'])).toMatch(/Unknown option '--bogus'/);
  });
});

describe('a chosen capture directory', () => {
  it('holds a session folder, owner-only, and keeps it after the server stops', async () => {
    const root = tempDir();
    cleanups.push(() => fs.rmSync(root, { recursive: true, force: true }));
    const rendererDir = path.join(root, 'renderer');
    fs.mkdirSync(rendererDir);
    fs.writeFileSync(path.join(rendererDir, 'index.html'), '<title>Socket Workbench</title>');
    const captureDir = path.join(root, 'captures', 'today');

    const server = await startServer({ port: 0, rendererDir, captureDir });
    const [session] = fs.readdirSync(captureDir);
    const folder = path.join(captureDir, session ?? 'missing');
    expect(session).toMatch(/^session-/);
    expect(fs.statSync(folder).mode & 0o777).toBe(0o700);
    const files = fs.readdirSync(folder).sort();
    expect(files).toEqual([
      expect.stringMatching(/^data-\d+-\d+\.bin$/),
      expect.stringMatching(/^index-\d+-\d+\.bin$/),
      'session.json',
    ]);
    for (const file of files) {
      expect(fs.statSync(path.join(folder, file)).mode & 0o777).toBe(0o600);
    }
    await server.close();
    expect(fs.readdirSync(folder).sort()).toEqual(files);
    expect(JSON.parse(fs.readFileSync(path.join(folder, 'session.json'), 'utf8'))).toMatchObject({
      format: 'socket-workbench-capture',
      version: 1,
      stoppedAt: expect.any(String),
    });
  });
});
