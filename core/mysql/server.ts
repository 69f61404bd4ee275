// The MySQL protocol front end of an instance, beside the Data API and over the SAME executor: one
// executor, two front ends (docs/adr/014-mysql-protocol.md). Accept loop and per-connection state
// machine: handshake and mysql_native_password auth, then commands one at a time (pipelined requests
// queue, bounded). A connection in a transaction holds an executor transaction id; autocommit
// statements run as the Data API's do. A response is written only after the executor returns,
// which is after VDL covers what the statement did (the durability rule).

import type { AddressInfo } from 'node:net';
import { createServer, type Server, type Socket } from 'node:net';
import { assert } from '../assert.ts';
import { isDataApiError } from '../data-api/errors.ts';
import type { DataApiExecutor, ResultColumn, SqlValue, StatementResult } from '../data-api/types.ts';
import type { Logger } from '../log.ts';
import { closesConnection, type MysqlError, mysqlError, mysqlErrorFor, protocolError } from './errors.ts';
import {
  authSwitchRequest,
  handshakeV10,
  nativePasswordPlugin,
  newScramble,
  parseHandshakeResponse,
  verifyNativePassword,
} from './handshake.ts';
import {
  Capability,
  Command,
  framePayload,
  MalformedPacketError,
  maxAllowedPacketDefault,
  type Packet,
  PacketReader,
  PacketTooLargeError,
  PayloadWriter,
  requiredClientCapabilities,
  ServerStatus,
  serverCapabilities,
} from './protocol.ts';
import {
  binaryRow,
  type ColumnDefinition,
  columnDefinitionPacket,
  columnFor,
  endOfRows,
  eofPacket,
  errPacket,
  okPacket,
  type ParameterType,
  parseExecute,
  stringColumn,
  textRow,
} from './results.ts';
import { type ServerVariables, type SessionState, sessionAction } from './session.ts';

/** The cluster's MySQL account and database unless the instance is told otherwise (docs/mysql.md). */
export const mysqlUserDefault = 'admin';
export const mysqlPasswordDefault = 'borealis';
/** The version MySQL clients see: MySQL 8.0's protocol and dialect, served by Borealis. */
export const mysqlServerVersion = '8.0.36-borealis';
export const mysqlVersionComment = 'Borealis (Aurora architecture; SQLite pages on quorum storage)';
/** wait_timeout: an idle connection is closed after this long (MySQL's default, 8 hours). */
export const waitTimeoutMsDefault = 28_800_000;
/** The handshake must finish within this (MySQL's connect_timeout, 10 s). */
export const connectTimeoutMs = 10_000;
export const connectionsMaxDefault = 1_000;
/** Prepared statements one connection may hold (max_prepared_stmt_count is per server in MySQL). */
export const preparedStatementsPerConnectionMax = 1_024;
/** The largest packet accepted before authentication (a handshake response is a few hundred bytes). */
export const handshakePacketBytesMax = 64 * 1024;
/** Commands read ahead of the one running (pipelining); past it the socket is paused. */
const queuedPacketsMax = 64;

/** The executor both front ends share; describeStatement lets COM_STMT_PREPARE report result columns. */
export interface MysqlExecutor extends DataApiExecutor {
  describeStatement?(sql: string): Promise<ResultColumn[]>;
}

export interface MysqlServerOptions {
  /** 0 picks a free port. */
  port: number;
  /** @default '127.0.0.1' */
  host?: string;
  executor: MysqlExecutor;
  user: string;
  password: string;
  /** The cluster's one database: what SHOW DATABASES lists and USE / connect-with-db accept. */
  database: string;
  /** A reader: writes are refused with 1290 by the executor; @@read_only reports 1. */
  readOnly: boolean;
  /** @default maxAllowedPacketDefault (64 MiB) */
  maxAllowedPacket?: number;
  /** @default waitTimeoutMsDefault (8 h) */
  waitTimeoutMs?: number;
  /** @default connectionsMaxDefault */
  connectionsMax?: number;
  logger?: Logger;
}

export interface MysqlServer {
  server: Server;
  port: number;
  readonly connections: number;
  /** Stops accepting, rolls back open transactions and closes every connection. Idempotent. */
  close(): Promise<void>;
}

interface Settings {
  executor: MysqlExecutor;
  user: string;
  password: string;
  database: string;
  readOnly: boolean;
  maxAllowedPacket: number;
  waitTimeoutMs: number;
  connectionsMax: number;
  logger: Logger | undefined;
  variables: ServerVariables;
}

export async function startMysqlServer(options: MysqlServerOptions): Promise<MysqlServer> {
  assert(
    Number.isInteger(options.port) && options.port >= 0 && options.port <= 65535,
    `port must be 0..65535, got ${options.port}`,
  );
  assert(options.user.length > 0, 'the MySQL user must not be empty');
  assert(options.database.length > 0, 'the MySQL database must not be empty');
  const maxAllowedPacket = options.maxAllowedPacket ?? maxAllowedPacketDefault;
  assert(
    maxAllowedPacket >= 1024 && maxAllowedPacket <= 1024 ** 3,
    `max_allowed_packet out of range: ${maxAllowedPacket}`,
  );
  const waitTimeoutMs = options.waitTimeoutMs ?? waitTimeoutMsDefault;
  assert(waitTimeoutMs > 0, `wait_timeout must be positive, got ${waitTimeoutMs}`);
  const settings: Settings = {
    executor: options.executor,
    user: options.user,
    password: options.password,
    database: options.database,
    readOnly: options.readOnly,
    maxAllowedPacket,
    waitTimeoutMs,
    connectionsMax: options.connectionsMax ?? connectionsMaxDefault,
    logger: options.logger,
    variables: {
      version: mysqlServerVersion,
      versionComment: mysqlVersionComment,
      maxAllowedPacket,
      waitTimeoutSeconds: Math.ceil(waitTimeoutMs / 1000),
      port: 0,
    },
  };
  const connections = new Set<MysqlConnection>();
  let nextConnectionId = 1;
  const server = createServer({ noDelay: true }, (socket) => {
    const id = nextConnectionId;
    nextConnectionId = (nextConnectionId % 0xffff_fffe) + 1;
    if (connections.size >= settings.connectionsMax) {
      const { buffers } = framePayload(errPacket(1040, '08004', 'Too many connections'), 0);
      socket.end(Buffer.concat(buffers));
      return;
    }
    const connection = new MysqlConnection(settings, socket, id, () => connections.delete(connection));
    connections.add(connection);
  });
  server.on('error', (error) => settings.logger?.error({ err: error }, 'mysql server error'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  settings.variables.port = port;
  settings.logger?.info({ port }, 'mysql protocol listening');
  let closing: Promise<void> | undefined;
  return {
    server,
    port,
    get connections() {
      return connections.size;
    },
    close: () =>
      (closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        await Promise.allSettled([...connections].map((c) => c.close()));
        await closed;
      })()),
  };
}

interface PreparedStatement {
  /** The SQL with `?` rewritten to `:1` … `:n` for the executor. */
  sql: string;
  parameterCount: number;
  types: ParameterType[] | undefined;
  longData: Map<number, Buffer>;
  longDataBytes: number;
}

type Outcome =
  | { kind: 'ok'; affectedRows: number; lastInsertId: bigint }
  | { kind: 'rows'; columns: ColumnDefinition[]; rows: SqlValue[][] };

/** One client connection: the handshake, then one command at a time. */
class MysqlConnection {
  readonly #settings: Settings;
  readonly #socket: Socket;
  readonly #reader: PacketReader;
  readonly #onClose: () => void;
  #phase: 'handshake' | 'auth-switch' | 'command' | 'closed' = 'handshake';
  readonly #scramble = newScramble();
  #capabilities = 0;
  #pendingUser = '';
  #pendingDatabase: string | undefined;
  readonly #queue: Packet[] = [];
  #running = false;
  #transactionId: string | undefined;
  readonly #statements = new Map<number, PreparedStatement>();
  #nextStatementId = 1;
  readonly #state: SessionState;
  #closing: Promise<void> | undefined;

  constructor(settings: Settings, socket: Socket, id: number, onClose: () => void) {
    this.#settings = settings;
    this.#socket = socket;
    this.#onClose = onClose;
    // Before authentication only small packets: an unauthenticated peer cannot make the server buffer 64 MiB.
    this.#reader = new PacketReader(handshakePacketBytesMax);
    this.#state = {
      database: settings.database,
      autocommit: true,
      isolation: 'REPEATABLE-READ',
      readOnly: settings.readOnly,
      variables: new Map(),
      connectionId: id,
      user: settings.user,
    };
    socket.setTimeout(connectTimeoutMs);
    socket.on('timeout', () => {
      // wait_timeout counts idle time: a statement still running re-arms it.
      if (this.#running)
        socket.setTimeout(this.#phase === 'command' ? settings.waitTimeoutMs : connectTimeoutMs);
      else void this.close();
    });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (error) =>
      settings.logger?.debug({ err: error, connection: id }, 'mysql connection error'),
    );
    socket.on('close', () => void this.close());
    this.#send(
      [handshakeV10({ serverVersion: mysqlServerVersion, connectionId: id, scramble: this.#scramble })],
      0,
    );
  }

  get #status(): number {
    return (
      (this.#transactionId !== undefined ? ServerStatus.IN_TRANS : 0) |
      (this.#state.autocommit ? ServerStatus.AUTOCOMMIT : 0)
    );
  }

  #onData(chunk: Buffer): void {
    if (this.#phase === 'closed') return;
    let packets: Packet[];
    try {
      packets = this.#reader.push(chunk);
    } catch (error) {
      if (error instanceof PacketTooLargeError) {
        // The rest of the oversize packet cannot be skipped reliably: answer and close, as MySQL does.
        this.#fail(mysqlError('NET_PACKET_TOO_LARGE', error.message), 1);
        return;
      }
      throw error;
    }
    this.#queue.push(...packets);
    if (this.#queue.length > queuedPacketsMax) this.#socket.pause();
    void this.#drain();
  }

  async #drain(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      while (this.#queue.length > 0 && this.#phase !== 'closed') {
        const packet = this.#queue.shift()!;
        if (this.#queue.length <= queuedPacketsMax / 2 && this.#socket.isPaused()) this.#socket.resume();
        await this.#handle(packet);
      }
    } finally {
      this.#running = false;
      // Closed while a statement ran: its transaction is ended now that the executor has returned.
      if (this.#phase === 'closed') await this.#rollbackOnClose();
    }
  }

  async #rollbackOnClose(): Promise<void> {
    const id = this.#transactionId;
    this.#transactionId = undefined;
    if (id !== undefined) await this.#settings.executor.rollbackTransaction(id).catch(() => undefined);
  }

  async #handle(packet: Packet): Promise<void> {
    const seq = (packet.sequenceId + 1) & 0xff;
    try {
      if (this.#phase === 'handshake') return this.#onHandshakeResponse(packet.payload, seq);
      if (this.#phase === 'auth-switch') return this.#onAuthSwitchResponse(packet.payload, seq);
      await this.#onCommand(packet.payload);
    } catch (error) {
      if (error instanceof MalformedPacketError) {
        if (this.#phase === 'command')
          this.#send([this.#err(mysqlError('MALFORMED_PACKET', error.message))], 1);
        else this.#fail(mysqlError('MALFORMED_PACKET', error.message), seq);
        return;
      }
      this.#settings.logger?.error({ err: error }, 'mysql command failed');
      if (this.#phase === 'command') this.#send([this.#err(mysqlErrorFor(error, this.#state.database))], 1);
      else this.#fail(mysqlError('UNKNOWN_ERROR', 'An internal error occurred'), seq);
    }
  }

  // --- Connection phase -----------------------------------------------------------------------------

  #onHandshakeResponse(payload: Buffer, seq: number): void {
    const response = parseHandshakeResponse(payload);
    if (response.sslRequest) {
      this.#fail(
        mysqlError('ACCESS_DENIED', 'SSL connections are not supported by this server; connect without TLS'),
        seq,
      );
      return;
    }
    if ((response.capabilities & requiredClientCapabilities) !== requiredClientCapabilities) {
      this.#fail(
        mysqlError(
          'MALFORMED_PACKET',
          'The client must support CLIENT_PROTOCOL_41 and CLIENT_SECURE_CONNECTION',
        ),
        seq,
      );
      return;
    }
    this.#capabilities = response.capabilities & serverCapabilities;
    this.#pendingUser = response.user;
    this.#pendingDatabase = response.database;
    if (
      response.authPlugin !== undefined &&
      response.authPlugin !== nativePasswordPlugin &&
      response.capabilities & Capability.PLUGIN_AUTH
    ) {
      this.#phase = 'auth-switch';
      this.#send([authSwitchRequest(this.#scramble)], seq);
      return;
    }
    this.#authenticate(response.authResponse, seq);
  }

  #onAuthSwitchResponse(payload: Buffer, seq: number): void {
    this.#authenticate(payload, seq);
  }

  #authenticate(token: Buffer, seq: number): void {
    const s = this.#settings;
    if (this.#pendingUser !== s.user || !verifyNativePassword(s.password, this.#scramble, token)) {
      this.#settings.logger?.info({ user: this.#pendingUser.slice(0, 64) }, 'mysql access denied');
      this.#fail(
        mysqlError(
          'ACCESS_DENIED',
          `Access denied for user '${this.#pendingUser.slice(0, 64)}'@'${this.#socket.remoteAddress ?? ''}' (using password: ${token.length > 0 ? 'YES' : 'NO'})`,
        ),
        seq,
      );
      return;
    }
    const database = this.#pendingDatabase;
    if (database !== undefined && database.toLowerCase() !== s.database.toLowerCase()) {
      this.#fail(mysqlError('BAD_DB', `Unknown database '${database.slice(0, 64)}'`), seq);
      return;
    }
    this.#phase = 'command';
    this.#reader.payloadBytesMax = s.maxAllowedPacket;
    this.#socket.setTimeout(s.waitTimeoutMs);
    this.#send([okPacket({ status: this.#status })], seq);
  }

  // --- Command phase --------------------------------------------------------------------------------

  async #onCommand(payload: Buffer): Promise<void> {
    if (payload.length === 0) throw new MalformedPacketError('an empty command packet');
    const command = payload[0]!;
    switch (command) {
      case Command.QUIT:
        await this.close();
        return;
      case Command.PING:
        this.#send([okPacket({ status: this.#status })], 1);
        return;
      case Command.QUERY:
        return this.#query(payload.toString('utf8', 1));
      case Command.INIT_DB:
        return this.#query(`USE \`${payload.toString('utf8', 1).replaceAll('`', '``')}\``);
      case Command.FIELD_LIST:
        return this.#fieldList(payload);
      case Command.STMT_PREPARE:
        return this.#prepare(payload.toString('utf8', 1));
      case Command.STMT_EXECUTE:
        return this.#execute(payload);
      case Command.STMT_SEND_LONG_DATA:
        this.#sendLongData(payload);
        return;
      case Command.STMT_CLOSE:
        if (payload.length < 5) throw new MalformedPacketError('COM_STMT_CLOSE without a statement id');
        this.#statements.delete(payload.readUInt32LE(1));
        return;
      case Command.STMT_RESET: {
        const statement = this.#statement(payload);
        statement.longData.clear();
        statement.longDataBytes = 0;
        this.#send([okPacket({ status: this.#status })], 1);
        return;
      }
      case Command.SET_OPTION:
        this.#send([eofPacket(this.#status)], 1);
        return;
      case Command.RESET_CONNECTION:
        await this.#endTransaction('rollback');
        this.#statements.clear();
        this.#state.autocommit = true;
        this.#state.isolation = 'REPEATABLE-READ';
        this.#state.variables.clear();
        this.#send([okPacket({ status: this.#status })], 1);
        return;
      case Command.STATISTICS:
        this.#send(
          [Buffer.from(`Uptime: ${Math.round(process.uptime())}  Threads: 1  Questions: 0  Open tables: 0`)],
          1,
        );
        return;
      default:
        this.#send(
          [
            this.#err(
              mysqlError('UNKNOWN_COM', `Unknown command 0x${command.toString(16).padStart(2, '0')}`),
            ),
          ],
          1,
        );
    }
  }

  async #query(sql: string): Promise<void> {
    const outcome = await this.#run(sql, new Map()).catch((error: unknown) => error as Error);
    if (outcome instanceof Error) {
      if (closesConnection(outcome)) return void this.close();
      this.#send([this.#err(mysqlErrorFor(outcome, this.#state.database))], 1);
      return;
    }
    if (outcome.kind === 'ok') {
      this.#send(
        [
          okPacket({
            affectedRows: outcome.affectedRows,
            lastInsertId: outcome.lastInsertId,
            status: this.#status,
          }),
        ],
        1,
      );
      return;
    }
    this.#sendResultSet(outcome.columns, outcome.rows.map(textRow));
  }

  #sendResultSet(columns: ColumnDefinition[], rows: Buffer[]): void {
    const deprecateEof = (this.#capabilities & Capability.DEPRECATE_EOF) !== 0;
    const payloads: Buffer[] = [new PayloadWriter().lenenc(columns.length).build()];
    for (const c of columns) payloads.push(columnDefinitionPacket(c));
    if (!deprecateEof) payloads.push(eofPacket(this.#status));
    payloads.push(...rows);
    payloads.push(endOfRows(this.#capabilities, this.#status));
    this.#send(payloads, 1);
  }

  /** Runs one statement: a session action, or SQL through the executor (in this connection's transaction). */
  async #run(sql: string, parameters: Map<string, SqlValue>): Promise<Outcome> {
    const action = sessionAction(sql, this.#state, this.#settings.variables);
    if (action === undefined) return this.#executeSql(sql, parameters);
    switch (action.kind) {
      case 'begin':
        // START TRANSACTION inside a transaction commits it first (MySQL's implicit commit).
        await this.#endTransaction('commit');
        this.#transactionId = await this.#settings.executor.beginTransaction();
        return ok();
      case 'commit':
        await this.#endTransaction('commit');
        return ok();
      case 'rollback':
        await this.#endTransaction('rollback');
        return ok();
      case 'use':
      case 'ok':
        if (
          this.#state.autocommit &&
          this.#transactionId !== undefined &&
          /^\s*set\b[\s\S]*\bautocommit\b/i.test(sql)
        ) {
          // SET autocommit = 1 commits the open transaction.
          await this.#endTransaction('commit');
        }
        return ok();
      case 'rows':
        return {
          kind: 'rows',
          columns: action.columns.map((name, i) =>
            columnFor(
              name,
              action.rows.map((r) => r[i] ?? null),
            ),
          ),
          rows: action.rows,
        };
      case 'sql': {
        const outcome = await this.#executeSql(action.sql, parameters);
        if (action.emptyError !== undefined && outcome.kind === 'rows' && outcome.rows.length === 0)
          throw action.emptyError;
        return outcome;
      }
    }
  }

  async #executeSql(sql: string, parameters: Map<string, SqlValue>): Promise<Outcome> {
    const executor = this.#settings.executor;
    if (this.#transactionId === undefined && !this.#state.autocommit) {
      this.#transactionId = await executor.beginTransaction();
    }
    let result: StatementResult;
    try {
      result = await executor.executeStatement({
        sql,
        parameters,
        ...(this.#transactionId !== undefined && { transactionId: this.#transactionId }),
        includeResultMetadata: false,
        formatRecordsAs: 'NONE',
        continueAfterTimeout: false,
      });
    } catch (error) {
      // A deadlock rolls the transaction back (the executor ended it); so does an idle timeout.
      if (
        isDataApiError(error, 'TransactionNotFoundException') ||
        (error instanceof Error && /^Deadlock found/.test(error.message))
      ) {
        this.#transactionId = undefined;
      }
      throw error;
    }
    if (result.columns.length === 0) {
      const generated = result.generatedFields?.[0];
      return {
        kind: 'ok',
        affectedRows: result.numberOfRecordsUpdated,
        lastInsertId: typeof generated === 'bigint' ? generated : 0n,
      };
    }
    const columns = result.columns.map((c, i) =>
      columnFor(
        c.name,
        result.rows.map((r) => r[i] ?? null),
      ),
    );
    return { kind: 'rows', columns, rows: result.rows };
  }

  async #endTransaction(how: 'commit' | 'rollback'): Promise<void> {
    const id = this.#transactionId;
    if (id === undefined) return;
    this.#transactionId = undefined;
    const executor = this.#settings.executor;
    try {
      if (how === 'commit') await executor.commitTransaction(id);
      else await executor.rollbackTransaction(id);
    } catch (error) {
      // Already ended by the executor (deadlock, idle timeout): ROLLBACK has nothing left to do.
      if (how === 'rollback' && isDataApiError(error, 'TransactionNotFoundException')) return;
      throw error;
    }
  }

  // --- Prepared statements (binary protocol) --------------------------------------------------------

  async #prepare(sql: string): Promise<void> {
    if (this.#statements.size >= preparedStatementsPerConnectionMax) {
      this.#send(
        [
          this.#err({
            code: 1461,
            sqlState: '42000',
            message: `Can't create more than max_prepared_stmt_count statements (${preparedStatementsPerConnectionMax} per connection)`,
          }),
        ],
        1,
      );
      return;
    }
    const { sql: rewritten, count } = numberPlaceholders(sql);
    let columns: ColumnDefinition[];
    try {
      columns = await this.#describe(rewritten);
    } catch (error) {
      // As MySQL does, a statement that cannot be prepared (syntax, unknown table) fails here.
      if (closesConnection(error)) return void this.close();
      this.#send([this.#err(mysqlErrorFor(error, this.#state.database))], 1);
      return;
    }
    const id = this.#nextStatementId++;
    this.#statements.set(id, {
      sql: rewritten,
      parameterCount: count,
      types: undefined,
      longData: new Map(),
      longDataBytes: 0,
    });
    const deprecateEof = (this.#capabilities & Capability.DEPRECATE_EOF) !== 0;
    // The column count must match what execute returns (libmysqlclient keeps it from here); the
    // types are refined by the definitions each execute sends (they come from the values).
    const payloads = [new PayloadWriter().u8(0).u32(id).u16(columns.length).u16(count).u8(0).u16(0).build()];
    if (count > 0) {
      for (let i = 0; i < count; i++) payloads.push(columnDefinitionPacket(stringColumn('?')));
      if (!deprecateEof) payloads.push(eofPacket(this.#status));
    }
    if (columns.length > 0) {
      for (const column of columns) payloads.push(columnDefinitionPacket(column));
      if (!deprecateEof) payloads.push(eofPacket(this.#status));
    }
    this.#send(payloads, 1);
  }

  /** The result columns of a statement being prepared: from a session action, or the executor. */
  async #describe(sql: string): Promise<ColumnDefinition[]> {
    // A copy of the session: a prepared SET must change nothing until it is executed.
    const probe: SessionState = { ...this.#state, variables: new Map(this.#state.variables) };
    let action: ReturnType<typeof sessionAction>;
    try {
      action = sessionAction(sql, probe, this.#settings.variables);
    } catch {
      return []; // The error is the execute's to report.
    }
    const executor = this.#settings.executor;
    const describeSql = action === undefined ? sql : action.kind === 'sql' ? action.sql : undefined;
    if (describeSql !== undefined) {
      // Only a statement that can return rows is described: DDL in one text (CREATE TABLE … with its
      // indexes) cannot be prepared before it runs, and DML has no columns anyway.
      if (executor.describeStatement === undefined || !rowsStatement.test(describeSql)) return [];
      return (await executor.describeStatement(describeSql)).map((c) => stringColumn(c.name));
    }
    return action?.kind === 'rows' ? action.columns.map((name) => stringColumn(name)) : [];
  }

  #statement(payload: Buffer): PreparedStatement {
    if (payload.length < 5) throw new MalformedPacketError('a statement command without a statement id');
    const id = payload.readUInt32LE(1);
    const statement = this.#statements.get(id);
    if (statement === undefined) {
      throw protocolError(
        'UNKNOWN_STMT_HANDLER',
        `Unknown prepared statement handler (${id}) given to mysqld_stmt_execute`,
      );
    }
    return statement;
  }

  #sendLongData(payload: Buffer): void {
    // No response is sent for COM_STMT_SEND_LONG_DATA, not even an error.
    if (payload.length < 7) return;
    const statement = this.#statements.get(payload.readUInt32LE(1));
    const parameter = payload.readUInt16LE(5);
    if (statement === undefined || parameter >= statement.parameterCount) return;
    const data = payload.subarray(7);
    if (statement.longDataBytes + data.length > this.#settings.maxAllowedPacket) return;
    const previous = statement.longData.get(parameter);
    statement.longData.set(
      parameter,
      previous === undefined ? Buffer.from(data) : Buffer.concat([previous, data]),
    );
    statement.longDataBytes += data.length;
  }

  async #execute(payload: Buffer): Promise<void> {
    let statement: PreparedStatement;
    try {
      statement = this.#statement(payload);
    } catch (error) {
      this.#send([this.#err(mysqlErrorFor(error, this.#state.database))], 1);
      return;
    }
    const { values, types } = parseExecute(
      payload,
      statement.parameterCount,
      statement.types,
      statement.longData,
    );
    statement.types = types;
    statement.longData.clear();
    statement.longDataBytes = 0;
    const parameters = new Map<string, SqlValue>();
    values.forEach((v, i) => {
      parameters.set(String(i + 1), v);
    });
    const outcome = await this.#run(statement.sql, parameters).catch((error: unknown) => error as Error);
    if (outcome instanceof Error) {
      if (closesConnection(outcome)) return void this.close();
      this.#send([this.#err(mysqlErrorFor(outcome, this.#state.database))], 1);
      return;
    }
    if (outcome.kind === 'ok') {
      this.#send(
        [
          okPacket({
            affectedRows: outcome.affectedRows,
            lastInsertId: outcome.lastInsertId,
            status: this.#status,
          }),
        ],
        1,
      );
      return;
    }
    this.#sendResultSet(
      outcome.columns,
      outcome.rows.map((row) => binaryRow(row, outcome.columns)),
    );
  }

  async #fieldList(payload: Buffer): Promise<void> {
    const end = payload.indexOf(0, 1);
    const table = payload.toString('utf8', 1, end < 0 ? payload.length : end);
    const outcome = await this.#run(`SHOW COLUMNS FROM \`${table.replaceAll('`', '``')}\``, new Map()).catch(
      (error: unknown) => error as Error,
    );
    if (outcome instanceof Error || outcome.kind !== 'rows') {
      this.#send([this.#err(mysqlErrorFor(outcome, this.#state.database))], 1);
      return;
    }
    const payloads = outcome.rows.map((row) =>
      columnDefinitionPacket({ ...stringColumn(String(row[0])), table }, ''),
    );
    payloads.push(endOfRows(this.#capabilities, this.#status));
    this.#send(payloads, 1);
  }

  // --- Output ---------------------------------------------------------------------------------------

  #err(error: MysqlError): Buffer {
    return errPacket(error.code, error.sqlState, error.message);
  }

  /** Frames payloads with consecutive sequence ids and writes them in one go. */
  #send(payloads: Buffer[], sequenceId: number): void {
    if (this.#phase === 'closed' || this.#socket.destroyed) return;
    const buffers: Buffer[] = [];
    let seq = sequenceId;
    for (const payload of payloads) {
      const framed = framePayload(payload, seq);
      buffers.push(...framed.buffers);
      seq = framed.next;
    }
    this.#socket.write(buffers.length === 1 ? buffers[0]! : Buffer.concat(buffers));
  }

  /** Sends an error and closes the connection (connection-phase failures, oversize packets). */
  #fail(error: MysqlError, sequenceId: number): void {
    this.#send([this.#err(error)], sequenceId);
    void this.close();
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#phase = 'closed';
      this.#queue.length = 0;
      this.#socket.end();
      setTimeout(() => this.#socket.destroy(), 1_000).unref();
      // A running statement holds the transaction busy: #drain ends it when the statement returns.
      if (!this.#running) await this.#rollbackOnClose();
      this.#statements.clear();
      this.#onClose();
    })();
    return this.#closing;
  }
}

/** Statements that may return rows (anything else has no result columns to describe). */
const rowsStatement = /^[\s(]*(select|with|values|pragma|explain)\b|\breturning\b/i;

const ok = (): Outcome => ({ kind: 'ok', affectedRows: 0, lastInsertId: 0n });

/**
 * Rewrites the `?` placeholders of a prepared statement to `:1` … `:n` (named parameters, as the
 * executor binds them), skipping strings, quoted names and comments. Returns the count.
 */
export function numberPlaceholders(sql: string): { sql: string; count: number } {
  let out = '';
  let count = 0;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < n) {
        if (sql[j] === '\\' && c !== '`') j += 2;
        else if (sql[j] === c) {
          if (sql[j + 1] === c) j += 2;
          else break;
        } else j++;
      }
      out += sql.slice(i, j + 1);
      i = j + 1;
    } else if (c === '#' || (c === '-' && sql[i + 1] === '-')) {
      const end = sql.indexOf('\n', i);
      const stop = end < 0 ? n : end;
      out += sql.slice(i, stop);
      i = stop;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      const stop = end < 0 ? n : end + 2;
      out += sql.slice(i, stop);
      i = stop;
    } else if (c === '?') {
      count++;
      out += `:${count}`;
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return { sql: out, count };
}
