/**
 * The application menu and the About panel, as plain data built from a few values, so the unit
 * tests check every platform's menu without the Electron binary. Only Electron *types* are
 * imported; index.ts hands the template to Menu.buildFromTemplate.
 *
 * Every item is a standard role: the OS (macOS) or Electron (Windows, Linux) supplies its
 * behaviour, label and shortcut. There are no click handlers and no links: nothing here can open
 * a URL or run anything outside the app.
 */
import type { AboutPanelOptionsOptions, MenuItemConstructorOptions } from 'electron';

/** The menu titles that are not roles' own labels; `{app}` in `about` is the app's name. */
export interface MenuLabels {
  file: string;
  edit: string;
  view: string;
  window: string;
  help: string;
  about: string;
}

export const DEFAULT_MENU_LABELS: MenuLabels = {
  file: 'File',
  edit: 'Edit',
  view: 'View',
  window: 'Window',
  help: 'Help',
  about: 'About {app}',
};

export interface AppMenuOptions {
  platform: NodeJS.Platform;
  /**
   * A packaged build has no way into DevTools (and no reload, which would drop the page's view
   * state for nothing a user needs): those items exist only while developing.
   */
  isPackaged: boolean;
  appName: string;
  version: string;
  labels?: Partial<MenuLabels>;
}

const separator: MenuItemConstructorOptions = { type: 'separator' };

/** The application menu for one platform and build. */
export function appMenuTemplate(options: AppMenuOptions): MenuItemConstructorOptions[] {
  const labels = { ...DEFAULT_MENU_LABELS, ...options.labels };
  const mac = options.platform === 'darwin';
  const about: MenuItemConstructorOptions = {
    // Windows and Linux: Electron shows app.showAboutPanel() with aboutPanelOptions() below;
    // macOS: the native panel, with the same options.
    role: 'about',
    label: labels.about.replaceAll('{app}', options.appName),
  };

  const template: MenuItemConstructorOptions[] = [];
  if (mac) {
    template.push({
      label: options.appName,
      submenu: [
        about,
        separator,
        { role: 'services' },
        separator,
        { role: 'hide' },
        { role: 'hideOthers' },
        { role: 'unhide' },
        separator,
        { role: 'quit' },
      ],
    });
  }

  template.push({
    label: labels.file,
    // macOS quits from the app menu; elsewhere File holds Quit (Ctrl+Q; "Exit" on Windows).
    submenu: mac ? [{ role: 'close' }] : [{ role: 'close' }, separator, { role: 'quit' }],
  });

  // On macOS the text fields' Cmd+C/V/X/A/Z work only through these items: without them the
  // composer could not copy or paste there.
  template.push({
    label: labels.edit,
    submenu: [
      { role: 'undo' },
      { role: 'redo' },
      separator,
      { role: 'cut' },
      { role: 'copy' },
      { role: 'paste' },
      ...(mac ? [{ role: 'pasteAndMatchStyle' } as const] : []),
      { role: 'delete' },
      separator,
      { role: 'selectAll' },
    ],
  });

  const development: MenuItemConstructorOptions[] = options.isPackaged
    ? []
    : [{ role: 'reload' }, { role: 'forceReload' }, { role: 'toggleDevTools' }, separator];
  template.push({
    label: labels.view,
    submenu: [
      ...development,
      { role: 'resetZoom' },
      { role: 'zoomIn' },
      { role: 'zoomOut' },
      separator,
      { role: 'togglefullscreen' },
    ],
  });

  template.push({
    label: labels.window,
    // 'window' on macOS makes it the system's Window menu (the list of windows, Bring All to
    // Front); 'zoom' and 'front' do nothing elsewhere, so they are macOS-only.
    ...(mac ? { role: 'window' as const } : {}),
    submenu: mac
      ? [{ role: 'minimize' }, { role: 'zoom' }, separator, { role: 'front' }]
      : [{ role: 'minimize' }],
  });

  template.push({
    label: labels.help,
    // 'help' on macOS adds the system's search field to the menu.
    ...(mac ? { role: 'help' as const } : {}),
    submenu: [about],
  });
  return template;
}

/** What the About panel says: name, version and what the app runs on. No website, no links. */
export function aboutPanelOptions(
  options: Pick<AppMenuOptions, 'appName' | 'version'>,
  versions: { electron?: string; chrome?: string; node?: string },
): AboutPanelOptionsOptions {
  const runtime = [
    versions.electron && `Electron ${versions.electron}`,
    versions.chrome && `Chromium ${versions.chrome}`,
    versions.node && `Node.js ${versions.node}`,
  ].filter((part): part is string => typeof part === 'string' && part.length > 0);
  return {
    applicationName: options.appName,
    applicationVersion: options.version,
    // macOS shows this in brackets after the version; the same string reads as one number.
    version: options.version,
    copyright: 'Released under the MIT License.',
    ...(runtime.length > 0 ? { credits: runtime.join(' · ') } : {}),
  };
}
