import { describe, expect, it } from 'vitest';
import { formatColumns } from './table.ts';
import { displayWidth, padToWidth, truncateToWidth } from './text-width.ts';

describe('displayWidth', () => {
  it.each([
    ['', 0],
    ['abc', 3],
    ['héllo', 5],
    ['e\u0301', 1], // e + combining acute
    ['日本語', 6],
    ['한국', 4],
    ['ｆｕｌｌ', 8], // fullwidth latin
    ['👍', 2],
    ['👩‍💻', 2], // ZWJ sequence: one grapheme
    ['🇫🇷', 2], // regional indicator pair
    ['a\u200bb', 2], // zero-width space
  ])('%j is %i columns', (text, width) => {
    expect(displayWidth(text)).toBe(width);
  });
});

describe('truncateToWidth', () => {
  it('keeps text that fits', () => {
    expect(truncateToWidth('abc', 3)).toBe('abc');
  });

  it('cuts with … within the width', () => {
    expect(truncateToWidth('abcdef', 4)).toBe('abc…');
    expect(truncateToWidth('日本語テキスト', 7)).toBe('日本語…');
    expect(displayWidth(truncateToWidth('日本語テキスト', 6))).toBeLessThanOrEqual(6);
    expect(truncateToWidth('👩‍💻👩‍💻👩‍💻', 5)).toBe('👩‍💻👩‍💻…');
  });
});

it('padToWidth pads by columns', () => {
  expect(padToWidth('日本', 6)).toBe('日本  ');
  expect(padToWidth('7', 3, 'right')).toBe('  7');
  expect(padToWidth('ab', 6, 'center')).toBe('  ab  ');
  expect(padToWidth('toolong', 3)).toBe('toolong');
});

describe('formatColumns', () => {
  it('aligns columns two spaces apart, numbers right, no trailing spaces', () => {
    const lines = formatColumns(
      [{ header: 'ID' }, { header: 'PID', align: 'right' }, { header: 'NOTE' }],
      [
        ['sn-1', '42', ''],
        ['日本', '4200', 'x'],
      ],
    );
    expect(lines).toEqual(['ID     PID  NOTE', 'sn-1    42', '日本  4200  x']);
  });

  it('rejects a row with the wrong number of cells', () => {
    expect(() => formatColumns([{ header: 'A' }], [['1', '2']])).toThrow(/2 cells for 1 columns/);
  });
});
