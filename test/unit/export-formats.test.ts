/**
 * capture.export as raw bytes, a hex dump and a transcript, checked byte for byte against what
 * the peers sent; the file rules (no overwriting unless asked, never a folder); the command line.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../../src/main/engine/engine';
import { createRouter } from '../../src/main/router';
import { exportExtensions } from '../../src/shared/contract';
import { parseTranscriptText } from '../../src/main/engine/export/text-formats';
import { freshEngineAndDir } from '../support/engine';
import { call, refusal } from '../support/engine-helpers';
import { runScenario, type Scenario } from '../support/export-scenario';

const fresh = freshEngineAndDir();
let scenario: Scenario;
beforeEach(async () => {
  scenario = await runScenario(fresh.engine, fresh.dir);
}, 30_000);

interface Block {
  heading: string;
  lines: string[];
}

/** Splits a hex dump or transcript into blocks: a heading line, then lines up to an empty one. */
function blocks(text: string): Block[] {
  const found: Block[] = [];
  let current: Block | null = null;
  for (const line of text.split('\n')) {
    if (current === null) {
      if (line !== '') current = { heading: line, lines: [] };
    } else if (line === '') {
      found.push(current);
      current = null;
    } else current.lines.push(line);
  }
  expect(current).toBeNull();
  return found;
}

/** The bytes of a hex dump block: the hex columns of each line. */
function hexBytes(lines: string[]): Buffer {
  return Buffer.concat(
    lines.map((line) => {
      const match = /^([0-9a-f]{8,}) {2}(.{49}) \|(.*)\|$/.exec(line);
      expect(match, line).not.toBeNull();
      return Buffer.from((match?.[2] ?? '').replace(/ /g, ''), 'hex');
    }),
  );
}

/** The transcript's lines are split after each `\n` escape; joined back, they are the text. */
function transcriptBytes(lines: string[]): Buffer {
  return Buffer.from(parseTranscriptText(lines.map((line) => line)));
}

async function exported(
  ids: string[],
  format: 'raw' | 'hex' | 'transcript',
  direction: 'both' | 'in' | 'out' = 'both',
  range?: { start: number; end: number },
): Promise<Buffer> {
  const file = path.join(
    fresh.dir,
    `${ids.join('-')}-${format}-${direction}-${Math.random()}${exportExtensions[format][0]}`,
  );
  await call(scenario.router, 'capture.export', {
    ids,
    format,
    direction,
    path: file,
    ...(range ? { range } : {}),
  });
  return fs.readFileSync(file);
}

describe('capture.export as raw bytes, hex and transcript', () => {
  it('raw: one direction, or both in capture order', async () => {
    const { halfClosed, unix } = scenario;
    expect((await exported([halfClosed.id], 'raw', 'in')).equals(halfClosed.in)).toBe(true);
    expect((await exported([halfClosed.id], 'raw', 'out')).equals(halfClosed.out)).toBe(true);
    // Both: the request, the whole answer, then "bye".
    const both = await exported([halfClosed.id], 'raw');
    const request = halfClosed.in.subarray(0, halfClosed.in.length - 4);
    expect(both.equals(Buffer.concat([request, halfClosed.out, Buffer.from('bye\n')]))).toBe(true);
    expect((await exported([unix.id], 'raw', 'out')).equals(unix.out)).toBe(true);
    // A listener brings its connections, one after another.
    const all = await exported([scenario.tcpListener], 'raw', 'in');
    expect(
      all.equals(Buffer.concat([halfClosed.in, scenario.resetBySelf.in, scenario.resetByPeer.in])),
    ).toBe(true);
    // A range of stream offsets.
    const part = await exported([halfClosed.id], 'raw', 'both', { start: 10, end: 100 });
    expect(part.equals(both.subarray(10, 100))).toBe(true);
  });

  it('hex: a heading per chunk, then offset, 16 bytes and ASCII per line', async () => {
    const { halfClosed } = scenario;
    const text = (await exported([halfClosed.id], 'hex')).toString('utf8');
    const found = blocks(text);
    const sent = found.filter((b) => b.heading.includes(' >> '));
    const received = found.filter((b) => b.heading.includes(' << '));
    expect(Buffer.concat(received.map((b) => hexBytes(b.lines))).equals(halfClosed.in)).toBe(true);
    expect(Buffer.concat(sent.map((b) => hexBytes(b.lines))).equals(halfClosed.out)).toBe(true);
    const first = found[0] as Block;
    expect(first.heading).toMatch(
      new RegExp(
        `^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z << ${halfClosed.id} 127\\.0\\.0\\.1:${halfClosed.peerPort} \\(\\d+ bytes, stream offset 0\\)$`,
      ),
    );
    expect(first.lines[0]).toMatch(
      /^00000000 {2}47 45 54 20 2f 20 48 54 {2}54 50 2f 31 2e 30 0d 0a {2}\|GET \/ HTTP\/1\.0\.\.\|$/,
    );
    // The 150 KiB answer is one chunk: one heading, its offsets running on.
    const big = sent.find((b) => hexBytes(b.lines).length === halfClosed.out.length);
    expect(big?.heading).toContain(`(${halfClosed.out.length} bytes,`);
  });

  it('transcript: time, >> or <<, endpoint and peer, then the escaped text', async () => {
    const { halfClosed, unix } = scenario;
    const text = (await exported([halfClosed.id, unix.id, scenario.udp], 'transcript')).toString(
      'utf8',
    );
    const found = blocks(text);
    const of = (id: string, arrow: string) =>
      Buffer.concat(
        found
          .filter((b) => b.heading.includes(` ${arrow} ${id} `))
          .map((b) => transcriptBytes(b.lines)),
      );
    expect(of(halfClosed.id, '<<').equals(halfClosed.in)).toBe(true);
    expect(of(halfClosed.id, '>>').equals(halfClosed.out)).toBe(true);
    expect(of(unix.id, '<<').equals(unix.in)).toBe(true);
    expect(of(unix.id, '>>').equals(unix.out)).toBe(true);
    expect(of(scenario.udp, '<<').equals(Buffer.concat(scenario.datagramsIn))).toBe(true);
    expect(of(scenario.udp, '>>').equals(Buffer.concat(scenario.datagramsOut))).toBe(true);
    // The request as it reads.
    expect(text).toContain('GET / HTTP/1.0\\r\\n\n\\r\\n\n\\\\ end\\x00\\xff');
    const unixBlock = found.find((b) => b.heading.includes(` >> ${unix.id} `));
    expect(unixBlock?.heading).toMatch(
      / >> conn-\d+ unix:.*export\.sock \(12 bytes, stream offset 11\)$/,
    );
    expect(unixBlock?.lines).toEqual(['unix reply\\r\\n']);
    const udpBlock = found.find((b) => b.heading.includes(` << ${scenario.udp} `));
    expect(udpBlock?.heading).toContain(`127.0.0.1:${scenario.udpPeerPort} (6 bytes`);
    expect(udpBlock?.lines).toEqual(['ping\\x00\\xff']);
  });

  it('never overwrites a file unless asked, and never writes a folder', async () => {
    const file = path.join(fresh.dir, 'taken.bin');
    fs.writeFileSync(file, 'keep me');
    const input = { ids: [scenario.halfClosed.id], format: 'raw', path: file };
    expect(await refusal(scenario.router, 'capture.export', input)).toMatchObject({
      code: 'WOULD_OVERWRITE',
    });
    expect(fs.readFileSync(file, 'utf8')).toBe('keep me');
    await call(scenario.router, 'capture.export', { ...input, format: 'raw', overwrite: true });
    expect(fs.readFileSync(file).equals(await exported([scenario.halfClosed.id], 'raw'))).toBe(
      true,
    );
    for (const target of [fresh.dir, path.join(fresh.dir, 'a-folder')]) {
      fs.mkdirSync(target, { recursive: true });
      const error = await refusal(scenario.router, 'capture.export', {
        ...input,
        path: target,
        overwrite: true,
      });
      expect(error.code).toBe('INVALID_PATH');
    }
    expect(
      await refusal(scenario.router, 'capture.export', { ...input, path: 'relative.txt' }),
    ).toMatchObject({ code: 'INVALID_PATH' });
    expect(
      await refusal(scenario.router, 'capture.export', {
        ...input,
        ids: ['conn-999'],
        path: path.join(fresh.dir, 'x'),
      }),
    ).toMatchObject({ code: 'UNKNOWN_ENDPOINT' });
    const twoWithRange = {
      ...input,
      ids: [scenario.halfClosed.id, scenario.unix.id],
      range: { start: 0, end: 5 },
      path: path.join(fresh.dir, 'y'),
    };
    expect(await refusal(scenario.router, 'capture.export', twoWithRange)).toMatchObject({
      code: 'INVALID_INPUT',
    });
    // Nothing half-written is left behind.
    expect(fs.readdirSync(fresh.dir).filter((name) => name.includes('.tmp-'))).toEqual([]);
  });

  it("never writes where a peer's bytes could be run: wrong extension, hidden, data folder", async () => {
    const input = { ids: [scenario.halfClosed.id], format: 'raw', overwrite: true };
    const home = path.join(fresh.dir, 'home');
    fs.mkdirSync(path.join(home, '.ssh'), { recursive: true });
    fs.writeFileSync(path.join(home, '.bashrc'), 'keep me');
    for (const [file, format, why] of [
      [path.join(home, '.bashrc'), 'raw', 'hidden'],
      [path.join(home, '.ssh', 'authorized_keys.bin'), 'raw', 'hidden'],
      [path.join(home, 'run.sh'), 'raw', 'ends with .bin'],
      [path.join(home, 'capture.bin'), 'pcapng', 'ends with .pcapng'],
      [path.join(home, '.bin'), 'raw', 'hidden'],
    ] as const) {
      const error = await refusal(scenario.router, 'capture.export', {
        ...input,
        path: file,
        format,
      });
      expect(error.code).toBe('INVALID_PATH');
      expect(error.message).toContain(why);
    }
    expect(fs.readFileSync(path.join(home, '.bashrc'), 'utf8')).toBe('keep me');
    expect(fs.readdirSync(path.join(home, '.ssh'))).toEqual([]);
    // The app's data folder (saved payloads, workspaces) is refused too.
    const dataDir = path.join(fresh.dir, 'data');
    fs.mkdirSync(dataDir);
    const engine = new Engine({ dataDir });
    try {
      const router = createRouter(engine);
      const listener = await call(router, 'tcp.listen', { host: '127.0.0.1', port: 0 });
      const error = await refusal(router, 'capture.export', {
        ids: [listener.id],
        format: 'raw',
        path: path.join(dataDir, 'library.bin'),
      });
      expect(error).toMatchObject({ code: 'INVALID_PATH' });
      expect(error.message).toContain('data folder');
    } finally {
      await engine.dispose();
    }
  });

  it('never writes into the capture folder, even through a link to it', async () => {
    await fresh.engine.flushCapture();
    const folder = fresh.engine.status().capture.folder;
    const before = new Map(
      fs.readdirSync(folder).map((name) => [name, fs.readFileSync(path.join(folder, name))]),
    );
    const index = [...before.keys()].find((name) => name.startsWith('index'));
    expect(index).toBeDefined();
    const link = path.join(fresh.dir, 'link-to-capture');
    fs.symlinkSync(folder, link);
    const input = { ids: [scenario.halfClosed.id], format: 'raw' };
    for (const file of [
      path.join(folder, index as string),
      path.join(folder, 'new-file.raw'),
      path.join(link, index as string),
    ]) {
      const error = await refusal(scenario.router, 'capture.export', {
        ...input,
        path: file,
        overwrite: true,
      });
      expect(error.code).toBe('INVALID_PATH');
      expect(error.message).toContain('capture folder');
    }
    for (const [name, bytes] of before) {
      expect(fs.readFileSync(path.join(folder, name)).equals(bytes)).toBe(true);
    }
    expect(fs.existsSync(path.join(folder, 'new-file.raw'))).toBe(false);
  });

  it('the command line exports the same from the folder', async () => {
    await fresh.engine.flushCapture();
    const folder = fresh.engine.status().capture.folder;
    const cli = path.resolve('src/main/capture-cli.ts');
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', cli, folder, ...args], {
        maxBuffer: 64 * 1024 * 1024,
      });
    const { halfClosed } = scenario;
    const raw = run('--endpoint', halfClosed.id, '--direction', 'out');
    expect(raw.status, raw.stderr.toString()).toBe(0);
    expect(raw.stdout.equals(halfClosed.out)).toBe(true);
    const rawFormat = run('--format', 'raw', '--endpoint', halfClosed.id, '--direction', 'in');
    expect(rawFormat.stdout.equals(halfClosed.in)).toBe(true);
    for (const format of ['hex', 'transcript'] as const) {
      const viaCli = run('--format', format, '--endpoint', halfClosed.id);
      expect(viaCli.status).toBe(0);
      expect(viaCli.stdout.equals(await exported([halfClosed.id], format))).toBe(true);
    }
    // Without --endpoint: every endpoint, one after another.
    const everything = run('--format', 'transcript', '--direction', 'in');
    const found = blocks(everything.stdout.toString('utf8'));
    expect(new Set(found.map((b) => b.heading.split(' ')[2]))).toEqual(
      new Set([
        halfClosed.id,
        scenario.resetBySelf.id,
        scenario.resetByPeer.id,
        scenario.udp,
        scenario.unix.id,
      ]),
    );
    const pcapng = run('--format', 'pcapng');
    expect(pcapng.status).toBe(0);
    const file = path.join(fresh.dir, 'cli.pcapng');
    fs.writeFileSync(file, pcapng.stdout);
    const tshark = spawnSync('tshark', [
      '-r',
      file,
      '-T',
      'fields',
      '-e',
      'tcp.stream',
      '-Y',
      'tcp.flags.syn==1 && tcp.flags.ack==0',
    ]);
    expect(tshark.stdout.toString().trim().split('\n')).toHaveLength(4);
    const bad = run('--format', 'gif');
    expect(bad.status).toBe(2);
    expect(bad.stderr.toString()).toContain('--format must be one of pcapng, raw, hex, transcript');
  });
});
