import type { ColumnMetadata, Field } from '@aws-sdk/client-rds-data';
import { describe, expect, it } from 'vitest';
import {
  cellText,
  escapeControls,
  fieldValue,
  formatOutcome,
  formatTable,
  formatUpdate,
  outcomeJson,
  outcomeOf,
  uniqueKeys,
} from './sql-format.ts';

const column = (name: string, label = name): ColumnMetadata => ({ name, label });

describe('outcomeOf', () => {
  it('a result set: column labels and unwrapped values', () => {
    const outcome = outcomeOf({
      columnMetadata: [column('id'), column('name', 'who')],
      records: [
        [{ longValue: 1 }, { stringValue: 'ada' }],
        [{ longValue: 2 }, { isNull: true }],
      ],
      numberOfRecordsUpdated: 0,
    });
    expect(outcome).toEqual({
      kind: 'rows',
      columns: ['id', 'who'],
      rows: [
        [1, 'ada'],
        [2, null],
      ],
    });
  });

  it('an empty result set is still a result set', () => {
    expect(outcomeOf({ columnMetadata: [column('id')], records: [], numberOfRecordsUpdated: 0 })).toEqual({
      kind: 'rows',
      columns: ['id'],
      rows: [],
    });
  });

  it('a statement without a result set: rows affected and generated fields', () => {
    expect(outcomeOf({ numberOfRecordsUpdated: 1, generatedFields: [{ longValue: 42 }] })).toEqual({
      kind: 'update',
      numberOfRecordsUpdated: 1,
      generatedFields: [42],
    });
    expect(outcomeOf({})).toEqual({ kind: 'update', numberOfRecordsUpdated: 0, generatedFields: [] });
  });
});

describe('fieldValue', () => {
  it.each<[Field, unknown]>([
    [{ isNull: true }, null],
    [{ booleanValue: false }, false],
    [{ longValue: 0 }, 0],
    [{ doubleValue: 1.5 }, 1.5],
    [{ stringValue: '' }, ''],
    [{ blobValue: new Uint8Array([1, 2]) }, new Uint8Array([1, 2])],
    [{ arrayValue: { longValues: [1, 2] } }, [1, 2]],
    [{ arrayValue: { arrayValues: [{ stringValues: ['a'] }] } }, [['a']]],
  ])('%j', (field, value) => {
    expect(fieldValue(field)).toEqual(value);
  });
});

describe('formatTable', () => {
  it('looks like psql: centred headers, numbers right, text left, NULL, row count', () => {
    expect(
      formatTable(
        ['id', 'name', 'score'],
        [
          [1, 'ada', 9.5],
          [22, null, null],
          [333, 'grace hopper', 10],
        ],
      ),
    ).toBe(
      [
        ' id  |     name     | score',
        '-----+--------------+-------',
        '   1 | ada          |   9.5',
        '  22 | NULL         |  NULL',
        ' 333 | grace hopper |    10',
        '(3 rows)',
        '',
      ].join('\n'),
    );
  });

  it('says (1 row) and (0 rows)', () => {
    expect(formatTable(['x'], [['a']])).toBe(' x\n---\n a\n(1 row)\n');
    expect(formatTable(['id'], [])).toBe(' id\n----\n(0 rows)\n');
  });

  it('aligns wide characters by terminal columns', () => {
    expect(
      formatTable(
        ['name', 'n'],
        [
          ['日本', 1],
          ['ab', 22],
        ],
      ),
    ).toBe([' name | n', '------+----', ' 日本 |  1', ' ab   | 22', '(2 rows)', ''].join('\n'));
  });

  it('cuts long values with … and keeps them whole with an infinite width', () => {
    const long = 'x'.repeat(100);
    const cut = formatTable(['v'], [[long]], { cellWidthMax: 10 });
    expect(cut).toContain(` ${'x'.repeat(9)}…\n`);
    expect(formatTable(['v'], [[long]], { cellWidthMax: Number.POSITIVE_INFINITY })).toContain(long);
  });

  it('keeps every row on one line whatever the value holds', () => {
    const text = formatTable(['v'], [['line one\nline two\ttab\u001b[31m']]);
    expect(text.split('\n')).toHaveLength(5);
    expect(text).toContain('line one\\nline two\\ttab\\x1b[31m');
  });
});

describe('cells', () => {
  it('render each kind of value', () => {
    expect(cellText(null)).toBe('NULL');
    expect(cellText(true)).toBe('true');
    expect(cellText(-1.25)).toBe('-1.25');
    expect(cellText(new Uint8Array([0, 255]))).toBe('\\x00ff');
    expect(cellText([1, null, 'a'])).toBe('{1,NULL,a}');
  });

  it('escapeControls leaves printable unicode alone', () => {
    expect(escapeControls('héllo 日本 👍')).toBe('héllo 日本 👍');
    expect(escapeControls('a\r\nb\u0000')).toBe('a\\r\\nb\\x00');
  });
});

describe('formatUpdate', () => {
  it('rows affected, singular and plural, with the generated id', () => {
    expect(formatUpdate({ kind: 'update', numberOfRecordsUpdated: 0, generatedFields: [] })).toBe(
      '0 rows affected',
    );
    expect(formatUpdate({ kind: 'update', numberOfRecordsUpdated: 1, generatedFields: [42] })).toBe(
      '1 row affected (generated id 42)',
    );
    expect(formatUpdate({ kind: 'update', numberOfRecordsUpdated: 3, generatedFields: [null] })).toBe(
      '3 rows affected',
    );
    expect(formatOutcome({ kind: 'update', numberOfRecordsUpdated: 2, generatedFields: [7, 'k'] })).toBe(
      '2 rows affected (generated 7, k)\n',
    );
  });
});

describe('outcomeJson', () => {
  it('rows as objects: numbers as numbers, null as null, blobs as base64, arrays as arrays', () => {
    const json = outcomeJson({
      kind: 'rows',
      columns: ['id', 'ok', 'note', 'data', 'tags'],
      rows: [[1, true, null, new Uint8Array([104, 105]), ['a', 'b']]],
    });
    expect(JSON.parse(JSON.stringify(json))).toEqual([
      { id: 1, ok: true, note: null, data: 'aGk=', tags: ['a', 'b'] },
    ]);
  });

  it('writes as {numberOfRecordsUpdated, generatedFields}', () => {
    expect(outcomeJson({ kind: 'update', numberOfRecordsUpdated: 1, generatedFields: [42] })).toEqual({
      numberOfRecordsUpdated: 1,
      generatedFields: [42],
    });
  });

  it('repeated column labels get a suffix instead of overwriting each other', () => {
    expect(uniqueKeys(['a', 'a', 'b', 'a', 'a_2'])).toEqual(['a', 'a_2', 'b', 'a_3', 'a_2_2']);
    expect(outcomeJson({ kind: 'rows', columns: ['x', 'x'], rows: [[1, 2]] })).toEqual([{ x: 1, x_2: 2 }]);
  });
});
