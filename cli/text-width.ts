// Terminal column widths of text, so that tables stay aligned with CJK, emoji and combining marks:
// a wide character takes two columns, a combining mark none. An approximation of wcwidth by
// grapheme cluster (Intl.Segmenter), good enough for aligning a table, not a terminal emulator.

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** East Asian Wide and Fullwidth blocks (inclusive code point ranges). */
const wideRanges: readonly (readonly [number, number])[] = [
  [0x1100, 0x115f],
  [0x231a, 0x231b],
  [0x2329, 0x232a],
  [0x2e80, 0x303e],
  [0x3041, 0x33ff],
  [0x3400, 0x4dbf],
  [0x4e00, 0x9fff],
  [0xa000, 0xa4cf],
  [0xa960, 0xa97f],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe10, 0xfe19],
  [0xfe30, 0xfe6f],
  [0xff00, 0xff60],
  [0xffe0, 0xffe6],
  [0x1f300, 0x1f64f],
  [0x1f900, 0x1f9ff],
  [0x20000, 0x2fffd],
  [0x30000, 0x3fffd],
];

const printableAscii = /^[\x20-\x7e]*$/;
const zeroWidthStart = /^[\p{Mn}\p{Me}\p{Cf}\p{Cc}]/u;
const emojiPresentation = /\p{Emoji_Presentation}|\uFE0F/u;

function isWide(codePoint: number): boolean {
  return wideRanges.some(([first, last]) => codePoint >= first && codePoint <= last);
}

function graphemeWidth(grapheme: string): number {
  if (emojiPresentation.test(grapheme)) return 2;
  if (zeroWidthStart.test(grapheme)) return 0;
  return isWide(grapheme.codePointAt(0) ?? 0) ? 2 : 1;
}

/** Columns `text` takes on a terminal. */
export function displayWidth(text: string): number {
  if (printableAscii.test(text)) return text.length;
  let width = 0;
  for (const { segment } of segmenter.segment(text)) width += graphemeWidth(segment);
  return width;
}

/** `text` cut to at most `widthMax` columns, ending with `…` when something was cut. */
export function truncateToWidth(text: string, widthMax: number): string {
  if (displayWidth(text) <= widthMax) return text;
  if (widthMax <= 0) return '';
  let out = '';
  let width = 0;
  for (const { segment } of segmenter.segment(text)) {
    const w = graphemeWidth(segment);
    if (width + w > widthMax - 1) break;
    out += segment;
    width += w;
  }
  return `${out}…`;
}

export type Align = 'left' | 'right' | 'center';

/** `text` padded with spaces to `width` columns (text wider than that is returned as it is). */
export function padToWidth(text: string, width: number, align: Align = 'left'): string {
  const gap = Math.max(0, width - displayWidth(text));
  if (align === 'right') return ' '.repeat(gap) + text;
  if (align === 'center') {
    const left = Math.floor(gap / 2);
    return ' '.repeat(left) + text + ' '.repeat(gap - left);
  }
  return text + ' '.repeat(gap);
}
