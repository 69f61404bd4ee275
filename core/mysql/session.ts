// The session statements MySQL connectors and tools send around the SQL they run — SET NAMES,
// SET autocommit, SET TRANSACTION ISOLATION LEVEL, SELECT @@version …, START TRANSACTION / BEGIN /
// COMMIT / ROLLBACK, USE, SHOW … — recognised here and answered by the connection (or turned into SQL
// over the catalog for the executor). Pure: text and session state in, an action out.
import type { SqlValue } from '../data-api/types.ts';
import { protocolError } from './errors.ts';

/** Settings a session reports and changes. */
export interface SessionState {
  database: string;
  autocommit: boolean;
  isolation: string;
  readOnly: boolean;
  /** Session system variables set by SET (bounded by sessionVariablesMax). */
  variables: Map<string, string>;
  connectionId: number;
  user: string;
}

export interface ServerVariables {
  version: string;
  versionComment: string;
  maxAllowedPacket: number;
  waitTimeoutSeconds: number;
  port: number;
}

/** SET of more session variables than this is refused: every store has a bound. */
export const sessionVariablesMax = 256;

export type SessionAction =
  | { kind: 'begin' }
  | { kind: 'commit' }
  | { kind: 'rollback' }
  | { kind: 'ok' }
  | { kind: 'use'; database: string }
  | { kind: 'rows'; columns: string[]; rows: SqlValue[][] }
  /** Run this SQL through the executor; an empty result is `emptyError` when set (unknown table). */
  | { kind: 'sql'; sql: string; emptyError?: ReturnType<typeof protocolError> };

const isolationLevels: Record<string, string> = {
  'READ UNCOMMITTED': 'READ-UNCOMMITTED',
  'READ COMMITTED': 'READ-COMMITTED',
  'REPEATABLE READ': 'REPEATABLE-READ',
  SERIALIZABLE: 'SERIALIZABLE',
};

/** A SQL string literal (the executor's dialect reads it as written: no backslashes are produced). */
const literal = (text: string): string => `'${text.replaceAll("'", "''")}'`;

/** `name`, `\`name\``, `"name"` → name. */
function identifier(text: string): string {
  const t = text.trim();
  if ((t.startsWith('`') && t.endsWith('`')) || (t.startsWith('"') && t.endsWith('"'))) return t.slice(1, -1);
  return t;
}

/** The table of a SHOW/DESCRIBE: `t`, `db.t`; the database part must be the session's. */
function tableName(text: string, state: SessionState): string {
  const parts = text.trim().split('.');
  if (parts.length === 2) {
    checkDatabase(identifier(parts[0]!), state);
    return identifier(parts[1]!);
  }
  return identifier(text);
}

function checkDatabase(name: string, state: SessionState): void {
  if (name.toLowerCase() !== state.database.toLowerCase()) {
    throw protocolError('BAD_DB', `Unknown database '${name}'`);
  }
}

/** A LIKE pattern as a RegExp (case-insensitive, as MySQL's default collation compares). */
function likePattern(pattern: string): RegExp {
  const body = pattern
    .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    .replaceAll('%', '.*')
    .replaceAll('_', '.');
  return new RegExp(`^${body}$`, 'i');
}

function stringLiteral(text: string): string {
  const t = text.trim();
  const q = t[0];
  if ((q === "'" || q === '"') && t.endsWith(q)) return t.slice(1, -1).replaceAll(`${q}${q}`, q);
  throw protocolError('PARSE', `You have an error in your SQL syntax near '${t.slice(0, 40)}'`);
}

/** System variables by name (lower case) for this session. */
export function systemVariables(state: SessionState, server: ServerVariables): Map<string, string> {
  const vars = new Map<string, string>([
    ['version', server.version],
    ['version_comment', server.versionComment],
    ['max_allowed_packet', String(server.maxAllowedPacket)],
    ['wait_timeout', String(server.waitTimeoutSeconds)],
    ['interactive_timeout', String(server.waitTimeoutSeconds)],
    ['net_write_timeout', '60'],
    ['net_read_timeout', '30'],
    ['autocommit', state.autocommit ? '1' : '0'],
    ['transaction_isolation', state.isolation],
    ['tx_isolation', state.isolation],
    ['transaction_read_only', state.readOnly ? '1' : '0'],
    ['tx_read_only', state.readOnly ? '1' : '0'],
    ['read_only', state.readOnly ? '1' : '0'],
    ['innodb_read_only', state.readOnly ? '1' : '0'],
    ['character_set_client', 'utf8mb4'],
    ['character_set_connection', 'utf8mb4'],
    ['character_set_results', 'utf8mb4'],
    ['character_set_server', 'utf8mb4'],
    ['character_set_database', 'utf8mb4'],
    ['collation_connection', 'utf8mb4_general_ci'],
    ['collation_server', 'utf8mb4_general_ci'],
    ['collation_database', 'utf8mb4_general_ci'],
    ['sql_mode', 'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION'],
    ['time_zone', 'SYSTEM'],
    ['system_time_zone', 'UTC'],
    ['lower_case_table_names', '0'],
    ['auto_increment_increment', '1'],
    ['auto_increment_offset', '1'],
    ['sql_auto_is_null', '0'],
    ['sql_select_limit', '18446744073709551615'],
    ['query_cache_size', '0'],
    ['query_cache_type', 'OFF'],
    ['performance_schema', '0'],
    ['have_ssl', 'DISABLED'],
    ['license', 'Apache-2.0'],
    ['init_connect', ''],
    ['port', String(server.port)],
    ['hostname', 'borealis'],
    ['version_compile_os', 'Linux'],
    ['default_storage_engine', 'InnoDB'],
    ['storage_engine', 'InnoDB'],
    ['max_execution_time', '0'],
    ['lock_wait_timeout', '31536000'],
    ['innodb_lock_wait_timeout', '30'],
    ['net_buffer_length', '16384'],
    ['session_track_schema', 'OFF'],
    ['default_authentication_plugin', 'mysql_native_password'],
  ]);
  for (const [name, value] of state.variables) vars.set(name, value);
  return vars;
}

const variableItem = /^@@(?:(session|global|local)\.)?([a-z_][a-z0-9_]*)$/i;
const functionItem =
  /^(database|schema|user|current_user|session_user|system_user|version|connection_id)\s*\(\s*\)$|^current_user$/i;

/**
 * A SELECT of system variables and session functions only (`SELECT @@version_comment LIMIT 1`,
 * `SELECT DATABASE(), USER()`), answered from the session; undefined for any other SELECT.
 */
function selectVariables(
  body: string,
  state: SessionState,
  server: ServerVariables,
): SessionAction | undefined {
  const limit = /\s+limit\s+(\d+)\s*$/i.exec(body);
  const list = limit ? body.slice(0, limit.index) : body;
  const columns: string[] = [];
  const row: SqlValue[] = [];
  const vars = systemVariables(state, server);
  for (const rawItem of list.split(',')) {
    const aliasMatch = /^(.*?)\s+(?:as\s+)?(`[^`]+`|'[^']+'|"[^"]+"|[a-z_][a-z0-9_]*)\s*$/i.exec(
      rawItem.trim(),
    );
    const expression = (aliasMatch && !/^@@/.test(rawItem.trim()) ? aliasMatch[1]! : rawItem).trim();
    let item = expression;
    let alias: string | undefined;
    if (
      aliasMatch &&
      (variableItem.test(aliasMatch[1]!.trim()) || functionItem.test(aliasMatch[1]!.trim()))
    ) {
      item = aliasMatch[1]!.trim();
      alias = identifier(aliasMatch[2]!.replace(/^'|'$/g, ''));
    }
    const variable = variableItem.exec(item);
    if (variable) {
      const name = variable[2]!.toLowerCase();
      const value = vars.get(name);
      if (value === undefined)
        throw protocolError('UNKNOWN_SYSTEM_VARIABLE', `Unknown system variable '${name}'`);
      columns.push(alias ?? item);
      row.push(/^-?\d+$/.test(value) ? BigInt(value) : value);
      continue;
    }
    const fn = functionItem.exec(item);
    if (!fn) return undefined;
    const name = (fn[1] ?? 'current_user').toLowerCase();
    columns.push(alias ?? item);
    if (name === 'database' || name === 'schema') row.push(state.database);
    else if (name === 'version') row.push(server.version);
    else if (name === 'connection_id') row.push(BigInt(state.connectionId));
    else row.push(`${state.user}@%`);
  }
  const rows = limit && Number(limit[1]) === 0 ? [] : [row];
  return { kind: 'rows', columns, rows };
}

/**
 * What the connection does with `sql`: a session action, or undefined to run it through the
 * executor as it is. Throws MysqlProtocolError (1235, 1049, 1193, 1064) for what it refuses.
 */
export function sessionAction(
  sql: string,
  state: SessionState,
  server: ServerVariables,
): SessionAction | undefined {
  const text = sql.replace(/^(\s|\/\*(?!!)[\s\S]*?\*\/)+/, '').replace(/[\s;]+$/, '');
  const first = /^[a-z]+/i.exec(text)?.[0]?.toUpperCase();
  switch (first) {
    case undefined:
      return text === '' || /^\/\*![\s\S]*\*\/$/.test(text) ? { kind: 'ok' } : undefined;
    case 'BEGIN':
      return /^begin(\s+work)?$/i.test(text) ? { kind: 'begin' } : undefined;
    case 'START':
      if (/^start\s+transaction(\s+(read\s+(only|write)|with\s+consistent\s+snapshot)\s*,?)*$/i.test(text)) {
        return { kind: 'begin' };
      }
      return undefined;
    case 'COMMIT':
      if (/^commit(\s+work)?(\s+and\s+(no\s+)?chain)?(\s+(no\s+)?release)?$/i.test(text))
        return { kind: 'commit' };
      return undefined;
    case 'ROLLBACK':
      if (/^rollback(\s+work)?(\s+and\s+(no\s+)?chain)?(\s+(no\s+)?release)?$/i.test(text))
        return { kind: 'rollback' };
      if (/^rollback(\s+work)?\s+to\b/i.test(text))
        throw protocolError('NOT_SUPPORTED_YET', "This version of Borealis doesn't yet support 'SAVEPOINT'");
      return undefined;
    case 'SAVEPOINT':
    case 'RELEASE':
    case 'XA':
      throw protocolError('NOT_SUPPORTED_YET', `This version of Borealis doesn't yet support '${first}'`);
    case 'LOCK':
    case 'UNLOCK':
      // mysqldump's LOCK TABLES / UNLOCK TABLES: writes are already serialised by the writer's write lock.
      return /^(un)?lock\s+tables?\b/i.test(text) ? { kind: 'ok' } : undefined;
    case 'FLUSH':
      return { kind: 'ok' };
    case 'USE': {
      const name = identifier(text.slice(3));
      checkDatabase(name, state);
      return { kind: 'use', database: state.database };
    }
    case 'SET':
      return set(text.slice(3), state);
    case 'SELECT': {
      const body = text.slice(6).trim();
      if (
        !/^(@@|database\s*\(|schema\s*\(|user\s*\(|current_user|session_user|system_user|version\s*\(|connection_id\s*\()/i.test(
          body,
        )
      ) {
        return undefined;
      }
      return selectVariables(body, state, server);
    }
    case 'SHOW':
      return show(text.slice(4).trim(), state, server);
    case 'DESCRIBE':
    case 'DESC':
    case 'EXPLAIN': {
      const rest = text.slice(first.length).trim();
      if (
        /^[`"]?[a-z_][a-z0-9_$]*[`"]?(\.[`"]?[a-z_][a-z0-9_$]*[`"]?)?$/i.test(rest) &&
        !/^(select|insert|update|delete|with|replace)$/i.test(rest)
      ) {
        return describeColumns(tableName(rest, state), state);
      }
      return undefined;
    }
    case 'KILL':
      throw protocolError('NOT_SUPPORTED_YET', "This version of Borealis doesn't yet support 'KILL'");
    default:
      return undefined;
  }
}

function set(body: string, state: SessionState): SessionAction {
  const assignments = body.split(/,(?=(?:[^']*'[^']*')*[^']*$)/);
  for (const raw of assignments) {
    const a = raw.trim();
    if (/^(names|character\s+set|charset)\b/i.test(a)) continue;
    const txn = /^(?:(?:session|global|local|persist)\s+)?transaction\s+(.*)$/i.exec(a);
    if (txn) {
      const level =
        /isolation\s+level\s+(read\s+uncommitted|read\s+committed|repeatable\s+read|serializable)/i.exec(
          txn[1]!,
        );
      if (level) state.isolation = isolationLevels[level[1]!.toUpperCase().replace(/\s+/g, ' ')]!;
      continue;
    }
    const m =
      /^(?:(?:session|global|local|persist)\s+|@@(?:session\.|global\.|local\.)?)?([a-z_][a-z0-9_]*)\s*(?:=|:=)\s*([\s\S]*)$/i.exec(
        a,
      );
    if (m) {
      const name = m[1]!.toLowerCase();
      const value = m[2]!.trim();
      if (name === 'autocommit') {
        const on = /^(1|on|true)$/i.test(value);
        if (!on && !/^(0|off|false)$/i.test(value)) {
          throw protocolError(
            'WRONG_ARGUMENTS',
            `Variable 'autocommit' can't be set to the value of '${value}'`,
          );
        }
        state.autocommit = on;
        continue;
      }
      if (name === 'transaction_isolation' || name === 'tx_isolation') {
        const level = stringLiteral(value)
          .toUpperCase()
          .replace(/[-\s]+/g, ' ');
        const normal = isolationLevels[level];
        if (normal === undefined) {
          throw protocolError(
            'WRONG_ARGUMENTS',
            `Variable '${name}' can't be set to the value of '${value}'`,
          );
        }
        state.isolation = normal;
        continue;
      }
      if (!state.variables.has(name) && state.variables.size >= sessionVariablesMax) {
        throw protocolError('WRONG_ARGUMENTS', `Too many session variables (at most ${sessionVariablesMax})`);
      }
      state.variables.set(name, /^'.*'$|^".*"$/.test(value) ? stringLiteral(value) : value);
      continue;
    }
    // SET @user_variable = …: user variables are not kept (they are not used by connectors).
    if (/^@[a-z_]/i.test(a)) continue;
    throw protocolError('PARSE', `You have an error in your SQL syntax near 'SET ${a.slice(0, 40)}'`);
  }
  return { kind: 'ok' };
}

function show(body: string, state: SessionState, server: ServerVariables): SessionAction {
  let m: RegExpExecArray | null;
  m = /^(databases|schemas)(?:\s+like\s+(.+))?$/i.exec(body);
  if (m) {
    const pattern = m[2] === undefined ? undefined : likePattern(stringLiteral(m[2]));
    return {
      kind: 'rows',
      columns: ['Database'],
      rows: pattern && !pattern.test(state.database) ? [] : [[state.database]],
    };
  }
  m = /^(full\s+)?tables(?:\s+(?:from|in)\s+(\S+))?(?:\s+like\s+(.+))?$/i.exec(body);
  if (m) {
    if (m[2] !== undefined) checkDatabase(identifier(m[2]), state);
    const column = `Tables_in_${state.database}`;
    const like = m[3] === undefined ? '' : ` AND name LIKE ${literal(stringLiteral(m[3]))}`;
    const full = m[1] ? `, CASE type WHEN 'view' THEN 'VIEW' ELSE 'BASE TABLE' END AS "Table_type"` : '';
    return {
      kind: 'sql',
      sql: `SELECT name AS "${column}"${full} FROM sqlite_master WHERE type IN ('table', 'view') AND substr(name, 1, 7) <> 'sqlite_'${like} ORDER BY name`,
    };
  }
  m =
    /^(?:full\s+)?(?:columns|fields)\s+(?:from|in)\s+(\S+)(?:\s+(?:from|in)\s+(\S+))?(?:\s+like\s+(.+))?$/i.exec(
      body,
    );
  if (m) {
    if (m[2] !== undefined) checkDatabase(identifier(m[2]), state);
    return describeColumns(
      tableName(m[1]!, state),
      state,
      m[3] === undefined ? undefined : stringLiteral(m[3]),
    );
  }
  m = /^create\s+table\s+(\S+)$/i.exec(body);
  if (m) {
    const table = tableName(m[1]!, state);
    return {
      kind: 'sql',
      sql: `SELECT name AS "Table", sql AS "Create Table" FROM sqlite_master WHERE type = 'table' AND name = ${literal(table)}`,
      emptyError: protocolError('NO_SUCH_TABLE', `Table '${state.database}.${table}' doesn't exist`),
    };
  }
  if (/^(warnings|errors)(\s+limit\s+\d+(\s*,\s*\d+)?)?$/i.test(body)) {
    return { kind: 'rows', columns: ['Level', 'Code', 'Message'], rows: [] };
  }
  m = /^count\s*\(\s*\*\s*\)\s+(warnings|errors)$/i.exec(body);
  if (m) {
    const what = m[1]!.toLowerCase() === 'warnings' ? 'warning' : 'error';
    return { kind: 'rows', columns: [`@@session.${what}_count`], rows: [[0n]] };
  }
  m = /^(?:(?:session|global|local)\s+)?variables(?:\s+like\s+(.+)|\s+where\s+.+)?$/i.exec(body);
  if (m) {
    const pattern = m[1] === undefined ? undefined : likePattern(stringLiteral(m[1]));
    const rows = [...systemVariables(state, server)]
      .filter(([name]) => pattern === undefined || pattern.test(name))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, value]): SqlValue[] => [name, value]);
    return { kind: 'rows', columns: ['Variable_name', 'Value'], rows };
  }
  if (/^(?:(?:session|global|local)\s+)?status\b/i.test(body)) {
    return { kind: 'rows', columns: ['Variable_name', 'Value'], rows: [] };
  }
  if (/^(storage\s+)?engines$/i.test(body)) {
    return {
      kind: 'rows',
      columns: ['Engine', 'Support', 'Comment', 'Transactions', 'XA', 'Savepoints'],
      rows: [['InnoDB', 'DEFAULT', 'Borealis (SQLite pages on Aurora-style storage)', 'YES', 'NO', 'NO']],
    };
  }
  throw protocolError(
    'NOT_SUPPORTED_YET',
    `This version of Borealis doesn't yet support 'SHOW ${body.split(/\s+/).slice(0, 2).join(' ').toUpperCase()}'`,
  );
}

/** SHOW COLUMNS / DESCRIBE: MySQL's six columns from SQLite's table_info. */
function describeColumns(table: string, state: SessionState, like?: string): SessionAction {
  const filter = like === undefined ? '' : ` WHERE name LIKE ${literal(like)}`;
  return {
    kind: 'sql',
    sql:
      `SELECT name AS "Field", type AS "Type", CASE WHEN "notnull" = 1 OR pk > 0 THEN 'NO' ELSE 'YES' END AS "Null", ` +
      `CASE WHEN pk > 0 THEN 'PRI' ELSE '' END AS "Key", dflt_value AS "Default", ` +
      `CASE WHEN pk = 1 AND upper(type) = 'INTEGER' THEN 'auto_increment' ELSE '' END AS "Extra" ` +
      `FROM pragma_table_info(${literal(table)})${filter} ORDER BY cid`,
    emptyError: protocolError('NO_SUCH_TABLE', `Table '${state.database}.${table}' doesn't exist`),
  };
}
