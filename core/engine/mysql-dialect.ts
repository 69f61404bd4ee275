// The MySQL dialect, translated to the SQLite the engine runs. Applied by the one executor
// (sql-executor.ts) to every statement, so the Data API and the MySQL protocol front end run the same
// SQL: what sysbench's oltp_* scripts and a typical ORM migration send (AUTO_INCREMENT, ENGINE=…,
// DEFAULT CHARSET, INT(11), UNSIGNED, index clauses inside CREATE TABLE, ON DUPLICATE KEY UPDATE,
// INSERT IGNORE, backslash escapes in strings, # comments, FOR UPDATE …). SQL that is already SQLite
// passes through unchanged. Pure: text in, text out, or a MysqlDialectError (1064 / 1235).
import { DataApiError } from '../data-api/errors.ts';

/** MySQL error numbers a translation can fail with. */
export const dialectErrno = { syntax: 1064, notSupported: 1235 } as const;

/** A statement the dialect cannot translate: a BadRequestException that also carries its MySQL errno. */
export class MysqlDialectError extends DataApiError {
  readonly mysqlErrno: number;
  constructor(errno: number, message: string) {
    super('BadRequestException', message);
    this.mysqlErrno = errno;
  }
}

const notSupported = (what: string): MysqlDialectError =>
  new MysqlDialectError(dialectErrno.notSupported, `This version of Borealis doesn't yet support '${what}'`);

const syntaxError = (near: string): MysqlDialectError =>
  new MysqlDialectError(
    dialectErrno.syntax,
    `You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near '${near.slice(0, 80)}'`,
  );

// --- Lexer --------------------------------------------------------------------------------------------

type TokenKind = 'space' | 'comment' | 'string' | 'quoted' | 'word' | 'number' | 'param' | 'punct';

interface Token {
  kind: TokenKind;
  /** The text as SQLite should see it (strings already re-encoded). */
  text: string;
}

const wordStart = /[A-Za-z_\u0080-\uffff$]/;
const wordChar = /[A-Za-z0-9_\u0080-\uffff$]/;

/** MySQL backslash escapes in string literals (NO_BACKSLASH_ESCAPES off, the server default). */
const backslashEscapes: Readonly<Record<string, string>> = {
  "'": "'",
  '"': '"',
  b: '\b',
  n: '\n',
  r: '\r',
  t: '\t',
  Z: '\x1a',
  '\\': '\\',
  // Kept with their backslash, as MySQL does, so that LIKE still sees them escaped.
  '%': '\\%',
  _: '\\_',
};

/** Splits MySQL text into tokens; string literals come out as SQLite literals ('' doubling only). */
export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    const start = i;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f') {
      while (i < n && /\s/.test(sql[i]!)) i++;
      tokens.push({ kind: 'space', text: sql.slice(start, i) });
    } else if (c === '#' || (c === '-' && sql[i + 1] === '-')) {
      // MySQL's '#' comment is not SQLite's: every line comment becomes a space.
      while (i < n && sql[i] !== '\n') i++;
      tokens.push({ kind: 'comment', text: ' ' });
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      if (end < 0) throw syntaxError(sql.slice(start));
      i = end + 2;
      // Versioned comments (/*! … */) hold MySQL-only table options here; they are dropped like comments.
      tokens.push({ kind: 'comment', text: ' ' });
    } else if ((c === 'x' || c === 'X') && sql[i + 1] === "'") {
      // A hex literal X'0A': the same in both; kept whole so that nothing comes between X and its quote.
      const end = sql.indexOf("'", i + 2);
      if (end < 0) throw syntaxError(sql.slice(start));
      i = end + 1;
      tokens.push({ kind: 'string', text: sql.slice(start, i) });
    } else if (c === '[') {
      // SQLite's [bracketed] identifier (MySQL has none; JSON paths are inside strings).
      const end = sql.indexOf(']', i + 1);
      if (end < 0) throw syntaxError(sql.slice(start));
      i = end + 1;
      tokens.push({ kind: 'quoted', text: sql.slice(start, i) });
    } else if (c === "'") {
      i++;
      let value = '';
      for (;;) {
        if (i >= n) throw syntaxError(sql.slice(start));
        const d = sql[i]!;
        if (d === '\\') {
          const e = sql[i + 1];
          if (e === undefined) throw syntaxError(sql.slice(start));
          if (e === '0')
            throw notSupported('a NUL character (\\0) in a string literal; pass it as a parameter');
          value += backslashEscapes[e] ?? e;
          i += 2;
        } else if (d === "'") {
          if (sql[i + 1] === "'") {
            value += "'";
            i += 2;
          } else {
            i++;
            break;
          }
        } else {
          value += d;
          i++;
        }
      }
      tokens.push({ kind: 'string', text: `'${value.replaceAll("'", "''")}'` });
    } else if (c === '`' || c === '"') {
      i++;
      for (;;) {
        if (i >= n) throw syntaxError(sql.slice(start));
        if (sql[i] === c) {
          if (sql[i + 1] === c) i += 2;
          else {
            i++;
            break;
          }
        } else i++;
      }
      tokens.push({ kind: 'quoted', text: sql.slice(start, i) });
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(sql[i + 1] ?? ''))) {
      while (i < n && /[0-9A-Za-z_.]/.test(sql[i]!)) {
        // An exponent sign belongs to the number.
        if ((sql[i] === 'e' || sql[i] === 'E') && (sql[i + 1] === '+' || sql[i + 1] === '-')) i++;
        i++;
      }
      tokens.push({ kind: 'number', text: sql.slice(start, i) });
    } else if (c === '?' || ((c === ':' || c === '@') && wordChar.test(sql[i + 1] ?? ''))) {
      i++;
      while (i < n && wordChar.test(sql[i]!)) i++;
      tokens.push({ kind: 'param', text: sql.slice(start, i) });
    } else if (wordStart.test(c)) {
      while (i < n && wordChar.test(sql[i]!)) i++;
      const text = sql.slice(start, i);
      // A character set introducer (_utf8mb4'…', N'…') only names the literal's encoding: dropped.
      if (sql[i] === "'" && (text[0] === '_' || text === 'N' || text === 'n')) continue;
      tokens.push({ kind: 'word', text });
    } else {
      i++;
      tokens.push({ kind: 'punct', text: c });
    }
  }
  return tokens;
}

// --- Statement-level helpers -----------------------------------------------------------------------------

/** The significant tokens (no spaces or comments) of one statement. */
type Statement = Token[];

const isWord = (t: Token | undefined, ...words: string[]): boolean =>
  t !== undefined && t.kind === 'word' && words.includes(t.text.toUpperCase());
const isPunct = (t: Token | undefined, p: string): boolean =>
  t !== undefined && t.kind === 'punct' && t.text === p;

function splitStatements(tokens: Token[]): Statement[] {
  const statements: Statement[] = [];
  let current: Statement = [];
  for (const t of tokens) {
    if (t.kind === 'space' || t.kind === 'comment') continue;
    if (isPunct(t, ';')) {
      if (current.length > 0) statements.push(current);
      current = [];
    } else current.push(t);
  }
  if (current.length > 0) statements.push(current);
  return statements;
}

/** Splits at depth-0 commas. */
function splitTopLevel(tokens: Token[], separator = ','): Token[][] {
  const parts: Token[][] = [[]];
  let depth = 0;
  for (const t of tokens) {
    if (isPunct(t, '(')) depth++;
    else if (isPunct(t, ')')) depth--;
    if (depth === 0 && isPunct(t, separator)) parts.push([]);
    else parts[parts.length - 1]!.push(t);
  }
  return parts;
}

/** Index of the ')' closing the '(' at `open`. */
function closingParen(tokens: Token[], open: number): number {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    if (isPunct(tokens[i], '(')) depth++;
    else if (isPunct(tokens[i], ')')) {
      depth--;
      if (depth === 0) return i;
    }
  }
  throw syntaxError(render(tokens.slice(open)));
}

/** Joins tokens with spaces where two words would otherwise run together. */
function render(tokens: Token[]): string {
  let out = '';
  let previous: Token | undefined;
  for (const t of tokens) {
    if (previous !== undefined && needsSpace(previous, t)) out += ' ';
    out += t.text;
    previous = t;
  }
  return out;
}

function needsSpace(a: Token, b: Token): boolean {
  if (isPunct(b, ',') || isPunct(b, ')') || isPunct(b, '.') || isPunct(a, '.') || isPunct(a, '('))
    return false;
  if (isPunct(b, '(') && (a.kind === 'word' || a.kind === 'quoted')) return false;
  // Operators stay as written (||, <=, ->>), except what would open a comment.
  if (a.kind === 'punct' && b.kind === 'punct') {
    return (a.text === '-' && b.text === '-') || (a.text === '/' && b.text === '*');
  }
  return true;
}

const word = (text: string): Token => ({ kind: 'word', text });
const punct = (text: string): Token => ({ kind: 'punct', text });

// --- Translation --------------------------------------------------------------------------------------

/** Anything in the text that a translation could touch; without it the text is SQLite already. */
const mysqlOnly =
  /[\\#]|auto_increment|engine|charset|character\s+set|collate|unsigned|zerofill|duplicate|ignore|last_insert_id|\bkey\b|\bindex\b|truncate|\bfor\s+update|share|enum\s*\(|comment|\bint\s*\(|\bbigint\s*\(|\bsmallint\s*\(|\btinyint\s*\(|\bmediumint\s*\(|\bdrop\s+table|on\s+update|create\s+(?:temporary\s+)?table|alter\s+table|partition/i;

/** Translated SQL by source text: clients repeat their statements, and translating costs a lexer pass. */
const cache = new Map<string, string>();
export const dialectCacheEntriesMax = 2048;
/** SQL longer than this is translated every time (a bulk statement is rarely repeated verbatim). */
const cachedSqlCharsMax = 8192;

/**
 * The SQLite text for MySQL `sql` (one or more statements). Throws MysqlDialectError (1064 / 1235)
 * for what cannot be translated; SQLite's own errors for the rest are the engine's to report.
 */
export function translateMysql(sql: string): string {
  if (!mysqlOnly.test(sql)) return sql;
  const cached = cache.get(sql);
  if (cached !== undefined) return cached;
  const translated = translateUncached(sql);
  if (sql.length <= cachedSqlCharsMax) {
    if (cache.size >= dialectCacheEntriesMax) cache.delete(cache.keys().next().value!);
    cache.set(sql, translated);
  }
  return translated;
}

function translateUncached(sql: string): string {
  const statements = splitStatements(tokenize(sql));
  const out: string[] = [];
  for (const statement of statements) out.push(...translateStatement(statement));
  return out.join(';\n');
}

function translateStatement(s: Statement): string[] {
  const first = s[0]!.text.toUpperCase();
  replaceFunctions(s);
  switch (first) {
    case 'CREATE':
      if (isWord(s[1], 'TABLE') || (isWord(s[1], 'TEMPORARY') && isWord(s[2], 'TABLE')))
        return createTable(s);
      if (isWord(s[1], 'INDEX', 'UNIQUE', 'FULLTEXT', 'SPATIAL')) return [createIndex(s)];
      return [render(s)];
    case 'ALTER':
      if (isWord(s[1], 'TABLE')) return alterTable(s);
      return [render(s)];
    case 'DROP':
      return drop(s);
    case 'TRUNCATE':
      return truncate(s);
    case 'INSERT':
    case 'REPLACE':
      return [insert(s)];
    case 'SELECT':
    case 'WITH':
      return [render(stripLockingClause(s))];
    default:
      return [render(s)];
  }
}

/** LAST_INSERT_ID() → last_insert_rowid(). */
function replaceFunctions(s: Statement): void {
  for (let i = 0; i < s.length - 1; i++) {
    if (isWord(s[i], 'LAST_INSERT_ID') && isPunct(s[i + 1], '(')) {
      if (!isPunct(s[i + 2], ')')) throw notSupported('LAST_INSERT_ID(expr)');
      s[i] = word('last_insert_rowid');
    }
  }
}

/** SELECT … FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE: a transaction on the writer already holds the write lock. */
function stripLockingClause(s: Statement): Statement {
  const n = s.length;
  for (let i = n - 1; i > 0; i--) {
    if (isWord(s[i], 'FOR') && isWord(s[i + 1], 'UPDATE', 'SHARE')) {
      const rest = s.slice(i + 2);
      if (rest.every((t) => isWord(t, 'NOWAIT', 'SKIP', 'LOCKED'))) return s.slice(0, i);
    }
    if (
      isWord(s[i], 'LOCK') &&
      isWord(s[i + 1], 'IN') &&
      isWord(s[i + 2], 'SHARE') &&
      isWord(s[i + 3], 'MODE')
    ) {
      if (i + 4 === n) return s.slice(0, i);
    }
  }
  return s;
}

// --- CREATE TABLE ---------------------------------------------------------------------------------------

const integerTypes = new Set(['TINYINT', 'SMALLINT', 'MEDIUMINT', 'INT', 'INTEGER', 'BIGINT']);

function createTable(s: Statement): string[] {
  let i = isWord(s[1], 'TEMPORARY') ? 3 : 2;
  const head = s.slice(0, i);
  if (isWord(s[i], 'IF') && isWord(s[i + 1], 'NOT') && isWord(s[i + 2], 'EXISTS')) {
    head.push(...s.slice(i, i + 3));
    i += 3;
  }
  const nameStart = i;
  i++;
  while (isPunct(s[i], '.')) i += 2;
  const name = s.slice(nameStart, i);
  head.push(...name);
  const tableName = render(name);
  if (isWord(s[i], 'LIKE')) throw notSupported('CREATE TABLE … LIKE');
  if (!isPunct(s[i], '(')) {
    // CREATE TABLE t AS SELECT … (or options only): options are dropped, the rest is SQLite's.
    return [render([...head, ...s.slice(skipTableOptions(s, i))])];
  }
  const close = closingParen(s, i);
  const definitions = splitTopLevel(s.slice(i + 1, close));
  let afterOptions = skipTableOptions(s, close + 1);
  // SQLite's own table options stay.
  const sqliteOptions: Token[] = [];
  while (isWord(s[afterOptions], 'WITHOUT', 'STRICT') || isPunct(s[afterOptions], ',')) {
    const take = isWord(s[afterOptions], 'WITHOUT') ? 2 : 1;
    sqliteOptions.push(...s.slice(afterOptions, afterOptions + take));
    afterOptions = skipTableOptions(s, afterOptions + take);
  }
  if (afterOptions < s.length) {
    if (isWord(s[afterOptions], 'PARTITION')) throw notSupported('PARTITION BY');
    if (isWord(s[afterOptions], 'AS', 'SELECT', 'IGNORE', 'REPLACE'))
      throw notSupported('CREATE TABLE (…) SELECT');
    throw syntaxError(render(s.slice(afterOptions)));
  }
  const columns: Token[][] = [];
  const constraints: Token[][] = [];
  const indexes: string[] = [];
  const autoIncrement: string[] = [];
  let primaryKey: string[] | undefined;
  for (const definition of definitions) {
    if (definition.length === 0) throw syntaxError(')');
    const d0 = definition[0]!;
    if (isWord(d0, 'KEY', 'INDEX')) {
      indexes.push(indexStatement(definition, 1, tableName, false));
    } else if (isWord(d0, 'UNIQUE') && isPunct(definition[1], '(')) {
      // UNIQUE (a, b) means the same to both: kept as a constraint (with any SQLite ON CONFLICT clause).
      constraints.push(definition);
    } else if (isWord(d0, 'UNIQUE')) {
      indexes.push(
        indexStatement(definition, isWord(definition[1], 'KEY', 'INDEX') ? 2 : 1, tableName, true),
      );
    } else if (isWord(d0, 'FULLTEXT', 'SPATIAL')) {
      throw notSupported(`${d0.text.toUpperCase()} indexes`);
    } else if (isWord(d0, 'PRIMARY') && isWord(definition[1], 'KEY')) {
      const { columns: keyColumns, tokens, next } = keyParts(definition, 2);
      primaryKey = keyColumns;
      constraints.push([word('PRIMARY'), word('KEY'), ...tokens, ...sqliteKeyClauses(definition, next)]);
    } else if (isWord(d0, 'CONSTRAINT')) {
      const body = definition.slice(isWord(definition[1], 'PRIMARY', 'UNIQUE', 'FOREIGN', 'CHECK') ? 1 : 2);
      if (isWord(body[0], 'UNIQUE') && isPunct(body[1], '(')) {
        constraints.push(definition);
      } else if (isWord(body[0], 'UNIQUE')) {
        indexes.push(
          indexStatement(body, isWord(body[1], 'KEY', 'INDEX') ? 2 : 1, tableName, true, definition[1]),
        );
      } else if (isWord(body[0], 'PRIMARY')) {
        const { columns: keyColumns, tokens, next } = keyParts(body, 2);
        primaryKey = keyColumns;
        constraints.push([word('PRIMARY'), word('KEY'), ...tokens, ...sqliteKeyClauses(body, next)]);
      } else constraints.push(foreignKeyOrCheck(body));
    } else if (isWord(d0, 'FOREIGN', 'CHECK')) {
      constraints.push(foreignKeyOrCheck(definition));
    } else {
      const column = columnDefinition(definition);
      if (column.autoIncrement) autoIncrement.push(column.name);
      if (column.primaryKey) primaryKey = [column.name];
      columns.push(column.tokens);
      indexes.push(...column.indexes.map((unique) => unique(tableName)));
    }
  }
  if (autoIncrement.length > 1) throw syntaxError('there can be only one auto column');
  const auto = autoIncrement[0];
  if (auto !== undefined) {
    if (primaryKey === undefined) {
      throw notSupported('AUTO_INCREMENT on a column that is not the PRIMARY KEY');
    }
    if (primaryKey.length !== 1 || unquote(primaryKey[0]!) !== unquote(auto)) {
      throw notSupported('AUTO_INCREMENT in a composite PRIMARY KEY');
    }
  }
  const body = [...columns, ...constraints].map(render).join(', ');
  const options = sqliteOptions.length > 0 ? ` ${render(sqliteOptions)}` : '';
  return [`${render(head)} (${body})${options}`, ...indexes];
}

/** What follows a key's column list: SQLite's ON CONFLICT clause stays, MySQL's index options go. */
function sqliteKeyClauses(tokens: Token[], from: number): Token[] {
  const on = tokens.findIndex((t, i) => i >= from && isWord(t, 'ON') && isWord(tokens[i + 1], 'CONFLICT'));
  return on < 0 ? [] : tokens.slice(on, on + 3);
}

function unquote(name: string): string {
  const c = name[0];
  return (c === '`' || c === '"' ? name.slice(1, -1) : name).toLowerCase();
}

/** Skips MySQL table options (ENGINE=…, DEFAULT CHARSET=…, AUTO_INCREMENT=…, COMMENT='…' …). */
function skipTableOptions(s: Statement, from: number): number {
  let i = from;
  for (;;) {
    if (isPunct(s[i], ',')) i++;
    const t = s[i];
    if (t === undefined) return i;
    if (isWord(t, 'DEFAULT')) {
      i++;
      continue;
    }
    if (isWord(t, 'CHARACTER') && isWord(s[i + 1], 'SET')) i += 2;
    else if (
      isWord(
        t,
        'ENGINE',
        'CHARSET',
        'COLLATE',
        'AUTO_INCREMENT',
        'COMMENT',
        'ROW_FORMAT',
        'KEY_BLOCK_SIZE',
        'STATS_PERSISTENT',
        'STATS_AUTO_RECALC',
        'STATS_SAMPLE_PAGES',
        'MAX_ROWS',
        'MIN_ROWS',
        'PACK_KEYS',
        'CHECKSUM',
        'DELAY_KEY_WRITE',
        'AVG_ROW_LENGTH',
        'COMPRESSION',
        'ENCRYPTION',
        'INSERT_METHOD',
        'TABLESPACE',
      )
    )
      i++;
    else return i;
    if (isPunct(s[i], '=')) i++;
    // The option's value: a word, number, string or quoted name.
    if (s[i] === undefined) throw syntaxError(render(s.slice(from)));
    i++;
  }
}

interface ColumnDefinition {
  name: string;
  tokens: Token[];
  autoIncrement: boolean;
  primaryKey: boolean;
  /** UNIQUE KEY written on the column: made a CREATE UNIQUE INDEX like the table-level ones. */
  indexes: ((table: string) => string)[];
}

function columnDefinition(definition: Token[]): ColumnDefinition {
  const nameToken = definition[0]!;
  if (nameToken.kind !== 'word' && nameToken.kind !== 'quoted') throw syntaxError(render(definition));
  const name = nameToken.text;
  const { type, next } = columnType(definition, 1, name);
  const attributes: Token[] = [];
  let autoIncrement = false;
  let primaryKey = false;
  let i = next;
  while (i < definition.length) {
    const t = definition[i]!;
    if (isWord(t, 'AUTO_INCREMENT')) {
      autoIncrement = true;
      i++;
    } else if (isWord(t, 'UNSIGNED', 'SIGNED', 'ZEROFILL', 'BINARY', 'VISIBLE', 'INVISIBLE', 'FIRST')) {
      i++;
    } else if (isWord(t, 'AFTER')) {
      // Column placement (ALTER TABLE … ADD … AFTER c): SQLite appends.
      i += 2;
    } else if (isWord(t, 'CHARACTER') && isWord(definition[i + 1], 'SET')) {
      i += 3;
    } else if (isWord(t, 'COLLATE') && isWord(definition[i + 1], 'BINARY', 'NOCASE', 'RTRIM')) {
      // SQLite's own collations stay; MySQL's (utf8mb4_bin …) are dropped below.
      attributes.push(t, definition[i + 1]!);
      i += 2;
    } else if (isWord(t, 'CHARSET', 'COLLATE', 'COLUMN_FORMAT', 'STORAGE', 'COMMENT')) {
      i += 2;
    } else if (isWord(t, 'ON') && isWord(definition[i + 1], 'UPDATE')) {
      // ON UPDATE CURRENT_TIMESTAMP[(n)]: SQLite has no such column attribute; dropped (docs/mysql.md).
      i += 3;
      if (isPunct(definition[i], '(')) i = closingParen(definition, i) + 1;
    } else if (isWord(t, 'DEFAULT')) {
      attributes.push(t);
      i++;
      const value = definition[i];
      if (value === undefined) throw syntaxError(render(definition));
      if (isWord(value, 'CURRENT_TIMESTAMP', 'NOW', 'LOCALTIMESTAMP', 'LOCALTIME')) {
        attributes.push(word('CURRENT_TIMESTAMP'));
        i++;
        if (isPunct(definition[i], '(')) i = closingParen(definition, i) + 1;
      } else if (isPunct(value, '(')) {
        const close = closingParen(definition, i);
        attributes.push(...definition.slice(i, close + 1));
        i = close + 1;
      } else if (isPunct(value, '-') || isPunct(value, '+')) {
        attributes.push(value, definition[i + 1]!);
        i += 2;
      } else {
        attributes.push(value);
        i++;
      }
    } else if (isWord(t, 'PRIMARY') && isWord(definition[i + 1], 'KEY')) {
      primaryKey = true;
      attributes.push(t, definition[i + 1]!);
      i += 2;
    } else if (isWord(t, 'KEY')) {
      // A bare KEY in a column definition means PRIMARY KEY.
      primaryKey = true;
      attributes.push(word('PRIMARY'), word('KEY'));
      i++;
    } else if (isWord(t, 'UNIQUE')) {
      attributes.push(t);
      i += isWord(definition[i + 1], 'KEY') ? 2 : 1;
    } else if (isWord(t, 'CHECK') || isWord(t, 'REFERENCES') || isWord(t, 'GENERATED') || isWord(t, 'AS')) {
      // Kept as written to the end of the definition: SQLite reads these clauses as MySQL writes them.
      attributes.push(...definition.slice(i));
      i = definition.length;
    } else {
      attributes.push(t);
      i++;
    }
  }
  if (autoIncrement) {
    // The rowid alias: exactly INTEGER, which numbers rows as MySQL's AUTO_INCREMENT does.
    return {
      name,
      tokens: [nameToken, word('INTEGER'), ...attributes],
      autoIncrement,
      primaryKey,
      indexes: [],
    };
  }
  return { name, tokens: [nameToken, ...type, ...attributes], autoIncrement, primaryKey, indexes: [] };
}

/** A MySQL column type as SQLite accepts it (a declared type keeps its meaning for result metadata). */
function columnType(definition: Token[], from: number, column: string): { type: Token[]; next: number } {
  const t = definition[from];
  if (t === undefined || t.kind !== 'word') return { type: [], next: from };
  const base = t.text.toUpperCase();
  let i = from + 1;
  let args: Token[] = [];
  if (isPunct(definition[i], '(')) {
    const close = closingParen(definition, i);
    args = definition.slice(i, close + 1);
    i = close + 1;
  }
  if (base === 'ENUM' || base === 'SET') {
    if (base === 'SET') return { type: [word('TEXT')], next: i };
    // ENUM('a','b') → TEXT CHECK (col IN ('a','b')); NULL stays allowed unless NOT NULL follows.
    return {
      type: [
        word('TEXT'),
        word('CHECK'),
        punct('('),
        { kind: 'word', text: column },
        word('IN'),
        ...args,
        punct(')'),
      ],
      next: i,
    };
  }
  const words = [t];
  // Multi-word type names: DOUBLE PRECISION, CHARACTER VARYING, NATIONAL CHAR, LONG VARCHAR.
  while (isWord(definition[i], 'PRECISION', 'VARYING', 'VARCHAR', 'CHAR', 'CHARACTER') && args.length === 0) {
    words.push(definition[i]!);
    i++;
    if (isPunct(definition[i], '(')) {
      const close = closingParen(definition, i);
      args = definition.slice(i, close + 1);
      i = close + 1;
    }
  }
  let unsigned = false;
  while (isWord(definition[i], 'UNSIGNED', 'SIGNED', 'ZEROFILL')) {
    if (isWord(definition[i], 'UNSIGNED')) unsigned = true;
    i++;
  }
  // INT(11): a display width, not a size — SQLite's grammar takes no words after the parentheses.
  if (integerTypes.has(base)) args = [];
  return { type: [...words, ...(unsigned ? [word('UNSIGNED')] : []), ...args], next: i };
}

/** `(a, b(10) DESC)` → the column names and the SQLite key text (prefix lengths dropped). */
function keyParts(tokens: Token[], from: number): { columns: string[]; tokens: Token[]; next: number } {
  let i = from;
  while (isWord(tokens[i], 'USING')) i += 2;
  if (!isPunct(tokens[i], '(')) throw syntaxError(render(tokens.slice(from)));
  const close = closingParen(tokens, i);
  const parts = splitTopLevel(tokens.slice(i + 1, close));
  const columns: string[] = [];
  const out: Token[] = [punct('(')];
  parts.forEach((part, index) => {
    if (part.length === 0) throw syntaxError(render(tokens));
    if (index > 0) out.push(punct(','));
    const name = part[0]!;
    columns.push(name.text);
    out.push(name);
    let j = 1;
    if (isPunct(part[j], '(')) j = closingParen(part, j) + 1;
    out.push(...part.slice(j));
  });
  out.push(punct(')'));
  // Index options after the key: USING BTREE, COMMENT '…', KEY_BLOCK_SIZE=n, VISIBLE …
  return { columns, tokens: out, next: close + 1 };
}

/** `KEY name (cols)` inside CREATE TABLE or ALTER TABLE … ADD → CREATE [UNIQUE] INDEX name ON table (cols). */
function indexStatement(
  definition: Token[],
  from: number,
  table: string,
  unique: boolean,
  constraintName?: Token,
): string {
  let i = from;
  let name: Token | undefined;
  if (!isPunct(definition[i], '(') && !isWord(definition[i], 'USING')) {
    name = definition[i];
    i++;
  }
  name ??= constraintName;
  const { columns, tokens } = keyParts(definition, i);
  const indexName = name?.text ?? `${unquote(table)}_${unquote(columns[0]!)}`;
  return `CREATE ${unique ? 'UNIQUE ' : ''}INDEX ${indexName} ON ${table} ${render(tokens)}`;
}

function foreignKeyOrCheck(definition: Token[]): Token[] {
  if (isWord(definition[0], 'FOREIGN') && isWord(definition[1], 'KEY') && !isPunct(definition[2], '(')) {
    // FOREIGN KEY fk_name (col): SQLite takes no index name there.
    return [definition[0]!, definition[1]!, ...definition.slice(3)];
  }
  return definition;
}

// --- CREATE INDEX, ALTER TABLE, DROP, TRUNCATE ---------------------------------------------------------

function createIndex(s: Statement): string {
  if (isWord(s[1], 'FULLTEXT', 'SPATIAL')) throw notSupported(`${s[1]!.text.toUpperCase()} indexes`);
  const unique = isWord(s[1], 'UNIQUE');
  let i = unique ? 3 : 2;
  const head: Token[] = s.slice(0, i);
  if (isWord(s[i], 'IF')) {
    head.push(...s.slice(i, i + 3));
    i += 3;
  }
  head.push(s[i]!);
  i++;
  while (isWord(s[i], 'USING')) i += 2;
  if (!isWord(s[i], 'ON')) return render(s);
  head.push(s[i]!, s[i + 1]!);
  i += 2;
  const { tokens, next } = keyParts(s, i);
  const rest = s.slice(next);
  // ALGORITHM=…, LOCK=…, USING BTREE, COMMENT '…' after the key are MySQL's; a WHERE is SQLite's.
  if (rest.length > 0 && !isWord(rest[0], 'WHERE')) return `${render(head)} ${render(tokens)}`;
  return `${render(head)} ${render([...tokens, ...rest])}`;
}

function alterTable(s: Statement): string[] {
  const table = s[2];
  if (table === undefined) throw syntaxError('ALTER TABLE');
  let nameEnd = 3;
  while (isPunct(s[nameEnd], '.')) nameEnd += 2;
  const tableTokens = s.slice(2, nameEnd);
  const tableName = render(tableTokens);
  const prefix = `ALTER TABLE ${tableName}`;
  const out: string[] = [];
  for (const spec of splitTopLevel(s.slice(nameEnd))) {
    const t0 = spec[0];
    if (t0 === undefined) throw syntaxError(render(s));
    if (isWord(t0, 'ADD')) {
      const body = spec.slice(isWord(spec[1], 'COLUMN') ? 2 : 1);
      if (isWord(body[0], 'INDEX', 'KEY')) out.push(indexStatement(body, 1, tableName, false));
      else if (isWord(body[0], 'UNIQUE'))
        out.push(indexStatement(body, isWord(body[1], 'KEY', 'INDEX') ? 2 : 1, tableName, true));
      else if (isWord(body[0], 'FULLTEXT', 'SPATIAL'))
        throw notSupported(`${body[0]!.text.toUpperCase()} indexes`);
      else if (isWord(body[0], 'CONSTRAINT', 'PRIMARY', 'FOREIGN'))
        throw notSupported('ALTER TABLE … ADD CONSTRAINT');
      else if (isPunct(body[0], '(')) throw notSupported('ALTER TABLE … ADD (column, …)');
      else {
        const column = columnDefinition(body);
        if (column.autoIncrement || column.primaryKey)
          throw notSupported('ALTER TABLE … ADD a PRIMARY KEY column');
        out.push(`${prefix} ADD COLUMN ${render(column.tokens)}`);
      }
    } else if (isWord(t0, 'DROP')) {
      if (isWord(spec[1], 'INDEX', 'KEY')) out.push(`DROP INDEX ${spec[2]?.text ?? ''}`);
      else if (isWord(spec[1], 'PRIMARY', 'FOREIGN', 'CONSTRAINT', 'CHECK'))
        throw notSupported(`ALTER TABLE … DROP ${spec[1]!.text.toUpperCase()}`);
      else out.push(`${prefix} ${render(spec)}`);
    } else if (isWord(t0, 'RENAME')) {
      if (isWord(spec[1], 'INDEX', 'KEY')) throw notSupported('ALTER TABLE … RENAME INDEX');
      const rest = isWord(spec[1], 'AS') ? spec.slice(2) : spec.slice(1);
      out.push(`${prefix} RENAME ${render(rest)}`);
    } else if (
      isWord(t0, 'MODIFY', 'CHANGE', 'ALTER', 'ALGORITHM', 'LOCK', 'CONVERT', 'ORDER', 'PARTITION')
    ) {
      if (isWord(t0, 'ALGORITHM', 'LOCK')) continue;
      throw notSupported(`ALTER TABLE … ${t0.text.toUpperCase()}`);
    } else if (skipTableOptions(spec, 0) === spec.length) {
      // ENGINE=…, DEFAULT CHARSET=…: nothing to do.
    } else throw syntaxError(render(spec));
  }
  return out;
}

function drop(s: Statement): string[] {
  if (isWord(s[1], 'TABLE') || (isWord(s[1], 'TEMPORARY') && isWord(s[2], 'TABLE'))) {
    let i = isWord(s[1], 'TEMPORARY') ? 3 : 2;
    const ifExists = isWord(s[i], 'IF') && isWord(s[i + 1], 'EXISTS');
    if (ifExists) i += 2;
    let rest = s.slice(i);
    if (isWord(rest[rest.length - 1], 'RESTRICT', 'CASCADE')) rest = rest.slice(0, -1);
    return splitTopLevel(rest).map((name) => `DROP TABLE ${ifExists ? 'IF EXISTS ' : ''}${render(name)}`);
  }
  if (isWord(s[1], 'INDEX')) {
    // DROP INDEX name ON table: SQLite index names are per database (docs/mysql.md).
    const on = s.findIndex((t) => isWord(t, 'ON'));
    return [render(on < 0 ? s : s.slice(0, on))];
  }
  return [render(s)];
}

function truncate(s: Statement): string[] {
  const name = s.slice(isWord(s[1], 'TABLE') ? 2 : 1);
  if (name.length === 0) throw syntaxError('TRUNCATE');
  return [`DELETE FROM ${render(name)}`];
}

// --- INSERT -------------------------------------------------------------------------------------------

/** INSERT IGNORE → INSERT OR IGNORE; ON DUPLICATE KEY UPDATE → ON CONFLICT DO UPDATE SET with excluded. */
function insert(s: Statement): string {
  let tokens = s;
  if (isWord(tokens[1], 'LOW_PRIORITY', 'DELAYED', 'HIGH_PRIORITY'))
    tokens = [tokens[0]!, ...tokens.slice(2)];
  if (isWord(tokens[0], 'INSERT') && isWord(tokens[1], 'IGNORE')) {
    tokens = [tokens[0]!, word('OR'), word('IGNORE'), ...tokens.slice(2)];
  }
  let depth = 0;
  let on = -1;
  for (let i = 0; i < tokens.length; i++) {
    if (isPunct(tokens[i], '(')) depth++;
    else if (isPunct(tokens[i], ')')) depth--;
    else if (
      depth === 0 &&
      isWord(tokens[i], 'ON') &&
      isWord(tokens[i + 1], 'DUPLICATE') &&
      isWord(tokens[i + 2], 'KEY') &&
      isWord(tokens[i + 3], 'UPDATE')
    ) {
      on = i;
      break;
    }
  }
  if (on < 0) return render(tokens);
  let head = tokens.slice(0, on);
  // MySQL 8's row alias: VALUES (…) AS new [(a, b)] ON DUPLICATE KEY UPDATE c = new.c
  let alias: string | undefined;
  const last = head.length - 1;
  const hasValues = head.some((t) => isWord(t, 'VALUES', 'VALUE'));
  if (
    hasValues &&
    isWord(head[last - 1], 'AS') &&
    (head[last]!.kind === 'word' || head[last]!.kind === 'quoted')
  ) {
    alias = unquote(head[last]!.text);
    head = head.slice(0, last - 1);
  } else if (isPunct(head[last], ')')) {
    let open = last;
    for (let d = 0; open >= 0; open--) {
      if (isPunct(head[open], ')')) d++;
      else if (isPunct(head[open], '(')) {
        d--;
        if (d === 0) break;
      }
    }
    if (hasValues && isWord(head[open - 2], 'AS')) {
      throw notSupported('a row alias with column names in ON DUPLICATE KEY UPDATE');
    }
  }
  const isSelect = head.some((t) => isWord(t, 'SELECT'));
  const assignments = tokens.slice(on + 4);
  const rewritten: Token[] = [];
  for (let i = 0; i < assignments.length; i++) {
    const t = assignments[i]!;
    if (isWord(t, 'VALUES') && isPunct(assignments[i + 1], '(') && isPunct(assignments[i + 3], ')')) {
      rewritten.push({ kind: 'word', text: `excluded.${assignments[i + 2]!.text}` });
      i += 3;
    } else if (
      alias !== undefined &&
      (t.kind === 'word' || t.kind === 'quoted') &&
      unquote(t.text) === alias &&
      isPunct(assignments[i + 1], '.')
    ) {
      rewritten.push({ kind: 'word', text: `excluded.${assignments[i + 2]!.text}` });
      i += 2;
    } else rewritten.push(t);
  }
  // INSERT … SELECT … ON CONFLICT needs a WHERE for SQLite's parser to tell ON CONFLICT from a join's ON.
  const where = isSelect && !head.some((t) => isWord(t, 'WHERE')) ? ' WHERE true' : '';
  return `${render(head)}${where} ON CONFLICT DO UPDATE SET ${render(rewritten)}`;
}
