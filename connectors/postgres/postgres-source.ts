/**
 * The `postgres` connector as a source: runs the connector's (or the flow's) query with
 * `:source_path` bound as query parameter `$1` — never interpolated — and streams the result with
 * a server-side cursor into Parquet chunk files of `fetch_rows` rows.
 *
 * Every value is staged as Postgres' own text form (all type parsers are identity), so the flow's
 * field types do the casting, row by row, exactly as for CSV.
 *
 * A connection dropped while the cursor is read (a server restart) fails the staging with the
 * retryable `CONNECTION_LOST` (db/pg-pool.ts `withPgClient`); the retry stages the query again.
 */
import path from 'node:path';
import pl from 'nodejs-polars';
import type { Pool } from 'pg';
import Cursor from 'pg-cursor';
import { SourceError } from '../../common/errors';
import { withPgClient } from '../../db/pg-pool';
import { postgresConnectorAccess, withAccessErrors, type PostgresAccess } from '../access-errors';
import type { CheckOptions, CheckResult, SourceConnector, StagedSource, StageSourceRequest } from '../connector';
import { bindSourcePath } from './bind-source-path';
import { checkPostgres } from './postgres-check';

/** Keeps every value as the text Postgres sent. */
const TEXT_TYPES = { getTypeParser: () => (value: string) => value };

export { bindSourcePath };

export class PostgresSource implements SourceConnector {
  readonly kind = 'postgres';
  private readonly access: PostgresAccess;
  /**
   * @param access how to name the connection in AUTH_FAILED / PERMISSION_DENIED messages.
   *   @default connector `postgres`, with the pool's connection string as its `url`
   */
  constructor(
    private readonly pool: Pool,
    private readonly connectorName: string,
    private readonly connectorQuery: string | undefined,
    private readonly fetchRows: number,
    access?: PostgresAccess,
  ) {
    this.access = access ?? postgresConnectorAccess('postgres', pool.options.connectionString ?? '', '');
  }

  /**
   * A connection of its own, server version, `SELECT 1`; with the connector's query, EXPLAIN it (`:source_path`
   * bound to NULL) in a read-only transaction. Never rejects (see connectors/postgres/postgres-check.ts).
   */
  async check(options: CheckOptions = {}): Promise<CheckResult> {
    return checkPostgres({
      ...options,
      url: this.access.url,
      fix: this.access.setting,
      ...(this.connectorQuery === undefined ? {} : { query: this.connectorQuery, queryFix: `connectors.${this.connectorName}.query` }),
    });
  }

  /**
   * See {@link SourceConnector.stage}.
   * @throws SourceError `INVALID_QUERY`; AccessError `AUTH_FAILED` (credentials refused) or `PERMISSION_DENIED` (no privilege to read).
   */
  async stage(request: StageSourceRequest): Promise<StagedSource> {
    return withAccessErrors(this.access, () => this.stageQuery(request));
  }

  private async stageQuery(request: StageSourceRequest): Promise<StagedSource> {
    const query = request.spec.source.query ?? this.connectorQuery;
    if (!query) {
      throw new SourceError('INVALID_QUERY', 'a postgres source needs a query: set source.query in the flow or query in the connector config');
    }
    const text = bindSourcePath(query);
    const files: StagedSource['files'] = [];
    let columns: string[] = [];
    let rows = 0;
    await withPgClient(this.pool, `postgres connector "${this.connectorName}"`, async (client) => {
      let cursor: Cursor | undefined;
      try {
        cursor = client.query(new Cursor(text, [request.sourcePath], { rowMode: 'array', types: TEXT_TYPES }));
        for (let chunk = 0; ; chunk++) {
          if (request.signal.aborted) throw new Error('cancelled');
          const { batch, fields } = await new Promise<{ batch: unknown[][]; fields: string[] }>((resolve, reject) => {
            cursor!.read(Math.min(this.fetchRows, request.chunkRows), (error, result, meta) => {
              if (error) reject(error);
              else resolve({ batch: result as unknown[][], fields: (meta?.fields ?? []).map((f) => f.name) });
            });
          });
          if (fields.length > 0) columns = fields;
          if (batch.length === 0 && chunk > 0) break;
          const frame = pl.DataFrame(
            Object.fromEntries(columns.map((name, i) => [name, pl.Series(name, batch.map((row) => row[i] as string | null), pl.Utf8)])),
          );
          const file = path.join(request.stagingDir, `source-${String(chunk).padStart(5, '0')}.parquet`);
          frame.writeParquet(file);
          files.push({ path: file, rows: batch.length });
          rows += batch.length;
          request.onProgress({ rows, chunk });
          if (batch.length === 0) break;
        }
        await new Promise<void>((resolve) => cursor!.close(() => resolve()));
      } catch (error) {
        // An open cursor would hold the client: every later query on it (the pool's next user) would wait forever.
        // (A lost connection never answers the close: wait at most 2 s, the client is released as broken then.)
        const open = cursor;
        if (open) await Promise.race([new Promise<void>((resolve) => open.close(() => resolve())), new Promise<void>((resolve) => setTimeout(resolve, 2_000).unref())]);
        const code = (error as { code?: string }).code;
        if (code && code !== '42501' && /^(42|22)/.test(code)) {
          throw new SourceError('INVALID_QUERY', `the source query failed: ${(error as Error).message}`, { cause: error });
        }
        throw error;
      }
    });
    return { files, rows, columns, format: 'query' };
  }
}
