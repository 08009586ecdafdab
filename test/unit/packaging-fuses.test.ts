/**
 * The Electron fuses in the packaging config (electron-builder.yml). They are flipped in the
 * shipped binary, where no runtime test here can see them, so the config itself is pinned: a
 * changed value, a removed fuse or a fuse that Electron adds later fails here until someone
 * decides it on purpose (and says why in docs/security.md).
 */
import { readFileSync } from 'node:fs';
import { FuseV1Options } from '@electron/fuses';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { APP_PAGE_URL } from '../../src/main/security';

const root = new URL('../../', import.meta.url);
const config = parse(readFileSync(new URL('electron-builder.yml', root), 'utf8')) as {
  asar?: unknown;
  asarUnpack?: unknown;
  electronFuses?: Record<string, unknown>;
};

/** Fuses left at Electron's default on purpose, with the reason. */
const LEFT_AT_DEFAULT: Record<string, string> = {
  // V8's signal-based bounds checks for WebAssembly: a performance feature, not an entry point.
  WasmTrapHandlers: 'on by default; not an attack surface',
};

describe('electron-builder.yml fuses', () => {
  it('sets each security fuse explicitly to its hardened value', () => {
    expect(config.electronFuses).toEqual({
      // ELECTRON_RUN_AS_NODE=1 would turn the signed app into a plain Node interpreter.
      runAsNode: false,
      enableCookieEncryption: true,
      // NODE_OPTIONS=--require ... would run code inside the app's main process.
      enableNodeOptionsEnvironmentVariable: false,
      // --inspect would open a debugger port into the main process.
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
      loadBrowserProcessSpecificV8Snapshot: false,
      grantFileProtocolExtraPrivileges: false,
    });
  });

  it('decides every fuse that @electron/fuses knows, except those left at default on purpose', () => {
    const names = Object.keys(FuseV1Options).filter((key) => Number.isNaN(Number(key)));
    const configured = Object.keys(config.electronFuses ?? {});
    const camel = (name: string): string => name[0]!.toLowerCase() + name.slice(1);
    const undecided = names.filter(
      (name) => !configured.includes(camel(name)) && !(name in LEFT_AT_DEFAULT),
    );
    expect(undecided).toEqual([]);
    // And no key in the config is a typo that electron-builder would reject or ignore.
    for (const key of configured) {
      expect(names.map(camel), key).toContain(key);
    }
  });

  it('packs the app into app.asar, which onlyLoadAppFromAsar requires', () => {
    expect(config.asar).toBe(true);
    expect(config.asarUnpack).toBeUndefined();
  });

  it('loads the renderer from the app scheme, never file:// (which the fuse leaves unprivileged)', () => {
    // With grantFileProtocolExtraPrivileges off, Chromium refuses module scripts on a file://
    // page: a loadFile() here would ship a blank window.
    const main = readFileSync(new URL('src/main/index.ts', root), 'utf8');
    expect(main).not.toMatch(/\bloadFile\s*\(/);
    expect(main).toMatch(/loadURL\(devServerUrl \?\? APP_PAGE_URL\)/);
    expect(APP_PAGE_URL).toBe('app://workbench/index.html');
  });
});
