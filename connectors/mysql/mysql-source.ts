/**
 * The `mysql` connector (MySQL or MariaDB) as a source: runs the connector's (or the flow's) query
 * as a server-side prepared statement with `:source_path` bound as its parameter — never
 * interpolated — and streams the rows (mysql2 `execute().stream()`, paused while a chunk is written)
 * into Parquet chunk files of `chunkRows` rows.
 *
 * Every value is staged as text, exactly (docs/connectors.md "## mysql" has the table): `BIGINT`
 * and `DECIMAL` as the server's digits (a BIGINT above 2^53 arrives whole), `DATE`/`DATETIME`/
 * `TIMESTAMP`/`TIME` as the server's text (`TIMESTAMP` in UTC), `DOUBLE` as the shortest text that
 * reads back to the same double, `FLOAT` the same at single precision, `JSON` as its text, `BIT` as
 * its unsigned integer, and binary strings (`BLOB`, `BINARY`, `VARBINARY`) as `\x` + lower-case hex,
 * like PostgreSQL's `bytea`. The flow's field types then cast, row by row, as for CSV.
 *
 * A connection dropped while rows are read fails the staging with the retryable `CONNECTION_LOST`
 * (mysql-pool.ts); the retry stages the query again.
 */
import path from 'node:path';
import pl from 'nodejs-polars';
import type { Connection as CoreConnection } from 'mysql2';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { SourceError } from '../../common/errors';
import { withAccessErrors, type MysqlAccess } from '../access-errors';
import type { CheckOptions, CheckResult, SourceConnector, StagedSource, StageSourceRequest } from '../connector';
import { mysqlCheck } from './mysql-check';
import { withMysqlConnection } from './mysql-pool';

/**
 * Replaces each `:source_path` placeholder with `?`, the prepared statement's parameter, and says how
 * many there are (each gets the same value). `::source_path` is left alone.
 * @throws SourceError `INVALID_QUERY` when the query has no placeholder (it would read the same rows for every run).
 */
export function bindMysqlSourcePath(query: string): { sql: string; count: number } {
  let count = 0;
  const sql = query.replace(/(?<!:):source_path\b/g, () => {
    count += 1;
    return '?';
  });
  if (count === 0) {
    throw new SourceError('INVALID_QUERY', 'the source query must use :source_path (e.g. "SELECT * FROM invoices WHERE batch_id = :source_path")');
  }
  return { sql, count };
}

/** The field mysql2 hands a typeCast. */
interface CastField {
  type: string;
  string(encoding?: string): string | null;
  buffer(): Buffer | null;
}

/** The shortest decimal text that reads back to the same single-precision float. */
function floatText(value: number): string {
  for (let digits = 1; digits <= 9; digits++) {
    const text = value.toPrecision(digits);
    if (Math.fround(Number(text)) === value) return String(Number(text));
  }
  return String(value);
}

/**
 * Reads every value as its exact text (see the module doc). Exported for tests.
 * @returns the text, or null for SQL NULL.
 */
export function castToText(field: CastField, next: () => unknown): string | null {
  if (field.type === 'JSON') return field.string('utf8');
  if (field.type === 'BIT') {
    const bytes = field.buffer();
    return bytes === null ? null : BigInt(`0x${bytes.toString('hex') || '0'}`).toString();
  }
  const value = next();
  if (value === null || value === undefined) return null;
  if (field.type === 'FLOAT' && typeof value === 'number') return floatText(value);
  // mysql2 hands binary strings (BLOB, BINARY, VARBINARY: the binary character set) over as bytes.
  if (Buffer.isBuffer(value)) return `\\x${value.toString('hex')}`;
  return String(value);
}

/** MySQL errors a user fixes in the query: syntax, unknown table or column, wrong parameter use. */
const QUERY_ERRORS = new Set(['ER_PARSE_ERROR', 'ER_NO_SUCH_TABLE', 'ER_BAD_FIELD_ERROR', 'ER_BAD_DB_ERROR', 'ER_WRONG_ARGUMENTS', 'ER_NON_UNIQ_ERROR', 'ER_SP_DOES_NOT_EXIST', 'ER_WRONG_VALUE_COUNT_ON_ROW']);

/** True when mysql2's error is the query's own fault (syntax, missing table or column). */
export function isQueryError(error: unknown): boolean {
  const shape = error as { code?: unknown; sqlState?: unknown };
  if (typeof shape.code === 'string' && QUERY_ERRORS.has(shape.code)) return true;
  return typeof shape.sqlState === 'string' && /^(42S|22)/.test(shape.sqlState);
}

export class MysqlSource implements SourceConnector {
  readonly kind = 'mysql';
  /**
   * @param pool the connector's pool (connectors/mysql/mysql-pool.ts), owned by the registry.
   * @param connectorQuery the connector's `query`; a flow's `source.query` takes precedence.
   */
  constructor(
    private readonly pool: Pool,
    private readonly connectorName: string,
    private readonly connectorQuery: string | undefined,
    private readonly access: MysqlAccess,
  ) {}

  private get label(): string {
    return `mysql connector "${this.connectorName}"`;
  }

  /**
   * Connects, reads the server version; with a query, prepares it (the server parses it and resolves its tables and
   * columns; nothing is read). Never rejects: a failure's `code` is AUTH_FAILED / PERMISSION_DENIED, or INVALID_QUERY
   * when the query does not prepare.
   */
  async check(options: CheckOptions = {}): Promise<CheckResult> {
    return mysqlCheck(this.access, options, () =>
      withAccessErrors(this.access, () =>
        withMysqlConnection(this.pool, this.label, async (connection) => {
          const [rows] = await connection.query<RowDataPacket[]>('SELECT VERSION() AS version');
          const version = String(rows[0]?.version ?? '');
          if (this.connectorQuery) {
            const { sql } = bindMysqlSourcePath(this.connectorQuery);
            try {
              await connection.prepare(sql);
              connection.unprepare(sql);
            } catch (error) {
              if (isQueryError(error)) throw new SourceError('INVALID_QUERY', `connectors.${this.connectorName}.query is not valid: ${(error as Error).message}`, { cause: error });
              throw error;
            }
          }
          return { reason: `connected, server ${version}${this.connectorQuery ? ', query prepared' : ''}`, detail: { server_version: version } };
        }),
      ),
    );
  }

  /**
   * See {@link SourceConnector.stage}.
   * @throws SourceError `INVALID_QUERY`; AccessError `AUTH_FAILED` (credentials refused) or `PERMISSION_DENIED` (no privilege to read);
   *   TransientError `CONNECTION_LOST` when the connection drops mid-read.
   */
  async stage(request: StageSourceRequest): Promise<StagedSource> {
    return withAccessErrors(this.access, () => this.stageQuery(request));
  }

  private async stageQuery(request: StageSourceRequest): Promise<StagedSource> {
    const query = request.spec.source.query ?? this.connectorQuery;
    if (!query) {
      throw new SourceError('INVALID_QUERY', `a mysql source needs a query: set source.query in the flow or query in connectors.${this.connectorName}`);
    }
    const { sql, count } = bindMysqlSourcePath(query);
    const files: StagedSource['files'] = [];
    let columns: string[] = [];
    let rows = 0;
    let batch: (string | null)[][] = [];
    const flush = () => {
      const chunk = files.length;
      const frame = pl.DataFrame(Object.fromEntries(columns.map((name, i) => [name, pl.Series(name, batch.map((row) => row[i] ?? null), pl.Utf8)])));
      const file = path.join(request.stagingDir, `source-${String(chunk).padStart(5, '0')}.parquet`);
      frame.writeParquet(file);
      files.push({ path: file, rows: batch.length });
      rows += batch.length;
      batch = [];
      request.onProgress({ rows, chunk });
    };
    await withMysqlConnection(this.pool, this.label, async (connection) => {
      // The callback API's command streams rows; the promise API would buffer the whole result.
      const core = connection.connection as unknown as CoreConnection;
      const command = core.execute({ sql, values: Array<string>(count).fill(request.sourcePath), rowsAsArray: true, typeCast: castToText as never });
      command.on('fields', (fields: { name: string }[]) => {
        columns = fields.map((f) => f.name);
      });
      const stream = command.stream({ highWaterMark: 1_000 });
      // A connection that drops mid-result ends no command: end the stream with its error instead of waiting forever.
      const onLost = (error: Error) => stream.destroy(error);
      core.once('error', onLost);
      try {
        for await (const row of stream as AsyncIterable<(string | null)[]>) {
          batch.push(row);
          if (batch.length >= request.chunkRows) {
            if (request.signal.aborted) throw new Error('staging cancelled');
            flush();
          }
        }
        if (request.signal.aborted) throw new Error('staging cancelled');
        if (batch.length > 0 || files.length === 0) flush();
      } catch (error) {
        stream.destroy();
        if (isQueryError(error)) throw new SourceError('INVALID_QUERY', `the source query failed: ${(error as Error).message}`, { cause: error });
        throw error;
      } finally {
        core.removeListener('error', onLost);
      }
    });
    return { files, rows, columns, format: 'query' };
  }
}
