/**
 * The message catalog in use. Every string the UI shows comes through `t`, so switching the
 * language re-renders every label; the choice follows navigator.language until the user picks
 * one, and then persists.
 */
import type { UserError } from '../../../shared/errors';
import { en, type MessageKey } from '../i18n/en';
import { zhCN, zhCNErrors } from '../i18n/zh-CN';

export const languages = ['en', 'zh-CN'] as const;
export type Language = (typeof languages)[number];

const STORAGE_KEY = 'socket-workbench.language';
const catalogs: Record<Language, Record<MessageKey, string>> = { en, 'zh-CN': zhCN };

function isLanguage(value: unknown): value is Language {
  return typeof value === 'string' && (languages as readonly string[]).includes(value);
}

function readStored(): Language | null {
  try {
    const stored = localStorage.getItem(STORAGE_KEY);
    return isLanguage(stored) ? stored : null;
  } catch {
    return null;
  }
}

export function languageFor(preferred: readonly string[]): Language {
  for (const tag of preferred) {
    const lower = tag.toLowerCase();
    if (lower.startsWith('zh')) return 'zh-CN';
    if (lower.startsWith('en')) return 'en';
  }
  return 'en';
}

class I18n {
  language = $state<Language>(
    readStored() ?? languageFor(navigator.languages ?? [navigator.language]),
  );

  set(language: Language): void {
    this.language = language;
    try {
      localStorage.setItem(STORAGE_KEY, language);
    } catch {
      // Storage may be disabled; the choice then lasts for this page only.
    }
  }
}

export const i18n = new I18n();

export type Params = Record<string, string | number>;

export function t(key: MessageKey, params?: Params): string {
  const text = catalogs[i18n.language][key];
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) =>
    Object.hasOwn(params, name) ? String(params[name]) : whole,
  );
}

/** English has a singular; Chinese does not, and its catalog simply repeats the text. */
export function tn(one: MessageKey, many: MessageKey, n: number, params: Params = {}): string {
  return t(n === 1 ? one : many, { n, ...params });
}

/**
 * An engine error for people: in English the engine's own sentence (it names the address);
 * otherwise the catalog's sentence for the code, keeping the English original as detail.
 */
export function describeError(error: UserError): { text: string; detail: string | null } {
  if (i18n.language === 'en') return { text: error.message, detail: null };
  const translated = error.code === 'INTERNAL' ? undefined : zhCNErrors[error.code];
  if (!translated) return { text: error.message, detail: null };
  const position =
    error.position === undefined ? '' : t('error.atPosition', { position: error.position + 1 });
  return { text: `${translated}${position} (${error.code})`, detail: error.message };
}
