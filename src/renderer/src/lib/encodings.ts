import type { TextEncoding } from '../../../shared/contract';

/** Encoding names as people know them; the same in every language. */
export const encodingNames: Record<TextEncoding, string> = {
  'utf-8': 'UTF-8',
  latin1: 'Latin-1 (ISO-8859-1)',
  ascii: 'ASCII',
  'utf-16le': 'UTF-16LE',
  'utf-16be': 'UTF-16BE',
  gbk: 'GBK',
  gb18030: 'GB18030',
  big5: 'Big5',
  shift_jis: 'Shift_JIS',
  'euc-kr': 'EUC-KR',
};
