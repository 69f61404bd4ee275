import { describe, expect, it } from 'vitest';
import { describeSql, placeholderNames } from './executor.ts';

describe('describing a prepared statement through the Data API', () => {
  it('finds the :n placeholders outside strings, quoted names and comments', () => {
    expect(placeholderNames('SELECT c FROM t WHERE id = :1 AND k BETWEEN :2 AND :3')).toEqual([
      '1',
      '2',
      '3',
    ]);
    expect(placeholderNames('SELECT \':9\', `a:8`, "b:7" /* :6 */ FROM t WHERE x = :1 -- :5\n')).toEqual([
      '1',
    ]);
    expect(placeholderNames("SELECT 'it\\'s :4' , :2, :2")).toEqual(['2']);
    expect(placeholderNames('SELECT 1')).toEqual([]);
  });

  it('wraps a plain query in LIMIT 0; leaves locking reads and other statements as they are', () => {
    expect(describeSql('SELECT c FROM t WHERE id = :1;')).toBe(
      'SELECT * FROM (SELECT c FROM t WHERE id = :1\n) LIMIT 0',
    );
    expect(describeSql('SELECT c FROM t -- trailing comment')).toBe(
      'SELECT * FROM (SELECT c FROM t -- trailing comment\n) LIMIT 0',
    );
    expect(describeSql('SELECT c FROM t WHERE id = :1 FOR UPDATE')).toBe(
      'SELECT c FROM t WHERE id = :1 FOR UPDATE',
    );
    expect(describeSql('PRAGMA table_info(t)')).toBe('PRAGMA table_info(t)');
  });
});
