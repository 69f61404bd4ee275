import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { MysqlDialectError, tokenize, translateMysql } from './mysql-dialect.ts';

/** Runs translated SQL on a scratch SQLite database: the translation must be SQLite the engine accepts. */
function runAll(db: Database.Database, mysql: string): void {
  db.exec(translateMysql(mysql));
}

function errnoOf(sql: string): number | undefined {
  try {
    translateMysql(sql);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(MysqlDialectError);
    return (error as MysqlDialectError).mysqlErrno;
  }
}

describe('translateMysql: SQLite passes through', () => {
  it.each([
    'SELECT c FROM sbtest1 WHERE id = :id',
    'SELECT 1',
    'UPDATE sbtest1 SET k = k + 1 WHERE id = :0',
    'DELETE FROM t WHERE a = 1',
    'INSERT INTO t (a, b) VALUES (:a, :b)',
    'INSERT OR REPLACE INTO t VALUES (1)',
    'INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET b = excluded.b',
    'SELECT a || b FROM t LIMIT 10, 20',
  ])('%s is unchanged', (sql) => {
    expect(translateMysql(sql)).toBe(sql);
  });

  it('keeps SQLite CREATE TABLE clauses (AUTOINCREMENT, WITHOUT ROWID, ON CONFLICT, COLLATE NOCASE)', () => {
    const db = new Database(':memory:');
    runAll(
      db,
      'CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT COLLATE NOCASE, UNIQUE (name) ON CONFLICT REPLACE)',
    );
    runAll(db, 'CREATE TABLE w (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID');
    const sql = db.prepare("SELECT sql FROM sqlite_master WHERE name = 't'").pluck().get() as string;
    expect(sql).toContain('AUTOINCREMENT');
    expect(sql).toContain('ON CONFLICT REPLACE');
    expect(sql).toContain('COLLATE NOCASE');
    expect(db.prepare("SELECT sql FROM sqlite_master WHERE name = 'w'").pluck().get()).toContain(
      'WITHOUT ROWID',
    );
  });
});

describe('translateMysql: sysbench oltp_* and ORM DDL', () => {
  it("sysbench's CREATE TABLE: AUTO_INCREMENT id becomes the rowid, the ENGINE comment goes", () => {
    const sql =
      "CREATE TABLE sbtest1(\n  id INTEGER NOT NULL AUTO_INCREMENT,\n  k INTEGER DEFAULT '0' NOT NULL,\n  c CHAR(120) DEFAULT '' NOT NULL,\n  pad CHAR(60) DEFAULT '' NOT NULL,\n  PRIMARY KEY (id)\n) /*! ENGINE = innodb */ ";
    const db = new Database(':memory:');
    runAll(db, sql);
    db.prepare("INSERT INTO sbtest1 (k, c, pad) VALUES (1, 'a', 'b'), (2, 'c', 'd')").run();
    expect(db.prepare('SELECT id, k FROM sbtest1 ORDER BY id').raw().all()).toEqual([
      [1, 1],
      [2, 2],
    ]);
    // The rowid alias: the id column is the table's key (no separate index).
    const info = db.prepare('PRAGMA table_info(sbtest1)').all() as {
      name: string;
      type: string;
      pk: number;
    }[];
    expect(info.find((c) => c.name === 'id')).toMatchObject({ type: 'INTEGER', pk: 1 });
  });

  it('an ORM migration: backticks, INT(11) UNSIGNED, KEY clauses, charset, comments, table options', () => {
    const sql = `CREATE TABLE IF NOT EXISTS \`users\` (
      \`id\` int(11) unsigned NOT NULL AUTO_INCREMENT COMMENT 'the id',
      \`email\` varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
      \`age\` tinyint(3) unsigned zerofill DEFAULT NULL,
      \`role\` enum('admin','user') NOT NULL DEFAULT 'user',
      \`created_at\` datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,
      \`updated_at\` timestamp(6) NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
      \`score\` decimal(10,2) NOT NULL DEFAULT '0.00',
      PRIMARY KEY (\`id\`) USING BTREE,
      UNIQUE KEY \`users_email_unique\` (\`email\`(191)),
      KEY \`users_age_idx\` (\`age\`, \`created_at\`)
    ) ENGINE=InnoDB AUTO_INCREMENT=42 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='people'`;
    const db = new Database(':memory:');
    runAll(db, sql);
    const indexes = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'users' ORDER BY name")
      .pluck()
      .all();
    expect(indexes).toEqual(['users_age_idx', 'users_email_unique']);
    const types = Object.fromEntries(
      (db.prepare('PRAGMA table_info(users)').all() as { name: string; type: string }[]).map((c) => [
        c.name,
        c.type,
      ]),
    );
    expect(types).toMatchObject({
      id: 'INTEGER',
      email: 'varchar(255)',
      age: 'tinyint UNSIGNED',
      created_at: 'datetime',
      score: 'decimal(10, 2)',
    });
    db.prepare("INSERT INTO users (email) VALUES ('a@b')").run();
    expect(() => db.prepare("INSERT INTO users (email) VALUES ('a@b')").run()).toThrow(/UNIQUE/);
    expect(() => db.prepare("INSERT INTO users (email, role) VALUES ('c@d', 'boss')").run()).toThrow(/CHECK/);
    expect(db.prepare('SELECT role FROM users').pluck().get()).toBe('user');
  });

  it('an unnamed KEY gets the table and column as its name (index names are per database)', () => {
    expect(translateMysql('CREATE TABLE t (a INT, KEY (a))')).toBe(
      'CREATE TABLE t (a INT);\nCREATE INDEX t_a ON t (a)',
    );
  });

  it('CONSTRAINT … FOREIGN KEY name (col) REFERENCES keeps the reference, drops the index name', () => {
    const db = new Database(':memory:');
    runAll(db, 'CREATE TABLE p (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY) ENGINE=InnoDB');
    runAll(
      db,
      'CREATE TABLE c (id BIGINT(20) NOT NULL, p_id INT, PRIMARY KEY (id), CONSTRAINT fk_p FOREIGN KEY fk_idx (p_id) REFERENCES p (id) ON DELETE CASCADE)',
    );
    expect(db.prepare("SELECT sql FROM sqlite_master WHERE name = 'c'").pluck().get()).toContain(
      'REFERENCES p',
    );
  });

  it('ALTER TABLE: ADD COLUMN / ADD INDEX / DROP INDEX / options', () => {
    const db = new Database(':memory:');
    runAll(db, 'CREATE TABLE t (id INT NOT NULL AUTO_INCREMENT, PRIMARY KEY (id))');
    runAll(db, 'ALTER TABLE `t` ADD COLUMN `n` int(11) unsigned DEFAULT 0 AFTER `id`');
    // AFTER is MySQL's column placement; SQLite appends.
    expect(translateMysql('ALTER TABLE t ADD INDEX n_idx (n), ADD UNIQUE KEY n_u (n)')).toBe(
      'CREATE INDEX n_idx ON t (n);\nCREATE UNIQUE INDEX n_u ON t (n)',
    );
    runAll(db, 'ALTER TABLE t ADD INDEX n_idx (n)');
    runAll(db, 'ALTER TABLE t DROP INDEX n_idx');
    expect(translateMysql('ALTER TABLE t ENGINE=InnoDB')).toBe('');
    expect(errnoOf('ALTER TABLE t MODIFY n BIGINT')).toBe(1235);
  });

  it('DROP TABLE a, b; DROP INDEX x ON t; TRUNCATE TABLE t', () => {
    expect(translateMysql('DROP TABLE IF EXISTS sbtest1, `sbtest2`')).toBe(
      'DROP TABLE IF EXISTS sbtest1;\nDROP TABLE IF EXISTS `sbtest2`',
    );
    expect(translateMysql('DROP INDEX k_1 ON sbtest1')).toBe('DROP INDEX k_1');
    expect(translateMysql('CREATE INDEX k_1 USING BTREE ON sbtest1(k) ALGORITHM=INPLACE')).toBe(
      'CREATE INDEX k_1 ON sbtest1 (k)',
    );
    expect(translateMysql('TRUNCATE TABLE t')).toBe('DELETE FROM t');
  });
});

describe('translateMysql: DML', () => {
  it('ON DUPLICATE KEY UPDATE with VALUES(col) becomes an upsert with excluded', () => {
    expect(
      translateMysql('INSERT INTO t (a, b) VALUES (?, ?) ON DUPLICATE KEY UPDATE b = VALUES(b), n = n + 1'),
    ).toBe('INSERT INTO t(a, b) VALUES(?, ?) ON CONFLICT DO UPDATE SET b = excluded.b, n = n + 1');
    const db = new Database(':memory:');
    db.exec('CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, n INT DEFAULT 0)');
    const upsert = translateMysql(
      "INSERT INTO t (a, b) VALUES (1, 'x') AS new ON DUPLICATE KEY UPDATE b = new.b, n = n + 1",
    );
    db.exec(upsert);
    db.exec(upsert.replace("'x'", "'y'"));
    expect(db.prepare('SELECT a, b, n FROM t').raw().all()).toEqual([[1, 'y', 1]]);
  });

  it('INSERT … SELECT … ON DUPLICATE KEY UPDATE gets the WHERE SQLite needs', () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE t (a INTEGER PRIMARY KEY, b INT); CREATE TABLE s (a INT, b INT)');
    db.exec('INSERT INTO s VALUES (1, 2); INSERT INTO t VALUES (1, 0)');
    runAll(db, 'INSERT INTO t (a, b) SELECT a, b FROM s ON DUPLICATE KEY UPDATE b = VALUES(b)');
    expect(db.prepare('SELECT b FROM t').pluck().get()).toBe(2);
  });

  it('INSERT IGNORE → INSERT OR IGNORE', () => {
    expect(translateMysql('INSERT IGNORE INTO t VALUES (1)')).toBe('INSERT OR IGNORE INTO t VALUES(1)');
  });

  it('backslash escapes in string literals, # comments, LAST_INSERT_ID(), FOR UPDATE', () => {
    const db = new Database(':memory:');
    const value = db
      .prepare(translateMysql("SELECT 'it\\'s\\na \\\\ \"q\" \\% ok' # trailing"))
      .pluck()
      .get();
    expect(value).toBe('it\'s\na \\ "q" \\% ok');
    expect(translateMysql('SELECT LAST_INSERT_ID()')).toBe('SELECT last_insert_rowid()');
    expect(translateMysql('SELECT c FROM t WHERE id = ? FOR UPDATE')).toBe('SELECT c FROM t WHERE id = ?');
    expect(translateMysql('SELECT c FROM t WHERE id = ? LOCK IN SHARE MODE')).toBe(
      'SELECT c FROM t WHERE id = ?',
    );
  });

  it('hex literals, charset introducers and [bracketed] names survive a translation (here: a # comment)', () => {
    const db = new Database(':memory:');
    const sql = translateMysql("SELECT X'0aFF' AS h, _utf8mb4'x' AS s, N'y' AS n, 1 AS [a b] # c");
    expect(db.prepare(sql).get()).toEqual({ h: Buffer.from([0x0a, 0xff]), s: 'x', n: 'y', 'a b': 1 });
  });

  it('operators survive re-rendering (||, <=, - -1)', () => {
    const db = new Database(':memory:');
    const sql = translateMysql("SELECT 'a\\'' || 'b', 1 <= 2, 3 - -1");
    expect(db.prepare(sql).raw().get()).toEqual(["a'b", 1, 4]);
  });
});

describe('translateMysql: what is refused, with its MySQL errno', () => {
  it.each([
    ['CREATE TABLE t (a TEXT, FULLTEXT KEY f (a))', 1235],
    ['CREATE TABLE t (a INT) PARTITION BY HASH(a)', 1235],
    ['CREATE TABLE t LIKE u', 1235],
    ['CREATE TABLE t (a INT AUTO_INCREMENT, b INT, PRIMARY KEY (a, b))', 1235],
    ['CREATE TABLE t (a INT AUTO_INCREMENT, b INT, KEY (a))', 1235],
    ['ALTER TABLE t CHANGE a b INT', 1235],
    ["SELECT 'a\\0b' FROM t # x", 1235],
    ["SELECT 'unterminated # x", 1064],
    ['CREATE TABLE t (a INT) ENGINE=InnoDB garbage garbage', 1064],
  ])('%s → %i', (sql, errno) => {
    expect(errnoOf(sql)).toBe(errno);
  });

  it('a refusal is a BadRequestException with a clear message', () => {
    expect(() => translateMysql('CREATE TABLE t (a TEXT, FULLTEXT KEY f (a))')).toThrow(
      expect.objectContaining({ name: 'BadRequestException', message: expect.stringContaining('FULLTEXT') }),
    );
  });
});

describe('tokenize', () => {
  it('keeps quoted identifiers and parameters whole', () => {
    const kinds = tokenize('SELECT `a``b`, "c", :p1, ?, @v FROM t')
      .filter((t) => t.kind !== 'space')
      .map((t) => `${t.kind}:${t.text}`);
    expect(kinds).toEqual([
      'word:SELECT',
      'quoted:`a``b`',
      'punct:,',
      'quoted:"c"',
      'punct:,',
      'param::p1',
      'punct:,',
      'param:?',
      'punct:,',
      'param:@v',
      'word:FROM',
      'word:t',
    ]);
  });
});
