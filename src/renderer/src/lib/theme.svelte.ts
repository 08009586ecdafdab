/**
 * Light or dark, following prefers-color-scheme. CSS follows it by itself; this exists for the
 * xterm theme, which is configured from script.
 */
import type { ITheme } from '@xterm/xterm';

class ColorScheme {
  dark = $state(false);

  constructor() {
    const query = window.matchMedia('(prefers-color-scheme: dark)');
    this.dark = query.matches;
    query.addEventListener('change', (event) => {
      this.dark = event.matches;
    });
  }
}

export const colorScheme = new ColorScheme();

/** Received bytes are green, sent bytes blue; both readable on their background (WCAG AA). */
export const terminalThemes: Record<'light' | 'dark', ITheme> = {
  light: {
    background: '#ffffff',
    foreground: '#1f2328',
    cursor: '#ffffff',
    cursorAccent: '#ffffff',
    selectionBackground: '#b6d7ff',
    black: '#1f2328',
    green: '#116329',
    blue: '#0550ae',
    brightBlack: '#6e7781',
    red: '#cf222e',
    yellow: '#7d4e00',
    magenta: '#8250df',
    cyan: '#1b7c83',
    white: '#6e7781',
  },
  dark: {
    background: '#0d1117',
    foreground: '#e6edf3',
    cursor: '#0d1117',
    cursorAccent: '#0d1117',
    selectionBackground: '#264f78',
    black: '#484f58',
    green: '#3fb950',
    blue: '#58a6ff',
    brightBlack: '#8b949e',
    red: '#ff7b72',
    yellow: '#d29922',
    magenta: '#bc8cff',
    cyan: '#39c5cf',
    white: '#b1bac4',
  },
};
