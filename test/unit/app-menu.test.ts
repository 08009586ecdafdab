/**
 * The application menu (src/main/app-menu.ts) on each platform, as data: the usual roles are
 * where a user looks for them, the editing shortcuts exist on macOS (where text fields get Cmd+C/V
 * only through the Edit menu), and a packaged build offers no way into DevTools.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MenuItemConstructorOptions } from 'electron';
import { describe, expect, it } from 'vitest';
import {
  aboutPanelOptions,
  appMenuTemplate,
  DEFAULT_MENU_LABELS,
  type AppMenuOptions,
} from '../../src/main/app-menu';
import { windowOptions } from '../../src/main/window-options';

const root = fileURLToPath(new URL('../../', import.meta.url));
const PLATFORMS = ['darwin', 'win32', 'linux'] as const;

function options(overrides: Partial<AppMenuOptions> = {}): AppMenuOptions {
  return {
    platform: 'linux',
    isPackaged: true,
    appName: 'Socket Workbench',
    version: '1.2.3',
    ...overrides,
  };
}

/** Every item, submenus included, depth first. */
function allItems(template: MenuItemConstructorOptions[]): MenuItemConstructorOptions[] {
  return template.flatMap((item) => [
    item,
    ...(Array.isArray(item.submenu) ? allItems(item.submenu) : []),
  ]);
}

function roles(items: MenuItemConstructorOptions[]): string[] {
  return items.flatMap((item) => (item.role ? [item.role] : []));
}

function submenu(
  template: MenuItemConstructorOptions[],
  label: string,
): MenuItemConstructorOptions[] {
  const menu = template.find((item) => item.label === label);
  expect(menu, `a ${label} menu`).toBeDefined();
  expect(Array.isArray(menu?.submenu)).toBe(true);
  return menu!.submenu as MenuItemConstructorOptions[];
}

describe.each(PLATFORMS)('the application menu on %s', (platform) => {
  const template = appMenuTemplate(options({ platform }));

  it('has File, Edit, View, Window and Help, in that order', () => {
    const titles = template.map((item) => item.label);
    const expected = ['File', 'Edit', 'View', 'Window', 'Help'];
    expect(platform === 'darwin' ? titles.slice(1) : titles).toEqual(expected);
  });

  it('edits text with the standard roles, so the composer has undo, cut, copy, paste, select all', () => {
    expect(roles(submenu(template, 'Edit'))).toEqual(
      expect.arrayContaining(['undo', 'redo', 'cut', 'copy', 'paste', 'selectAll']),
    );
  });

  it('zooms and goes full screen from View', () => {
    expect(roles(submenu(template, 'View'))).toEqual([
      'resetZoom',
      'zoomIn',
      'zoomOut',
      'togglefullscreen',
    ]);
  });

  it('closes the window from File, and quits from File (or the app menu on macOS)', () => {
    const file = roles(submenu(template, 'File'));
    expect(file).toContain('close');
    if (platform === 'darwin') {
      expect(roles(template[0]!.submenu as MenuItemConstructorOptions[])).toContain('quit');
      expect(file).not.toContain('quit');
    } else {
      expect(file).toContain('quit');
    }
  });

  it('minimises from Window', () => {
    expect(roles(submenu(template, 'Window'))).toContain('minimize');
  });

  it('shows Help → About Socket Workbench (the about role: a panel with the version)', () => {
    expect(submenu(template, 'Help')).toEqual([{ role: 'about', label: 'About Socket Workbench' }]);
  });

  it('is roles only: no click handler, no link, nothing that opens anything outside the app', () => {
    for (const item of allItems(template)) {
      expect(item.click, item.label ?? item.role).toBeUndefined();
      expect(item.role === undefined || item.role !== 'recentDocuments').toBe(true);
    }
    expect(JSON.stringify(template)).not.toMatch(/https?:|mailto:|file:/i);
  });

  it('offers no way into DevTools in a packaged build: no item, so no shortcut', () => {
    const all = roles(allItems(template));
    expect(all).not.toContain('toggleDevTools');
    expect(all).not.toContain('reload');
    expect(all).not.toContain('forceReload');
    for (const item of allItems(template)) expect(item.accelerator).toBeUndefined();
  });

  it('adds reload and DevTools to View in a development build only', () => {
    const dev = appMenuTemplate(options({ platform, isPackaged: false }));
    expect(roles(submenu(dev, 'View')).slice(0, 3)).toEqual([
      'reload',
      'forceReload',
      'toggleDevTools',
    ]);
  });
});

describe('the macOS menu', () => {
  const template = appMenuTemplate(options({ platform: 'darwin' }));

  it('starts with the app menu: About, Services, Hide, Quit', () => {
    expect(template[0]!.label).toBe('Socket Workbench');
    expect(roles(template[0]!.submenu as MenuItemConstructorOptions[])).toEqual([
      'about',
      'services',
      'hide',
      'hideOthers',
      'unhide',
      'quit',
    ]);
  });

  it('makes Window and Help the system menus', () => {
    expect(template.find((item) => item.label === 'Window')?.role).toBe('window');
    expect(template.find((item) => item.label === 'Help')?.role).toBe('help');
  });
});

describe('menu labels', () => {
  it('are English by default and can be replaced, with the app name put into About', () => {
    expect(DEFAULT_MENU_LABELS.about).toBe('About {app}');
    const template = appMenuTemplate(
      options({
        labels: { file: 'Datei', edit: 'Bearbeiten', help: 'Hilfe', about: 'Über {app}' },
      }),
    );
    expect(template.map((item) => item.label)).toEqual([
      'Datei',
      'Bearbeiten',
      'View',
      'Window',
      'Hilfe',
    ]);
    expect(submenu(template, 'Hilfe')[0]!.label).toBe('Über Socket Workbench');
  });
});

describe('aboutPanelOptions', () => {
  it('names the app, its version and what it runs on, with no website', () => {
    const about = aboutPanelOptions(options(), {
      electron: '45.5.0',
      chrome: '142.0.1',
      node: '22.20.0',
    });
    expect(about).toEqual({
      applicationName: 'Socket Workbench',
      applicationVersion: '1.2.3',
      version: '1.2.3',
      copyright: 'Released under the MIT License.',
      credits: 'Electron 45.5.0 · Chromium 142.0.1 · Node.js 22.20.0',
    });
    expect(about.website).toBeUndefined();
  });

  it('leaves the credits out when the versions are unknown', () => {
    expect(aboutPanelOptions(options(), {}).credits).toBeUndefined();
  });
});

describe('a packaged build has no way into DevTools', () => {
  it('turns DevTools off in the window unless told it is a development build', () => {
    expect(windowOptions('/p.cjs').webPreferences?.devTools).toBe(false);
    expect(windowOptions('/p.cjs', { devTools: false }).webPreferences?.devTools).toBe(false);
    expect(windowOptions('/p.cjs', { devTools: true }).webPreferences?.devTools).toBe(true);
  });

  it('main asks for DevTools only when the app is not packaged', () => {
    const main = readFileSync(join(root, 'src/main/index.ts'), 'utf8');
    expect(main).toMatch(/devTools: !app\.isPackaged/);
    expect(main).toMatch(/isPackaged: app\.isPackaged/);
  });

  it('no source opens DevTools or listens for keys to do so', () => {
    const files = readdirSync(join(root, 'src'), { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile() && /\.(ts|svelte|js|html)$/.test(entry.name))
      .map((entry) => join(entry.parentPath, entry.name));
    expect(files.length).toBeGreaterThan(10);
    const offenders = files.filter((file) =>
      /\b(openDevTools|toggleDevTools\s*\(|before-input-event|globalShortcut)\b/.test(
        readFileSync(file, 'utf8'),
      ),
    );
    expect(offenders).toEqual([]);
  });
});
