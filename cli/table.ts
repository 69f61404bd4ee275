// Plain aligned columns for the human views (`borealis status`): a header row, then one row per item,
// two spaces between columns, no borders, no trailing spaces. Widths count terminal columns.
import { type Align, displayWidth, padToWidth } from './text-width.ts';

export interface Column {
  header: string;
  /** @default 'left' */
  align?: Align;
}

/** The lines of a table; every row must have one cell per column. */
export function formatColumns(columns: readonly Column[], rows: readonly (readonly string[])[]): string[] {
  for (const row of rows) {
    if (row.length !== columns.length) {
      throw new Error(`table row has ${row.length} cells for ${columns.length} columns`);
    }
  }
  const widths = columns.map((c, i) =>
    Math.max(displayWidth(c.header), ...rows.map((row) => displayWidth(row[i] ?? ''))),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => padToWidth(cell, widths[i]!, columns[i]!.align ?? 'left'))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...rows.map(line)];
}
