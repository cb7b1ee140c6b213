/**
 * The `mysql` connector (MySQL or MariaDB) as a target: loads mapped rows, rejected rows and a
 * load-ledger row in ONE InnoDB transaction, with `LOAD DATA LOCAL INFILE` fed from a stream
 * (mysql2 `infileStreamFactory`: Polars writes each Parquet chunk as CSV), never row-by-row INSERTs.
 *
 * Effectively once: the ledger (`sluice_load_ledger`, in the target database) is keyed by the run's
 * execution id. A load takes the named lock `GET_LOCK('sluice.load:<sha1 of the execution id>')`, so a
 * retried load waits for an attempt still running, then sees its ledger row and writes nothing. A load
 * that fails or is killed before COMMIT leaves nothing (InnoDB rolls the transaction back, the
 * server does so when the connection dies), so the retry writes everything. The ledger's primary key
 * is the last line of defence: two attempts can never both commit.
 *
 * MySQL commits implicitly around DDL, so tables are created (when missing) before the load's
 * transaction, and nothing inside it is DDL: `write: replace` empties the table with `DELETE` (not
 * `TRUNCATE`, which would commit), `upsert` loads into a `TEMPORARY` table (no implicit commit) and
 * merges with `INSERT … SELECT … ON DUPLICATE KEY UPDATE`.
 *
 * `LOAD DATA LOCAL` turns data errors into warnings (it implies `IGNORE`): a load with any warning is
 * refused (`TARGET_REJECTED_LOAD`, with the server's first warnings) and rolled back, so a truncated value
 * or a duplicate key never passes silently.
 *
 * Link steps (`target.link`) run after the rows and rejects, in the same transaction, before the
 * ledger row; their row counts are kept in the ledger (`links`).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { Pool } from 'mysql2/promise';
import pl from 'nodejs-polars';
import { TargetError } from '../../common/errors';
import type { FieldSpec, FieldType, FlowSpec } from '../../flows/flow-spec';
import { ROW_COLUMN } from '../../transform/map-chunk';
import { LINEAGE_COLUMNS, lineageState, lineageWanted, withLineage } from '../../transform/lineage';
import { withAccessErrors, type MysqlAccess } from '../access-errors';
import type { CheckOptions, CheckResult, LinkStepResult, LoadRequest, LoadResult, StagedSource, StageRejectsRequest, TargetConnector } from '../connector';
import { mysqlCheck } from './mysql-check';
import type { ListRejectsRequest, RejectsPage, RejectsSummary, RejectsTarget } from '../rejects';
import { withMysqlConnection } from './mysql-pool';
import { addMysqlReprocessColumns, listMysqlRejects, resolveMysqlRejects, stageMysqlRejects, summarizeMysqlRejects } from './mysql-rejects';

/** MySQL/MariaDB column type for each field type (beside `POSTGRES_TYPES`, transform/field-types.ts). */
export const MYSQL_TYPES: Record<FieldType, string> = {
  string: 'longtext',
  int32: 'int',
  int64: 'bigint',
  float64: 'double',
  bool: 'boolean',
  date: 'date',
  datetime: 'datetime(6)',
  json: 'json',
};

/** A `string` field in an upsert key: an index cannot cover a `longtext` whole. */
const KEY_STRING_TYPE = 'varchar(255)';

const LEDGER_TABLE = 'sluice_load_ledger';

const LEDGER_DDL = `CREATE TABLE IF NOT EXISTS \`${LEDGER_TABLE}\` (
  execution_id  varchar(255) NOT NULL PRIMARY KEY,
  run_id        varchar(255) NOT NULL,
  flow_version  varchar(255) NOT NULL,
  source_path   text NOT NULL,
  target_table  varchar(255) NOT NULL,
  rejects_table varchar(255) NOT NULL,
  rows_written  bigint NOT NULL,
  rows_rejected bigint NOT NULL,
  loaded_at     timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  links         json
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

/** Quotes a MySQL identifier with backticks. */
export function quoteMysqlIdent(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** `database.table` or `table` (the URL's database) → its quoted form. */
export function mysqlTableName(table: string): { database: string | undefined; name: string; sql: string } {
  const [database, name] = table.includes('.') ? (table.split('.') as [string, string]) : [undefined, table];
  return { database, name, sql: database === undefined ? quoteMysqlIdent(name) : `${quoteMysqlIdent(database)}.${quoteMysqlIdent(name)}` };
}

/**
 * The target and rejects tables of a flow.
 * @throws TargetError `TARGET_NEEDS_TABLE` when the flow names an object path instead of a table.
 */
function databaseTables(spec: FlowSpec): { table: string; rejects: string } {
  if (!spec.target.table || !spec.target.rejects.table) {
    throw new TargetError('TARGET_NEEDS_TABLE', `flow ${spec.name} targets a mysql connector, so target.table (and rejects.table) must name tables, not a path`);
  }
  return { table: spec.target.table, rejects: spec.target.rejects.table };
}

const columnType = (spec: FlowSpec, field: FieldSpec) =>
  field.type === 'string' && spec.target.write === 'upsert' && spec.target.key?.includes(field.name) ? KEY_STRING_TYPE : MYSQL_TYPES[field.type];

/** The CREATE TABLE statement for a flow's target table (InnoDB, utf8mb4; a UNIQUE key on `key` for upsert). */
export function mysqlTargetTableDdl(spec: FlowSpec): string {
  const table = mysqlTableName(databaseTables(spec).table);
  const columns = spec.fields.map((f) => `${quoteMysqlIdent(f.name)} ${columnType(spec, f)}${f.required ? ' NOT NULL' : ''}`);
  if (lineageWanted(spec)) columns.push(`${quoteMysqlIdent(LINEAGE_COLUMNS[0])} varchar(255)`, `${quoteMysqlIdent(LINEAGE_COLUMNS[1])} bigint`);
  if (spec.target.write === 'upsert' && spec.target.key) columns.push(`UNIQUE KEY (${spec.target.key.map(quoteMysqlIdent).join(', ')})`);
  return `CREATE TABLE IF NOT EXISTS ${table.sql} (\n  ${columns.join(',\n  ')}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;
}

/** The CREATE TABLE statement for a flow's rejects table. */
export function mysqlRejectsTableDdl(spec: FlowSpec): string {
  return `CREATE TABLE IF NOT EXISTS ${mysqlTableName(databaseTables(spec).rejects).sql} (
  run_id       varchar(255) NOT NULL,
  execution_id varchar(255),
  flow_version varchar(255) NOT NULL,
  source_path  text NOT NULL,
  \`row_number\` bigint NOT NULL,
  record       json NOT NULL,
  errors       json NOT NULL,
  rejected_at  timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  rejects_of      varchar(255),
  resolved_by_run varchar(255),
  resolved_at     timestamp(6) NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;
}

/** Marks a text value so the word NULL and the empty string survive `LOAD DATA`; cut off again by `SET col = SUBSTRING(@v, 2)`. */
const TEXT_MARK = '=';

/**
 * One LOAD DATA statement and the CSV its stream must carry: text columns go through a user
 * variable (`@v0`) and lose their mark in `SET`; everything else loads directly.
 */
function loadStatement(table: string, columns: { name: string; text: boolean }[]): string {
  const targets = columns.map((c, i) => (c.text ? `@v${i}` : quoteMysqlIdent(c.name)));
  const sets = columns.flatMap((c, i) => (c.text ? [`${quoteMysqlIdent(c.name)} = SUBSTRING(@v${i}, 2)`] : []));
  return (
    `LOAD DATA LOCAL INFILE 'sluice.csv' INTO TABLE ${table} CHARACTER SET utf8mb4 ` +
    `FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '"' ESCAPED BY '' LINES TERMINATED BY '\\n' ` +
    `(${targets.join(', ')})${sets.length ? ` SET ${sets.join(', ')}` : ''}`
  );
}

/**
 * The expressions that turn a mapped chunk into what {@link loadStatement} reads: text marked, booleans
 * as 1/0, datetimes as `YYYY-MM-DD HH:MM:SS.ffffff`. Nulls stay null (written as the bare word NULL).
 */
function csvColumns(fields: { name: string; type: FieldType | 'text' }[]): pl.Expr[] {
  return fields.map(({ name, type }) => {
    const col = pl.col(name);
    switch (type) {
      case 'string':
      case 'json':
      case 'text':
        return pl.concatString([pl.lit(TEXT_MARK), col.cast(pl.Utf8)], '', false).alias(name);
      case 'bool':
        return col.cast(pl.Int8).alias(name);
      case 'datetime':
        return col.dt.strftime('%Y-%m-%d %H:%M:%S%.6f').alias(name);
      default:
        return col;
    }
  });
}

const REJECT_COLUMNS = ['run_id', 'execution_id', 'flow_version', 'source_path', 'row_number', 'record', 'errors', 'rejects_of'];

/** Server errors of the credentials or privileges: access-errors.ts words them. */
const ACCESS_CODES = new Set(['ER_ACCESS_DENIED_ERROR', 'ER_DBACCESS_DENIED_ERROR', 'ER_TABLEACCESS_DENIED_ERROR', 'ER_COLUMNACCESS_DENIED_ERROR', 'ER_SPECIFIC_ACCESS_DENIED_ERROR']);

/** SQLSTATE classes a user can fix: data (22), integrity (23), syntax and unknown objects (42), and a server that refuses `LOCAL`. */
function isUserFixable(error: unknown): boolean {
  const { code, sqlState } = error as { code?: string; sqlState?: string };
  if (code && ACCESS_CODES.has(code)) return false;
  if (code === 'ER_DUP_ENTRY' && /sluice_load_ledger/.test((error as Error).message)) return false;
  if (code === 'ER_NOT_ALLOWED_COMMAND' || code === 'ER_LOAD_INFILE_CAPABILITY_DISABLED' || (error as { errno?: number }).errno === 3948) return true;
  return typeof sqlState === 'string' && /^(21|22|23|42)/.test(sqlState);
}

/** Replaces `:run_id`, `:flow_version`, `:source_path` with `?` and lists their values, one per occurrence. */
export function bindMysqlLinkParameters(sql: string, parameters: Record<'run_id' | 'flow_version' | 'source_path', string>): { sql: string; values: string[] } {
  const values: string[] = [];
  const bound = sql.replace(/(?<!:):(run_id|flow_version|source_path)\b/g, (_match, name: 'run_id' | 'flow_version' | 'source_path') => {
    values.push(parameters[name]);
    return '?';
  });
  return { sql: bound, values };
}

export class MysqlTarget implements TargetConnector {
  readonly kind = 'mysql';
  /** @param pool the connector's pool (mysql-pool.ts), owned by the registry. */
  constructor(
    private readonly pool: Pool,
    private readonly connectorName: string,
    private readonly access: MysqlAccess,
  ) {}

  private get label(): string {
    return `mysql connector "${this.connectorName}"`;
  }

  /**
   * Connects and reads `local_infile` (a server that refuses LOCAL cannot be loaded into). Never rejects: a failure's
   * `code` is AUTH_FAILED / PERMISSION_DENIED, or TARGET_REJECTED_LOAD when the server has `local_infile` off.
   */
  async check(options: CheckOptions = {}): Promise<CheckResult> {
    return mysqlCheck(this.access, options, () =>
      withAccessErrors(this.access, async () => {
        const [rows] = await this.pool.query<RowDataPacket[]>('SELECT @@local_infile AS local_infile');
        if (Number(rows[0]?.local_infile) !== 1) {
          throw new TargetError(
            'TARGET_REJECTED_LOAD',
            `connectors.${this.connectorName}: the server has local_infile off, so LOAD DATA LOCAL INFILE is refused; set local_infile=1 on the server (SET GLOBAL local_infile = 1)`,
          );
        }
        return { reason: 'loadable (local_infile on)' };
      }),
    );
  }

  /** One page of an execution's rejects (mysql-rejects.ts). */
  listRejects(request: ListRejectsRequest): Promise<RejectsPage> {
    return listMysqlRejects(this.pool, this.access, request);
  }

  /** The summary of an execution's rejects (mysql-rejects.ts). */
  summarizeRejects(target: RejectsTarget): Promise<RejectsSummary> {
    return summarizeMysqlRejects(this.pool, this.access, target);
  }

  /** A reprocess's source: the earlier run's unresolved rejects (mysql-rejects.ts). */
  stageRejects(request: StageRejectsRequest): Promise<StagedSource> {
    return stageMysqlRejects(this.pool, this.access, request);
  }

  /** Whether the flow's table exists and has the lineage columns (read-only). */
  async lineageOf(spec: FlowSpec): Promise<'present' | 'absent' | 'partial' | 'no-table'> {
    const table = mysqlTableName(databaseTables(spec).table);
    return withAccessErrors(this.access, async () => {
      const [rows] = await this.pool.query<RowDataPacket[]>(
        'SELECT column_name AS name FROM information_schema.columns WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ?',
        [table.database ?? null, table.name],
      );
      return rows.length === 0 ? 'no-table' : lineageState(rows.map((r) => String(r.name)));
    });
  }

  /**
   * See {@link TargetConnector.load}.
   * @throws AccessError `AUTH_FAILED` / `PERMISSION_DENIED`; TargetError `TARGET_NEEDS_TABLE`, `TARGET_DDL_FAILED`,
   *   `TARGET_SCHEMA_MISMATCH`, `TARGET_REJECTED_LOAD`, `LINK_FAILED`; TransientError `CONNECTION_LOST`.
   */
  async load(request: LoadRequest): Promise<LoadResult> {
    return withAccessErrors(this.access, () => withMysqlConnection(this.pool, this.label, (connection) => this.loadOnce(connection, request)));
  }

  /** Creates the ledger, target and rejects tables when missing (DDL commits: before the load's transaction), then checks the target's columns. */
  private async ensureTables(connection: PoolConnection, spec: FlowSpec, tables: { table: string; rejects: string }): Promise<{ lineage: boolean }> {
    try {
      await connection.query(LEDGER_DDL);
      await connection.query(mysqlTargetTableDdl(spec));
      await connection.query(mysqlRejectsTableDdl(spec));
      await addMysqlReprocessColumns(connection, tables.rejects);
    } catch (error) {
      if (isUserFixable(error)) throw new TargetError('TARGET_DDL_FAILED', `cannot create ${tables.table}: ${(error as Error).message}`, { cause: error });
      throw error;
    }
    const table = mysqlTableName(tables.table);
    const [existing] = await connection.query<RowDataPacket[]>(
      'SELECT column_name AS name FROM information_schema.columns WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ?',
      [table.database ?? null, table.name],
    );
    const have = new Set(existing.map((r) => String(r.name)));
    const missing = spec.fields.filter((f) => !have.has(f.name));
    if (missing.length > 0) {
      throw new TargetError(
        'TARGET_SCHEMA_MISMATCH',
        `table ${tables.table} exists but lacks column${missing.length > 1 ? 's' : ''} ${missing.map((f) => `"${f.name}"`).join(', ')}; ` +
          `add ${missing.length > 1 ? 'them' : 'it'} (${missing.map((f) => `ALTER TABLE ${table.sql} ADD COLUMN ${quoteMysqlIdent(f.name)} ${columnType(spec, f)}`).join('; ')}) or point the flow at another table`,
        { details: { missing: missing.map((f) => f.name) } },
      );
    }
    return { lineage: lineageState(have) === 'present' };
  }

  /**
   * Streams Parquet chunk files into one `LOAD DATA LOCAL INFILE`, as CSV written by Polars.
   * @returns the rows the server loaded.
   * @throws TargetError `TARGET_REJECTED_LOAD` when the server warned (a value truncated, a duplicate key skipped).
   */
  private async loadFiles(
    connection: PoolConnection,
    table: string,
    fields: { name: string; type: FieldType | 'text' }[],
    files: string[],
    toFrame: (file: string) => pl.DataFrame,
    request: LoadRequest,
    done: { rows: number },
  ): Promise<number> {
    if (files.length === 0) return 0;
    const select = csvColumns(fields);
    async function* chunks(): AsyncGenerator<Buffer> {
      for (const [chunk, file] of files.entries()) {
        if (request.signal.aborted) throw new Error('load cancelled');
        const frame = toFrame(file).select(...select);
        if (frame.height === 0) continue;
        yield frame.writeCSV(undefined as unknown as string, { includeHeader: false, nullValue: 'NULL' }) as unknown as Buffer;
        done.rows += frame.height;
        request.onProgress({ rows: done.rows, chunk });
      }
    }
    const sql = loadStatement(table, fields.map((f) => ({ name: f.name, text: f.type === 'string' || f.type === 'json' || f.type === 'text' })));
    const [result] = await connection.query<ResultSetHeader>({ sql, infileStreamFactory: () => Readable.from(chunks()) });
    if (result.warningStatus > 0) {
      const [warnings] = await connection.query<RowDataPacket[]>('SHOW WARNINGS LIMIT 3');
      throw new TargetError(
        'TARGET_REJECTED_LOAD',
        `${this.connectorName}:${table.replace(/`/g, '')} refused the load (${result.warningStatus} warning${result.warningStatus > 1 ? 's' : ''}: ${warnings.map((w) => w.Message).join('; ')}); nothing was written`,
        { details: { warnings: result.warningStatus } },
      );
    }
    return result.affectedRows;
  }

  private async loadOnce(connection: PoolConnection, request: LoadRequest): Promise<LoadResult> {
    const { spec } = request;
    const tables = databaseTables(spec);
    const location = `${this.connectorName}:${tables.table}`;
    const rejectsLocation = `${this.connectorName}:${tables.rejects}`;
    const { lineage } = await this.ensureTables(connection, spec, tables);
    const table = mysqlTableName(tables.table);
    const lock = `sluice.load:${createHash('sha1').update(request.executionId).digest('hex')}`;
    const [locked] = await connection.query<RowDataPacket[]>('SELECT GET_LOCK(?, 600) AS locked', [lock]);
    if (Number(locked[0]?.locked) !== 1) throw new Error(`another load of execution ${request.executionId} held the lock for 10 minutes; retrying`);
    try {
      await connection.query('START TRANSACTION');
      const [ledger] = await connection.query<RowDataPacket[]>(`SELECT rows_written, rows_rejected, links FROM \`${LEDGER_TABLE}\` WHERE execution_id = ?`, [request.executionId]);
      if (ledger[0]) {
        await connection.query('COMMIT');
        const links = ledger[0].links === null ? null : (JSON.parse(String(ledger[0].links)) as LinkStepResult[]);
        return {
          rowsWritten: Number(ledger[0].rows_written),
          rowsRejected: Number(ledger[0].rows_rejected),
          alreadyLoaded: true,
          location,
          rejectsLocation,
          ...(links ? { links } : {}),
        };
      }
      const mapped = (file: string) => (lineage ? withLineage(pl.readParquet(file), request.runId) : pl.readParquet(file).drop(ROW_COLUMN));
      const fields: { name: string; type: FieldType | 'text' }[] = spec.fields.map((f) => ({ name: f.name, type: f.type }));
      if (lineage) fields.push({ name: LINEAGE_COLUMNS[0], type: 'text' }, { name: LINEAGE_COLUMNS[1], type: 'int64' });
      const written = { rows: 0 };
      let rowsWritten: number;
      if (spec.target.write === 'upsert') {
        const key = spec.target.key!;
        await connection.query('DROP TEMPORARY TABLE IF EXISTS sluice_upsert');
        await connection.query(`CREATE TEMPORARY TABLE sluice_upsert ENGINE=InnoDB AS SELECT * FROM ${table.sql} LIMIT 0`);
        await this.loadFiles(connection, 'sluice_upsert', fields, request.mappedFiles, mapped, request, written);
        const columns = fields.map((f) => quoteMysqlIdent(f.name)).join(', ');
        const updates = fields.filter((f) => !key.includes(f.name)).map((f) => `${quoteMysqlIdent(f.name)} = VALUES(${quoteMysqlIdent(f.name)})`);
        const first = quoteMysqlIdent(key[0]!);
        await connection.query(
          `INSERT INTO ${table.sql} (${columns}) SELECT ${columns} FROM sluice_upsert ON DUPLICATE KEY UPDATE ${updates.length ? updates.join(', ') : `${first} = ${first}`}`,
        );
        await connection.query('DROP TEMPORARY TABLE sluice_upsert');
        rowsWritten = written.rows;
      } else {
        if (spec.target.write === 'replace') await connection.query(`DELETE FROM ${table.sql}`);
        rowsWritten = await this.loadFiles(connection, table.sql, fields, request.mappedFiles, mapped, request, written);
      }
      const rejected = { rows: 0 };
      await this.loadFiles(
        connection,
        mysqlTableName(tables.rejects).sql,
        REJECT_COLUMNS.map((name) => ({ name, type: name === 'row_number' ? 'int64' : 'text' })),
        request.rejectedFiles,
        (file) =>
          pl
            .readParquet(file)
            .select(
              pl.lit(request.runId).alias('run_id'),
              pl.lit(request.executionId).alias('execution_id'),
              pl.lit(request.flowVersion).alias('flow_version'),
              pl.lit(request.rejectsOf?.sourcePath ?? request.sourcePath).alias('source_path'),
              pl.col(ROW_COLUMN).alias('row_number'),
              pl.col('record'),
              pl.col('errors'),
              pl.lit(request.rejectsOf?.runId ?? null).cast(pl.Utf8).alias('rejects_of'),
            ),
        request,
        rejected,
      );
      // A reprocess resolves the earlier rejects of the rows it loaded, in this same transaction.
      if (request.rejectsOf) {
        const recovered = request.mappedFiles.flatMap((file) => (pl.readParquet(file, { columns: [ROW_COLUMN] } as never).getColumn(ROW_COLUMN).toArray() as unknown[]).map(Number));
        await resolveMysqlRejects(connection, request.rejectsOf, request.runId, recovered);
      }
      const links = spec.target.link ? await this.runLinkSteps(connection, spec.target.link, request) : undefined;
      await connection.query(
        `INSERT INTO \`${LEDGER_TABLE}\` (execution_id, run_id, flow_version, source_path, target_table, rejects_table, rows_written, rows_rejected, links)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [request.executionId, request.runId, request.flowVersion, request.sourcePath, tables.table, tables.rejects, rowsWritten, rejected.rows, links ? JSON.stringify(links) : null],
      );
      await connection.query('COMMIT');
      return { rowsWritten, rowsRejected: rejected.rows, alreadyLoaded: false, location, rejectsLocation, ...(links ? { links } : {}) };
    } catch (error) {
      await connection.query('ROLLBACK').catch(() => undefined);
      if (error instanceof TargetError) throw error;
      if (isUserFixable(error)) {
        throw new TargetError('TARGET_REJECTED_LOAD', `${location} refused the load: ${(error as Error).message}; nothing was written`, { cause: error });
      }
      throw error;
    } finally {
      await connection.query('SELECT RELEASE_LOCK(?)', [lock]).catch(() => undefined);
    }
  }

  /** Runs the flow's link statements in order, in the open transaction. @throws TargetError `LINK_FAILED` naming the statement. */
  private async runLinkSteps(connection: PoolConnection, statements: string[], request: LoadRequest): Promise<LinkStepResult[]> {
    const results: LinkStepResult[] = [];
    for (const [index, statement] of statements.entries()) {
      if (request.signal.aborted) throw new Error('load cancelled');
      const { sql, values } = bindMysqlLinkParameters(statement, { run_id: request.runId, flow_version: request.flowVersion, source_path: request.sourcePath });
      try {
        const [result] = await connection.execute<ResultSetHeader>(sql, values);
        results.push({ index, rows: typeof result.affectedRows === 'number' ? result.affectedRows : null });
      } catch (error) {
        if (!isUserFixable(error)) throw error;
        throw new TargetError('LINK_FAILED', `target.link[${index}] failed: ${(error as Error).message}; the load was rolled back, nothing was written`, {
          cause: error,
          details: { index, sqlstate: (error as { sqlState?: string }).sqlState },
        });
      }
    }
    return results;
  }
}
