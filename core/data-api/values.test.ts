// Conversions between Data API wire shapes and engine values: the lossless JSON codec, Fields both ways,
// SqlParameter validation, column metadata and formattedRecords.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DataApiError } from './errors.ts';
import type { ResultColumn, SqlValue } from './types.ts';
import {
  columnMetadataFor,
  decodeSqlParameter,
  fieldFromValue,
  formatRecordsAsJson,
  jsonDepthMax,
  parametersFromWire,
  parseJsonLossless,
  parseJsonWithBigInts,
  stringifyJson,
  valueFromField,
  valueFromSqlParameter,
} from './values.ts';

const int64Min = -(2n ** 63n);
const int64Max = 2n ** 63n - 1n;

/** Replaces bigints by the number JSON.parse would have produced, for comparisons with it. */
function asJsonParseWould(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(asJsonParseWould);
  if (typeof value === 'object' && value !== null) {
    const copy: Record<string, unknown> = {};
    for (const [key, member] of Object.entries(value)) {
      Object.defineProperty(copy, key, { value: asJsonParseWould(member), enumerable: true, writable: true });
    }
    return copy;
  }
  return value;
}

function isSafe(value: bigint): boolean {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER);
}

function badRequestMessage(call: () => unknown): string {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(DataApiError);
    expect((error as DataApiError).name).toBe('BadRequestException');
    return (error as DataApiError).message;
  }
  throw new Error('expected a BadRequestException');
}

const int64 = fc.bigInt({ min: int64Min, max: int64Max });

const sqlValue: fc.Arbitrary<SqlValue> = fc.oneof(
  fc.constant(null),
  int64,
  fc.double(),
  fc.string({ unit: 'grapheme' }),
  fc.boolean(),
  fc.uint8Array({ maxLength: 64 }),
);

describe('parseJsonLossless', () => {
  it('agrees with JSON.parse on any JSON text, up to integers JSON.parse would round', () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 4 }), (text) => {
        const expected = JSON.parse(text);
        expect(asJsonParseWould(parseJsonWithBigInts(text))).toEqual(expected);
        expect(asJsonParseWould(parseJsonLossless(text))).toEqual(expected);
      }),
    );
  });

  it('keeps every 64-bit integer exact: a bigint outside the safe range, a number inside it', () => {
    fc.assert(
      fc.property(int64, (value) => {
        const parsed = parseJsonLossless(`{"longValue": ${value}}`) as { longValue: unknown };
        expect(parsed.longValue).toBe(isSafe(value) ? Number(value) : value);
      }),
    );
  });

  it('reads fractions and exponents as numbers, even with many digits', () => {
    expect(
      parseJsonLossless('[12345678901234567890.5, 1e400, -0, 1.0000000000000002, 123456789012345678e2]'),
    ).toEqual([
      Number('12345678901234567890.5'),
      Number.POSITIVE_INFINITY,
      -0,
      1.0000000000000002,
      Number('123456789012345678e2'),
    ]);
    expect(Object.is((parseJsonWithBigInts('-0') as number) + 0, 0)).toBe(true);
    expect(Object.is(parseJsonWithBigInts('-0'), -0)).toBe(true);
  });

  it('rejects what JSON.parse rejects, with a SyntaxError', () => {
    const invalid = [
      '',
      ' ',
      '{',
      '[1,]',
      '{"a":1,}',
      '01',
      '-',
      '1.',
      '.5',
      '+1',
      '"\u0001"',
      '"abc',
      '"abc\\',
      'tru',
      'nul',
      '{"a" 1}',
      '{a:1}',
      "'a'",
      '[1 2]',
      '1 2',
      '"\\x"',
      'NaN',
      '[12345678901234567890',
      '{"n": 12345678901234567890',
    ];
    for (const text of invalid) {
      expect(() => JSON.parse(text), text).toThrow(SyntaxError);
      expect(() => parseJsonWithBigInts(text), text).toThrow(SyntaxError);
    }
  });

  it(`accepts nesting up to ${jsonDepthMax} levels and refuses deeper`, () => {
    const nested = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`;
    expect(() => parseJsonWithBigInts(nested(jsonDepthMax))).not.toThrow();
    expect(() => parseJsonWithBigInts(nested(jsonDepthMax + 1))).toThrow(/nested deeper/);
  });

  it('keeps a "__proto__" key as a plain property, as JSON.parse does', () => {
    const parsed = parseJsonWithBigInts('{"__proto__": {"polluted": 12345678901234567890}}') as Record<
      string,
      unknown
    >;
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(Object.hasOwn(parsed, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('decodes string escapes', () => {
    expect(
      parseJsonWithBigInts('["a\\"b\\\\c\\n\\u00e9\\ud83d\\ude00", "plain", 12345678901234567890]'),
    ).toEqual(['a"b\\c\né😀', 'plain', 12345678901234567890n]);
  });
});

describe('stringifyJson', () => {
  it('writes bigints as exact JSON numbers and keeps the sign of -0', () => {
    expect(stringifyJson({ a: int64Max, b: [int64Min, -0, 1.5], c: undefined, d: null, e: 'x"y' })).toBe(
      '{"a":9223372036854775807,"b":[-9223372036854775808,-0,1.5],"d":null,"e":"x\\"y"}',
    );
  });

  it('round-trips through parseJsonLossless for any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        expect(asJsonParseWould(parseJsonLossless(stringifyJson(value)))).toEqual(value);
      }),
    );
  });

  it('refuses values JSON cannot hold', () => {
    expect(() => stringifyJson(Number.NaN)).toThrow(TypeError);
    expect(() => stringifyJson({ a: Number.POSITIVE_INFINITY })).toThrow(TypeError);
    expect(() => stringifyJson(new Uint8Array(1))).toThrow(TypeError);
    expect(() => stringifyJson(() => 1)).toThrow(TypeError);
  });
});

describe('fieldFromValue', () => {
  it('maps each SqlValue to its Field member', () => {
    expect(fieldFromValue(null)).toEqual({ isNull: true });
    expect(fieldFromValue(7n)).toEqual({ longValue: 7n });
    expect(fieldFromValue(int64Max)).toEqual({ longValue: int64Max });
    expect(fieldFromValue(2.5)).toEqual({ doubleValue: 2.5 });
    expect(fieldFromValue(3)).toEqual({ doubleValue: 3 });
    expect(fieldFromValue('text')).toEqual({ stringValue: 'text' });
    expect(fieldFromValue(false)).toEqual({ booleanValue: false });
    expect(fieldFromValue(new Uint8Array([0, 1, 254, 255]))).toEqual({ blobValue: 'AAH+/w==' });
    expect(fieldFromValue(new Uint8Array())).toEqual({ blobValue: '' });
  });

  it('spells non-finite doubles as the strings the SDK reads back', () => {
    expect(fieldFromValue(Number.NaN)).toEqual({ doubleValue: 'NaN' });
    expect(fieldFromValue(Number.POSITIVE_INFINITY)).toEqual({ doubleValue: 'Infinity' });
    expect(fieldFromValue(Number.NEGATIVE_INFINITY)).toEqual({ doubleValue: '-Infinity' });
  });

  it('returns integers as strings for longReturnType STRING, and decimals as strings when asked', () => {
    expect(fieldFromValue(int64Min, 'STRING')).toEqual({ stringValue: '-9223372036854775808' });
    expect(fieldFromValue(2.5, 'STRING')).toEqual({ doubleValue: 2.5 });
    expect(fieldFromValue(12n, 'LONG', true)).toEqual({ stringValue: '12' });
    expect(fieldFromValue(9.95, 'LONG', true)).toEqual({ stringValue: '9.95' });
    expect(fieldFromValue(null, 'STRING', true)).toEqual({ isNull: true });
  });

  it('writes a bigint beyond 2^53 with every digit', () => {
    expect(stringifyJson(fieldFromValue(2n ** 63n - 1n))).toBe('{"longValue":9223372036854775807}');
  });

  it('round-trips any SqlValue through the wire as a request Field', () => {
    fc.assert(
      fc.property(sqlValue, (value) => {
        const wire = parseJsonLossless(stringifyJson(fieldFromValue(value)));
        const back = valueFromField(wire, 'value');
        if (typeof value === 'number')
          expect(Object.is(back, value) || (Number.isNaN(back) && Number.isNaN(value))).toBe(true);
        else expect(back).toEqual(value);
      }),
    );
  });
});

describe('valueFromSqlParameter', () => {
  it('decodes each Field member', () => {
    expect(valueFromSqlParameter({ name: 'a', value: { isNull: true } })).toBe(null);
    expect(valueFromSqlParameter({ name: 'a', value: { longValue: 5 } })).toBe(5n);
    expect(valueFromSqlParameter({ name: 'a', value: { longValue: -0 } })).toBe(0n);
    expect(valueFromSqlParameter({ name: 'a', value: { longValue: int64Max } })).toBe(int64Max);
    expect(valueFromSqlParameter({ name: 'a', value: { doubleValue: 0.1 } })).toBe(0.1);
    expect(valueFromSqlParameter({ name: 'a', value: { doubleValue: 'NaN' } })).toBeNaN();
    expect(valueFromSqlParameter({ name: 'a', value: { doubleValue: '-Infinity' } })).toBe(
      Number.NEGATIVE_INFINITY,
    );
    expect(valueFromSqlParameter({ name: 'a', value: { doubleValue: 12345678901234567890n } })).toBe(
      Number('12345678901234567890'),
    );
    expect(valueFromSqlParameter({ name: 'a', value: { stringValue: '' } })).toBe('');
    expect(valueFromSqlParameter({ name: 'a', value: { booleanValue: false } })).toBe(false);
    expect(valueFromSqlParameter({ name: 'a', value: { blobValue: 'AAH+/w==' } })).toEqual(
      new Uint8Array([0, 1, 254, 255]),
    );
    expect(valueFromSqlParameter({ name: 'a', value: { blobValue: 'AAH+/w' } })).toEqual(
      new Uint8Array([0, 1, 254, 255]),
    );
    // A null member is an absent member, as Smithy reads JSON.
    expect(valueFromSqlParameter({ name: 'a', value: { isNull: null, longValue: 1 } })).toBe(1n);
  });

  it('returns a blob that owns its bytes', () => {
    const blob = valueFromSqlParameter({ name: 'a', value: { blobValue: 'AQID' } }) as Uint8Array;
    expect(Object.getPrototypeOf(blob)).toBe(Uint8Array.prototype);
    expect(blob.byteOffset).toBe(0);
    expect(blob.buffer.byteLength).toBe(3);
  });

  it('accepts well-formed typeHint values and keeps them as strings', () => {
    const hinted: [string, string][] = [
      ['DATE', '2024-02-29'],
      ['TIME', '23:59:59'],
      ['TIME', '00:00:00.123'],
      ['TIMESTAMP', '2024-01-01 00:00:00'],
      ['TIMESTAMP', '2024-01-01 12:30:45.123456'],
      ['DECIMAL', '-12.50'],
      ['DECIMAL', '1e10'],
      ['DECIMAL', '.5'],
      ['UUID', '123e4567-e89b-12d3-a456-426614174000'],
      ['JSON', '{"a":[1,2]}'],
      ['JSON', '"just a string"'],
    ];
    for (const [typeHint, text] of hinted) {
      expect(valueFromSqlParameter({ name: 'a', value: { stringValue: text }, typeHint })).toBe(text);
    }
  });

  it('rejects malformed typeHint values with the expected format', () => {
    const bad: [string, string, RegExp][] = [
      ['DATE', '2024-2-1', /YYYY-MM-DD/],
      ['DATE', '2024-00-10', /YYYY-MM-DD/],
      ['TIME', '24:00:00', /HH:MM:SS/],
      ['TIMESTAMP', '2024-01-01T00:00:00', /YYYY-MM-DD HH:MM:SS/],
      ['DECIMAL', '1,5', /decimal number/],
      ['DECIMAL', 'NaN', /decimal number/],
      ['UUID', '123e4567e89b12d3a456426614174000', /UUID/],
      ['JSON', '{a:1}', /JSON document/],
    ];
    for (const [typeHint, text, message] of bad) {
      expect(
        badRequestMessage(() => valueFromSqlParameter({ name: 'a', value: { stringValue: text }, typeHint })),
      ).toMatch(message);
    }
    expect(
      badRequestMessage(() =>
        valueFromSqlParameter({ name: 'a', value: { longValue: 1 }, typeHint: 'DECIMAL' }),
      ),
    ).toMatch(/applies to a stringValue only/);
    expect(
      badRequestMessage(() =>
        valueFromSqlParameter({ name: 'a', value: { stringValue: 'x' }, typeHint: 'XML' }),
      ),
    ).toMatch(/unknown typeHint/);
  });

  it('validates parameter names', () => {
    // Names may start with a digit, as AWS accepts them: kysely-data-api in mysql mode names them 0, 1, …
    for (const name of ['a', '_', 'A_1', 'snake_case_99', '0', '1', '12', '1a']) {
      expect(decodeSqlParameter({ name, value: { isNull: true } }).name).toBe(name);
    }
    for (const name of [':a', 'a-b', 'a b', 'é', '', 7]) {
      expect(badRequestMessage(() => valueFromSqlParameter({ name, value: { isNull: true } }))).toMatch(
        /name/,
      );
    }
    expect(badRequestMessage(() => valueFromSqlParameter({ value: { isNull: true } }))).toMatch(
      /has no name/,
    );
  });

  it('rejects values without exactly one valid member', () => {
    const bad: [unknown, RegExp][] = [
      [undefined, /has no value/],
      [{}, /has no value/],
      [{ other: 1 }, /has no value/],
      [{ longValue: 1, stringValue: 'x' }, /sets longValue and stringValue/],
      [{ isNull: false }, /isNull must be true/],
      [{ arrayValue: { longValues: [1] } }, /arrays are not supported/],
      [{ longValue: 1.5 }, /must be an integer/],
      [{ longValue: '1' }, /must be an integer/],
      [{ longValue: 2n ** 63n }, /outside the 64-bit integer range/],
      [{ longValue: 1e300 }, /outside the 64-bit integer range/],
      [{ doubleValue: 'inf' }, /must be a number/],
      [{ booleanValue: 'true' }, /must be a boolean/],
      [{ stringValue: 5 }, /must be a string/],
      [{ blobValue: 'not base64!' }, /must be base64/],
      [{ blobValue: 'A' }, /must be base64/],
      [{ blobValue: [1, 2] }, /must be base64/],
    ];
    for (const [value, message] of bad) {
      expect(
        badRequestMessage(() => valueFromSqlParameter({ name: 'p', value })),
        stringifyJson(value ?? null),
      ).toMatch(message);
    }
    expect(badRequestMessage(() => valueFromSqlParameter('p'))).toMatch(/must be an object/);
    expect(badRequestMessage(() => valueFromSqlParameter({ name: 'p', value: { isNull: 1 } }))).toMatch(/:p/);
  });
});

describe('parametersFromWire', () => {
  it('builds the executor map keyed without the colon', () => {
    expect(
      parametersFromWire([
        { name: 'id', value: { longValue: 1 } },
        { name: 'title', value: { stringValue: 'x' } },
      ]),
    ).toEqual(
      new Map<string, SqlValue>([
        ['id', 1n],
        ['title', 'x'],
      ]),
    );
    expect(parametersFromWire(undefined)).toEqual(new Map());
    expect(parametersFromWire(null)).toEqual(new Map());
    expect(parametersFromWire([])).toEqual(new Map());
  });

  it('rejects duplicates and non-lists, naming the position', () => {
    const twice = [
      { name: 'a', value: { isNull: true } },
      { name: 'a', value: { isNull: true } },
    ];
    expect(badRequestMessage(() => parametersFromWire(twice))).toMatch(/:a is given more than once/);
    expect(badRequestMessage(() => parametersFromWire({ a: 1 }))).toMatch(/must be a list/);
    expect(badRequestMessage(() => parametersFromWire([{ name: 'ok', value: { isNull: true } }, 3]))).toMatch(
      /parameters\[1\]/,
    );
  });
});

describe('columnMetadataFor', () => {
  const typeOf = (declaredType: string) => {
    const metadata = columnMetadataFor({ name: 'c', declaredType }, []);
    return [metadata.type, metadata.typeName, metadata.precision, metadata.scale];
  };

  it('maps declared SQLite/MySQL type names to JDBC types', () => {
    const unbounded = 2_147_483_647;
    const expected: [string, [number, string, number, number]][] = [
      ['INTEGER', [-5, 'INTEGER', 19, 0]],
      ['integer', [-5, 'INTEGER', 19, 0]],
      ['BIGINT', [-5, 'BIGINT', 19, 0]],
      ['INT', [4, 'INT', 10, 0]],
      ['INT(11)', [4, 'INT', 10, 0]],
      ['MEDIUMINT', [4, 'MEDIUMINT', 10, 0]],
      ['SMALLINT', [5, 'SMALLINT', 5, 0]],
      ['TINYINT', [-6, 'TINYINT', 3, 0]],
      ['UNSIGNED BIG INT', [-5, 'UNSIGNED BIG INT', 19, 0]],
      ['REAL', [8, 'REAL', 22, 0]],
      ['DOUBLE', [8, 'DOUBLE', 22, 0]],
      ['double  precision', [8, 'DOUBLE PRECISION', 22, 0]],
      ['FLOAT', [8, 'FLOAT', 22, 0]],
      ['NUMERIC', [3, 'NUMERIC', 65, 0]],
      ['DECIMAL(10, 2)', [3, 'DECIMAL', 10, 2]],
      ['DECIMAL(5)', [3, 'DECIMAL', 5, 0]],
      ['TEXT', [12, 'TEXT', unbounded, 0]],
      ['VARCHAR(255)', [12, 'VARCHAR', 255, 0]],
      ['CHAR(3)', [12, 'CHAR', 3, 0]],
      ['NVARCHAR(10)', [12, 'NVARCHAR', 10, 0]],
      ['CLOB', [12, 'CLOB', unbounded, 0]],
      ['BLOB', [2004, 'BLOB', unbounded, 0]],
      ['LONGBLOB', [2004, 'LONGBLOB', unbounded, 0]],
      ['BINARY(16)', [-2, 'BINARY', 16, 0]],
      ['VARBINARY(8)', [-3, 'VARBINARY', 8, 0]],
      ['BOOLEAN', [-7, 'BOOLEAN', 1, 0]],
      ['BOOL', [-7, 'BOOL', 1, 0]],
      ['DATE', [91, 'DATE', 10, 0]],
      ['TIME', [92, 'TIME', 8, 0]],
      ['DATETIME', [93, 'DATETIME', 19, 0]],
      ['TIMESTAMP', [93, 'TIMESTAMP', 19, 0]],
      ['JSON', [12, 'JSON', unbounded, 0]],
    ];
    for (const [declared, metadata] of expected) {
      expect(typeOf(declared), declared).toEqual(metadata);
    }
  });

  it('infers undeclared or unknown types from the first non-null value, VARCHAR by default', () => {
    const inferred = (declaredType: string | undefined, values: SqlValue[]) => {
      const column: ResultColumn = declaredType === undefined ? { name: 'c' } : { name: 'c', declaredType };
      const metadata = columnMetadataFor(column, values);
      return [metadata.type, metadata.typeName];
    };
    expect(inferred(undefined, [null, 1n])).toEqual([-5, 'BIGINT']);
    expect(inferred(undefined, [1.5])).toEqual([8, 'DOUBLE']);
    expect(inferred(undefined, ['x'])).toEqual([12, 'VARCHAR']);
    expect(inferred(undefined, [true])).toEqual([-7, 'BIT']);
    expect(inferred(undefined, [new Uint8Array(1)])).toEqual([2004, 'BLOB']);
    expect(inferred(undefined, [null])).toEqual([12, 'VARCHAR']);
    expect(inferred(undefined, [])).toEqual([12, 'VARCHAR']);
    expect(inferred('WIDGET', [2n])).toEqual([-5, 'BIGINT']);
    expect(inferred('((', ['x'])).toEqual([12, 'VARCHAR']);
  });

  it('fills the remaining fields: label, nullability, sign, case sensitivity, table', () => {
    expect(
      columnMetadataFor({ name: 'total', declaredType: 'INTEGER', tableName: 'orders' }, [1n, null]),
    ).toEqual({
      name: 'total',
      label: 'total',
      type: -5,
      typeName: 'INTEGER',
      nullable: 1,
      precision: 19,
      scale: 0,
      isSigned: true,
      isAutoIncrement: false,
      isCaseSensitive: false,
      isCurrency: false,
      arrayBaseColumnType: 0,
      schemaName: '',
      tableName: 'orders',
    });
    const text = columnMetadataFor({ name: 't', declaredType: 'TEXT' }, ['a']);
    expect([text.nullable, text.isSigned, text.isCaseSensitive, text.tableName]).toEqual([
      2,
      false,
      true,
      '',
    ]);
    expect(columnMetadataFor({ name: 'u', declaredType: 'UNSIGNED BIG INT' }, []).isSigned).toBe(false);
  });
});

describe('formatRecordsAsJson', () => {
  const columns: ResultColumn[] = [
    { name: 'id', declaredType: 'INTEGER' },
    { name: 'price', declaredType: 'DECIMAL(8,2)' },
    { name: 'ratio' },
    { name: 'name' },
    { name: 'photo' },
    { name: 'ok' },
    { name: 'gone' },
  ];
  const rows: SqlValue[][] = [
    [int64Max, 9.5, 0.5, 'a"b', new Uint8Array([255]), true, null],
    [1n, 3n, Number.NaN, '', new Uint8Array(), false, null],
  ];

  it('writes one object per row keyed by label, blobs as base64, bigints with every digit', () => {
    expect(formatRecordsAsJson(columns, rows)).toBe(
      '[{"id":9223372036854775807,"price":"9.5","ratio":0.5,"name":"a\\"b","photo":"/w==","ok":true,"gone":null},' +
        '{"id":1,"price":"3","ratio":"NaN","name":"","photo":"","ok":false,"gone":null}]',
    );
  });

  it('honours longReturnType STRING and decimalReturnType DOUBLE_OR_LONG', () => {
    const parsed = JSON.parse(
      formatRecordsAsJson(columns, rows, { longReturnType: 'STRING', decimalReturnType: 'DOUBLE_OR_LONG' }),
    ) as Record<string, unknown>[];
    expect(parsed[0]).toMatchObject({ id: '9223372036854775807', price: 9.5 });
    expect(parsed[1]).toMatchObject({ id: '1', price: '3' });
  });

  it('keeps the last of columns sharing a label, and writes [] for no rows', () => {
    expect(formatRecordsAsJson([{ name: 'a' }, { name: 'a' }], [[1n, 2n]])).toBe('[{"a":2}]');
    expect(formatRecordsAsJson(columns, [])).toBe('[]');
  });

  it('is valid JSON that parses back to the values for any rows', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(sqlValue, { minLength: 3, maxLength: 3 }), { maxLength: 5 }),
        (anyRows) => {
          const threeColumns = [{ name: 'x' }, { name: 'y' }, { name: 'z' }];
          const parsed = parseJsonLossless(formatRecordsAsJson(threeColumns, anyRows)) as Record<
            string,
            unknown
          >[];
          expect(parsed).toHaveLength(anyRows.length);
          parsed.forEach((record, index) => {
            expect(Object.keys(record)).toEqual(['x', 'y', 'z']);
            Object.values(record).forEach((value, column) => {
              const original = anyRows[index]?.[column] ?? null;
              expect(isJsonRecordOf(value, original), `${String(value)} for ${String(original)}`).toBe(true);
            });
          });
        },
      ),
    );
  });
});

/** Whether `parsed` (from parseJsonLossless) is what formattedRecords should make of `original`. */
function isJsonRecordOf(parsed: unknown, original: SqlValue): boolean {
  if (original instanceof Uint8Array) return parsed === Buffer.from(original).toString('base64');
  // A bigint is written as digits, which parse back as a number when it is safe.
  if (typeof original === 'bigint') return parsed === (isSafe(original) ? Number(original) : original);
  if (typeof original === 'number') {
    if (!Number.isFinite(original)) return parsed === String(original);
    // An unsafe integral double is written as its shortest digits, which a lossless parser reads as a
    // bigint: that bigint need not equal the double exactly, but it must round to it.
    return Object.is(typeof parsed === 'bigint' ? Number(parsed) : parsed, original);
  }
  return parsed === original;
}
