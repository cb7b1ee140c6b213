/**
 * The `postgres` connector as a target: loads mapped rows, rejected rows and a load-ledger row in
 * ONE transaction, with COPY (pg-copy-streams), never row-by-row INSERTs.
 *
 * Effectively once: the ledger (`sluice.load_ledger`, in the target database) is keyed by the
 * run's execution id. A retried load takes the same advisory lock, sees the ledger row and writes
 * nothing; a load interrupted before COMMIT leaves nothing behind (Postgres rolls it back), so the
 * retry writes everything. The ledger's primary key is the last line of defence: two attempts can
 * never both commit. A connection dropped mid-load (a server restart) fails the load with the retryable
 * `CONNECTION_LOST` (db/pg-pool.ts `withPgClient`), never the worker process.
 *
 * Tables are created when missing, from the field types (docs/flow-spec.md "Target tables"):
 * `write: append` COPYs into the table; `replace` TRUNCATEs it first in the same transaction;
 * `upsert` COPYs into a temporary table and merges with `INSERT … ON CONFLICT (key) DO UPDATE`.
 *
 * Mapped rows are COPYed in PostgreSQL's binary format when every column has the type Sluice would create
 * (binary-copy.ts; the server no longer parses text), else as CSV rendered by Polars; rejects are CSV.
 *
 * Link steps (`target.link`, see link-steps.ts) run after the rows and rejects, in the same
 * transaction, before the ledger row; their row counts are kept in the ledger (`links`), so a retry
 * that finds the load done reports them without running anything again.
 */
import { finished } from 'node:stream/promises';
import { Semaphore } from 'async-mutex';
import pl from 'nodejs-polars';
import type { Pool, PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { TargetError } from '../../common/errors';
import { withPgClient } from '../../db/pg-pool';
import type { FlowSpec } from '../../flows/flow-spec';
import { POSTGRES_TYPES } from '../../transform/field-types';
import { ROW_COLUMN } from '../../transform/map-chunk';
import { LINEAGE_COLUMNS, lineageState, lineageWanted, withLineage } from '../../transform/lineage';
import { quoteIdent } from '../../transform/polars-sql';
import { postgresConnectorAccess, withAccessErrors, type PostgresAccess } from '../access-errors';
import { inspectPostgresTarget } from './dry-run-inspect';
import type { CheckOptions, CheckResult, LinkStepResult, LoadRequest, LoadResult, StagedSource, StageRejectsRequest, StreamLoadRequest, TargetConnector } from '../connector';
import { checkPostgres } from './postgres-check';
import type { ListRejectsRequest, RejectsPage, RejectsSummary, RejectsTarget } from '../rejects';
import { runLinkSteps } from './link-steps';
import { binaryAccepted, binaryKinds, BINARY_COPY_HEADER, BINARY_COPY_TRAILER, encodeBinaryCopy, PieceBuffers, type BinaryKind } from './binary-copy';
import { listPostgresRejects, resolvePostgresRejects, stagePostgresRejects, summarizePostgresRejects } from './postgres-rejects';

const LEDGER_DDL = `
  CREATE SCHEMA IF NOT EXISTS sluice;
  CREATE TABLE IF NOT EXISTS sluice.load_ledger (
    execution_id  text PRIMARY KEY,
    run_id        text NOT NULL,
    flow_version  text NOT NULL,
    source_path   text NOT NULL,
    target_table  text NOT NULL,
    rejects_table text NOT NULL,
    rows_written  bigint NOT NULL,
    rows_rejected bigint NOT NULL,
    loaded_at     timestamptz NOT NULL DEFAULT now(),
    links         jsonb
  );`;

/** Ledgers created before link steps lack `links`; added once (only when missing: ALTER TABLE locks the ledger). */
const LEDGER_LINKS_COLUMN = `ALTER TABLE sluice.load_ledger ADD COLUMN IF NOT EXISTS links jsonb`;

/** `schema.table` → quoted `"schema"."table"` (schema defaults to public). */
export function qualifiedName(table: string): { schema: string; name: string; sql: string } {
  const [schema, name] = table.includes('.') ? (table.split('.') as [string, string]) : ['public', table];
  return { schema, name, sql: `${quoteIdent(schema)}.${quoteIdent(name)}` };
}

/**
 * The target and rejects tables of a flow.
 * @throws TargetError `TARGET_NEEDS_TABLE` when the flow names an object path instead of a table.
 */
function databaseTables(spec: FlowSpec): { table: string; rejects: string } {
  if (!spec.target.table || !spec.target.rejects.table) {
    throw new TargetError('TARGET_NEEDS_TABLE', `flow ${spec.name} targets a postgres connector, so target.table (and rejects.table) must name tables, not a path`);
  }
  return { table: spec.target.table, rejects: spec.target.rejects.table };
}

/** The CREATE TABLE statement for a flow's target table: its fields, then the lineage columns (unless `target.lineage: false`). */
export function targetTableDdl(spec: FlowSpec): string {
  const table = qualifiedName(databaseTables(spec).table);
  const columns = spec.fields.map((f) => `${quoteIdent(f.name)} ${POSTGRES_TYPES[f.type]}${f.required ? ' NOT NULL' : ''}`);
  if (lineageWanted(spec)) columns.push(`${LINEAGE_COLUMNS[0]} text`, `${LINEAGE_COLUMNS[1]} bigint`);
  if (spec.target.write === 'upsert' && spec.target.key) columns.push(`UNIQUE (${spec.target.key.map(quoteIdent).join(', ')})`);
  return `CREATE TABLE IF NOT EXISTS ${table.sql} (\n  ${columns.join(',\n  ')}\n)`;
}

/** The CREATE TABLE statement for a flow's rejects table. */
export function rejectsTableDdl(spec: FlowSpec): string {
  return `CREATE TABLE IF NOT EXISTS ${qualifiedName(databaseTables(spec).rejects).sql} (
  run_id       text NOT NULL,
  execution_id text,
  flow_version text NOT NULL,
  source_path  text NOT NULL,
  row_number   bigint NOT NULL,
  record       jsonb NOT NULL,
  errors       jsonb NOT NULL,
  rejected_at  timestamptz NOT NULL DEFAULT now(),
  rejects_of      text,
  resolved_by_run text,
  resolved_at     timestamptz
)`;
}

/**
 * Rejects tables created before Sluice recorded the execution lack `execution_id` (a forced rerun keeps the run id, so
 * only the execution tells its rejects apart); added once, nullable: rows loaded before stay null.
 */
const rejectsExecutionColumn = (table: string) => `ALTER TABLE ${qualifiedName(table).sql} ADD COLUMN IF NOT EXISTS execution_id text`;

/** Rejects tables created before reprocessing lack these (all nullable); added once, like `execution_id`. */
const REPROCESS_COLUMNS = { rejects_of: 'text', resolved_by_run: 'text', resolved_at: 'timestamptz' } as const;

/** Loads holding a connection of a pool at once: one fewer than its connections (pg's default pool size is 10). */
const LOAD_SLOTS = new WeakMap<Pool, Semaphore>();
function loadSlots(pool: Pool): Semaphore {
  let slots = LOAD_SLOTS.get(pool);
  if (!slots) {
    slots = new Semaphore(Math.max(1, (pool.options.max ?? 10) - 1));
    LOAD_SLOTS.set(pool, slots);
  }
  return slots;
}

/**
 * What {@link PostgresTarget.ensureTables} found: lineage columns present; mapped rows, and rejects, COPYable in
 * binary (their columns have the types Sluice creates).
 */
interface TableState {
  lineage: boolean;
  binary: boolean;
  rejectsBinary: boolean;
}

/** One COPY … FROM STDIN (without its options) and its format: the kinds of its columns when binary. */
interface CopyStatement {
  sql: string;
  binary: BinaryKind[] | false;
}

const REJECT_COLUMNS = ['run_id', 'execution_id', 'flow_version', 'source_path', 'row_number', 'record', 'errors', 'rejects_of'];
/** The binary kinds of {@link REJECT_COLUMNS}, as {@link rejectsTableDdl} makes them. */
const REJECT_KINDS: BinaryKind[] = ['text', 'text', 'text', 'text', 'int8', 'jsonb', 'jsonb', 'text'];

/**
 * SQLSTATE classes a user can fix: cardinality (21), data exceptions (22), integrity (23), syntax/undefined objects (42).
 * Not `42501` (insufficient_privilege): that is the connector's PERMISSION_DENIED, classified by access-errors.ts.
 */
function isUserFixable(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  const constraint = (error as { constraint?: string }).constraint;
  if (code === '23505' && constraint === 'load_ledger_pkey') return false;
  if (code === '42501') return false;
  return typeof code === 'string' && /^(21|22|23|42)/.test(code);
}

export class PostgresTarget implements TargetConnector {
  readonly kind = 'postgres';
  private readonly access: PostgresAccess;
  private readonly binaryCopy: boolean;
  /**
   * @param access how to name the connection in AUTH_FAILED / PERMISSION_DENIED messages.
   *   @default the connector, with the pool's connection string as its `url`
   * @param options.binaryCopy COPY mapped rows in binary when the table's types allow it (the connector's
   *   `copy_format: auto`); false: always CSV. @default true
   */
  constructor(
    private readonly pool: Pool,
    private readonly connectorName: string,
    access?: PostgresAccess,
    options: { binaryCopy?: boolean } = {},
  ) {
    this.access = access ?? postgresConnectorAccess(connectorName, pool.options.connectionString ?? '', '');
    this.binaryCopy = options.binaryCopy ?? true;
  }

  /** The connector in messages (a lost connection). */
  private get label(): string {
    return `postgres connector "${this.connectorName}"`;
  }

  /** A connection of its own, server version, `SELECT 1` (connectors/postgres/postgres-check.ts). Never rejects. */
  async check(options: CheckOptions = {}): Promise<CheckResult> {
    return checkPostgres({ ...options, url: this.access.url, fix: this.access.setting });
  }

  /** A dry run's read-only look at the target (connectors/postgres/dry-run-inspect.ts). */
  async inspectForDryRun(request: { spec: FlowSpec; mappedFiles: string[]; countRows: boolean }) {
    const tables = databaseTables(request.spec);
    const inspection = await withAccessErrors(this.access, () =>
      inspectPostgresTarget(this.pool, this.label, request.spec, qualifiedName(tables.table).sql, request.mappedFiles, request.countRows),
    );
    return { location: `${this.connectorName}:${tables.table}`, ...inspection };
  }
  /** One page of an execution's rejects (postgres-rejects.ts). */
  listRejects(request: ListRejectsRequest): Promise<RejectsPage> {
    return listPostgresRejects(this.pool, this.access, request);
  }

  /** The summary of an execution's rejects (postgres-rejects.ts). */
  summarizeRejects(target: RejectsTarget): Promise<RejectsSummary> {
    return summarizePostgresRejects(this.pool, this.access, target);
  }

  /** A reprocess's source: the earlier run's unresolved rejects (postgres-rejects.ts). */
  stageRejects(request: StageRejectsRequest): Promise<StagedSource> {
    return stagePostgresRejects(this.pool, this.access, request);
  }

  /** Whether the flow's table exists and has the lineage columns (read-only). */
  async lineageOf(spec: FlowSpec): Promise<'present' | 'absent' | 'partial' | 'no-table'> {
    const table = qualifiedName(databaseTables(spec).table);
    return withAccessErrors(this.access, async () => {
      const existing = await this.pool.query<{ column_name: string }>('SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2', [table.schema, table.name]);
      return existing.rows.length === 0 ? 'no-table' : lineageState(existing.rows.map((r) => r.column_name));
    });
  }

  /**
   * Creates the ledger, the target and rejects tables when missing, then checks the target's columns.
   * @param part `ledger`: only the ledger; `tables`: only the target and rejects tables (the ledger exists).
   * @returns whether the target table has both lineage columns, and whether the mapped rows and the rejects can be
   *   COPYed in binary (every column has the type Sluice creates; all false for `ledger`).
   */
  private async ensureTables(spec: FlowSpec, part: 'all' | 'ledger' | 'tables' = 'all'): Promise<TableState> {
    const ledgerOnly = part === 'ledger';
    const tables = databaseTables(spec);
    const probe = await this.probeTables(spec);
    // The steady state (every table there, complete): no DDL transaction, whose advisory lock serialises loads.
    const ready = (part === 'tables' || probe.ledger) && (ledgerOnly || (probe.rejects && probe.target.length > 0));
    if (!ready) await withPgClient(this.pool, this.label, async (client) => {
      try {
        await client.query('BEGIN');
        // Serialise DDL across concurrent loads: CREATE … IF NOT EXISTS races otherwise.
        await client.query(`SELECT pg_advisory_xact_lock(hashtext('sluice.ddl'))`);
        if (part !== 'tables') {
          await client.query(LEDGER_DDL);
          const linksColumn = await client.query(
            `SELECT 1 FROM information_schema.columns WHERE table_schema = 'sluice' AND table_name = 'load_ledger' AND column_name = 'links'`,
          );
          if (linksColumn.rowCount === 0) await client.query(LEDGER_LINKS_COLUMN);
        }
        if (ledgerOnly) {
          await client.query('COMMIT');
          return;
        }
        for (const table of [tables.table, tables.rejects]) {
          await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(qualifiedName(table).schema)}`);
        }
        await client.query(targetTableDdl(spec));
        await client.query(rejectsTableDdl(spec));
        const rejects = qualifiedName(tables.rejects);
        const rejectsColumns = await client.query<{ column_name: string }>(
          `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`,
          [rejects.schema, rejects.name],
        );
        const haveRejects = new Set(rejectsColumns.rows.map((r) => r.column_name));
        if (!haveRejects.has('execution_id')) await client.query(rejectsExecutionColumn(tables.rejects));
        const missingReprocess = Object.entries(REPROCESS_COLUMNS).filter(([name]) => !haveRejects.has(name));
        if (missingReprocess.length > 0) {
          await client.query(`ALTER TABLE ${rejects.sql} ${missingReprocess.map(([name, type]) => `ADD COLUMN IF NOT EXISTS ${name} ${type}`).join(', ')}`);
        }
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        if (isUserFixable(error)) {
          throw new TargetError('TARGET_DDL_FAILED', `cannot create ${tables.table}: ${(error as Error).message}`, { cause: error });
        }
        throw error;
      }
    });
    if (ledgerOnly) return { lineage: false, binary: false, rejectsBinary: false };
    const table = qualifiedName(tables.table);
    const found = ready ? probe : await this.probeTables(spec);
    const existing = found.target;
    const have = new Set(existing.map((r) => r.column));
    const missing = spec.fields.filter((f) => !have.has(f.name));
    if (missing.length > 0) {
      throw new TargetError(
        'TARGET_SCHEMA_MISMATCH',
        `table ${tables.table} exists but lacks column${missing.length > 1 ? 's' : ''} ${missing.map((f) => `"${f.name}"`).join(', ')}; ` +
          `add ${missing.length > 1 ? 'them' : 'it'} (${missing.map((f) => `ALTER TABLE ${table.sql} ADD COLUMN ${quoteIdent(f.name)} ${POSTGRES_TYPES[f.type]}`).join('; ')}) or point the flow at another table`,
        { details: { missing: missing.map((f) => f.name) } },
      );
    }
    const lineage = lineageState(have) === 'present';
    const udt = new Map(existing.map((r) => [r.column, r.type]));
    const copied = [...spec.fields.map((f) => f.name), ...(lineage ? LINEAGE_COLUMNS : [])];
    const rejectsUdt = new Map(found.rejectsTypes.map((r) => [r.column, r.type]));
    return {
      lineage,
      binary: this.binaryCopy && binaryAccepted(binaryKinds(spec, lineage), copied.map((c) => udt.get(c))),
      // A rejects table from an older Sluice, or changed by hand, may hold other types: it gets CSV.
      rejectsBinary: this.binaryCopy && binaryAccepted(REJECT_KINDS, REJECT_COLUMNS.map((c) => rejectsUdt.get(c))),
    };
  }

  /**
   * One read-only query (pg_catalog) for what the load needs of the database: the ledger with its `links`
   * column, the rejects table with the columns added since it was first made, and the target and rejects tables'
   * columns (name, and type name: a domain gives its own name, so it is COPYed as CSV).
   */
  private async probeTables(
    spec: FlowSpec,
  ): Promise<{ ledger: boolean; rejects: boolean; target: { column: string; type: string }[]; rejectsTypes: { column: string; type: string }[] }> {
    const tables = databaseTables(spec);
    const table = qualifiedName(tables.table);
    const rejects = qualifiedName(tables.rejects);
    const found = await this.pool.query<{ schema: string; name: string; column: string; type: string }>(
      `SELECT n.nspname AS schema, c.relname AS name, a.attname AS column, t.typname AS type
         FROM pg_catalog.pg_attribute a
         JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
        WHERE a.attnum > 0 AND NOT a.attisdropped
          AND ((n.nspname = 'sluice' AND c.relname = 'load_ledger') OR (n.nspname = $1 AND c.relname = $2) OR (n.nspname = $3 AND c.relname = $4))
        ORDER BY a.attnum`,
      [table.schema, table.name, rejects.schema, rejects.name],
    );
    const columnsOf = (schema: string, name: string) => found.rows.filter((r) => r.schema === schema && r.name === name);
    const rejectsTypes = columnsOf(rejects.schema, rejects.name).map((r) => ({ column: r.column, type: r.type }));
    const rejectsColumns = new Set(rejectsTypes.map((r) => r.column));
    return {
      ledger: columnsOf('sluice', 'load_ledger').some((r) => r.column === 'links'),
      rejects: ['execution_id', ...Object.keys(REPROCESS_COLUMNS)].every((c) => rejectsColumns.has(c)),
      target: columnsOf(table.schema, table.name).map((r) => ({ column: r.column, type: r.type })),
      rejectsTypes,
    };
  }

  /**
   * Streams frames into one COPY, one piece ahead: piece k+1 is encoded (and frame k+1 read from Parquet,
   * or mapped by the caller's generator on the libuv pool) while piece k drains into the socket. At most
   * one encoded piece waits on the socket. `copy` is asked for the statement and the format when the
   * first non-empty frame is ready (a table made just before it exists by then): CSV rendered by Polars
   * (one piece per frame), or binary (binary-copy.ts, pieces of up to 32,768 rows).
   */
  private async copyFrames(
    client: PoolClient,
    copy: CopyStatement | (() => CopyStatement),
    frames: AsyncIterable<pl.DataFrame> | Iterable<pl.DataFrame>,
    request: Pick<LoadRequest, 'signal' | 'onProgress'>,
    done: { rows: number },
    onFirstWrite?: () => void,
  ): Promise<void> {
    let open: { stream: ReturnType<typeof copyFrom>; ended: Promise<void>; statement: CopyStatement } | undefined;
    let inFlight: Promise<void> = Promise.resolve();
    let chunk = 0;
    // A binary COPY's pieces reuse their memory once written (binary-copy.ts, PieceBuffers).
    const buffers = new PieceBuffers();
    const send = async (piece: Buffer) => {
      const { stream, ended } = open!;
      await Promise.race([inFlight, ended]);
      inFlight = new Promise<void>((resolve, reject) =>
        stream.write(piece, (error) => {
          if (error) return reject(error);
          buffers.give(piece);
          resolve();
        }),
      );
      inFlight.catch(() => undefined);
    };
    try {
      for await (const frame of frames) {
        if (request.signal.aborted) throw new Error('load cancelled');
        const rows = frame.height;
        if (rows > 0) {
          const columns = frame.columns.includes(ROW_COLUMN) ? frame.drop(ROW_COLUMN) : frame;
          if (!open) {
            const statement = typeof copy === 'function' ? copy() : copy;
            const stream = client.query(copyFrom(`${statement.sql} (FORMAT ${statement.binary ? 'binary' : 'csv'})`));
            // Listens for 'error' from the start: the COPY can fail while the next frame is being produced.
            const ended = finished(stream);
            ended.catch(() => undefined);
            open = { stream, ended, statement };
            onFirstWrite?.();
            if (statement.binary) await send(BINARY_COPY_HEADER);
          }
          const binary = open.statement.binary;
          if (binary) for await (const piece of encodeBinaryCopy(columns, binary, buffers)) await send(piece);
          else await send(columns.writeCSV({ includeHeader: false }) as unknown as Buffer);
          done.rows += rows;
        }
        request.onProgress({ rows: done.rows, chunk: chunk++ });
      }
      if (open) {
        if (open.statement.binary) await send(BINARY_COPY_TRAILER);
        await Promise.race([inFlight, open.ended]);
        open.stream.end();
        await open.ended;
      }
    } catch (error) {
      if (open) {
        open.stream.destroy(error as Error);
        await open.ended.catch(() => undefined);
      }
      throw error;
    }
  }

  /**
   * See {@link TargetConnector.load}.
   * @throws AccessError `AUTH_FAILED` (credentials refused) or `PERMISSION_DENIED` (no privilege to create or write the tables).
   */
  async load(request: LoadRequest): Promise<LoadResult> {
    return withAccessErrors(this.access, async () => {
      const ready = await this.ensureTables(request.spec);
      const files = request.mappedFiles;
      const result = await this.loadOnce(request, (function* () {
        for (const file of files) yield pl.readParquet(file);
      })(), async () => request.rejectedFiles, ready);
      return result!;
    });
  }

  /**
   * See {@link TargetConnector.loadStream}: the same transaction as {@link load}, fed by frames the
   * caller maps while the previous one is COPYed. The ledger is made when missing and checked first (a
   * retry after COMMIT maps nothing); the target and rejects tables are created when the first frame
   * is ready (or before the rejects), so a run rolled back before any frame never creates them.
   * @throws AccessError `AUTH_FAILED` or `PERMISSION_DENIED`; whatever the frame generator throws (after ROLLBACK).
   */
  async loadStream(request: StreamLoadRequest): Promise<LoadResult | null> {
    return withAccessErrors(this.access, () => this.loadOnce(request, request.mapped, request.rejected, null, request.onFirstWrite));
  }

  private async loadOnce(
    request: Omit<LoadRequest, 'mappedFiles' | 'rejectedFiles'>,
    mappedFrames: AsyncIterable<pl.DataFrame> | Iterable<pl.DataFrame>,
    rejectedFiles: () => Promise<string[] | null>,
    /** The tables' state when the caller made them; null: made here, lazily (the one-pass path). */
    ready: TableState | null,
    onFirstWrite?: () => void,
  ): Promise<LoadResult | null> {
    const { spec } = request;
    const lazyTables = ready === null;
    const tables = databaseTables(spec);
    const location = `${this.connectorName}:${tables.table}`;
    const rejectsLocation = `${this.connectorName}:${tables.rejects}`;
    const table = qualifiedName(tables.table);
    // Whether the table has the lineage columns is known once the tables are ensured (before the first COPY).
    let state: TableState = ready ?? { lineage: false, binary: false, rejectsBinary: false };
    const columnList = () => [...spec.fields.map((f) => f.name), ...(state.lineage ? LINEAGE_COLUMNS : [])].map(quoteIdent);
    const columns = () => columnList().join(', ');
    // The mapped rows' COPY, decided once the tables are known.
    const mappedCopy = (into: string) => (): CopyStatement => ({
      sql: `COPY ${into} (${columns()}) FROM STDIN`,
      binary: state.binary ? binaryKinds(spec, state.lineage) : false,
    });
    const written = { rows: 0 };
    // The mapped rows' format, when any were COPYed.
    const copied = (): { copyFormat?: 'binary' | 'csv' } => (written.rows > 0 ? { copyFormat: state.binary ? 'binary' : 'csv' } : {});
    let tablesReady = !lazyTables;
    const ensure = async () => {
      if (!tablesReady) state = await this.ensureTables(spec, 'tables');
      tablesReady = true;
    };
    // A reprocess resolves the earlier rejects of the rows it loads: their (original) row numbers.
    const recovered: number[] = [];
    const runId = request.runId;
    const keepRows = request.rejectsOf !== undefined;
    // The tables are made (in their own transaction) just before the first frame is COPYed.
    async function* withTables(): AsyncGenerator<pl.DataFrame> {
      for await (const frame of mappedFrames) {
        if (frame.height > 0) await ensure();
        if (keepRows && frame.height > 0) for (const row of frame.getColumn(ROW_COLUMN).toArray() as unknown[]) recovered.push(Number(row));
        yield state.lineage && frame.height > 0 ? withLineage(frame, runId) : frame;
      }
    }
    // The ledger (Sluice's own table) first: a retry after COMMIT must find it before mapping anything.
    if (lazyTables) await this.ensureTables(spec, 'ledger');
    // A load holds its connection for the whole transaction and, on the one-pass path, asks the pool for a second
    // one (the tables, made when the first chunk is ready): at most max − 1 loads hold one, so the last is always
    // free for those short requests and concurrent loads cannot starve the pool (100 small runs at once did).
    return loadSlots(this.pool).runExclusive(() => withPgClient(this.pool, this.label, async (client) => {
      try {
        await client.query('BEGIN');
        await client.query(`SELECT pg_advisory_xact_lock(hashtext('sluice.load:' || $1))`, [request.executionId]);
        const ledger = await client.query<{ rows_written: string; rows_rejected: string; links: LinkStepResult[] | null }>(
          'SELECT rows_written, rows_rejected, links FROM sluice.load_ledger WHERE execution_id = $1',
          [request.executionId],
        );
        if (ledger.rows[0]) {
          await client.query('COMMIT');
          const links = ledger.rows[0].links;
          return {
            rowsWritten: Number(ledger.rows[0].rows_written),
            rowsRejected: Number(ledger.rows[0].rows_rejected),
            alreadyLoaded: true,
            location,
            rejectsLocation,
            ...(links ? { links } : {}),
          };
        }
        let rowsWritten: number;
        if (spec.target.write === 'upsert') {
          // The staging table copies the target's own column types, so the target must exist first.
          await ensure();
          await client.query(`CREATE TEMPORARY TABLE sluice_upsert (LIKE ${table.sql} INCLUDING DEFAULTS) ON COMMIT DROP`);
          await this.copyFrames(client, mappedCopy('sluice_upsert'), withTables(), request, written, onFirstWrite);
          const rejected = await rejectedFiles();
          if (rejected === null) {
            await client.query('ROLLBACK');
            return null;
          }
          const key = spec.target.key!.map(quoteIdent);
          // The lineage columns of an updated row name the run (and source row) that wrote it last.
          const updates = columnList().filter((c) => !key.includes(c)).map((c) => `${c} = EXCLUDED.${c}`);
          const merged = await client.query(
            `INSERT INTO ${table.sql} (${columns()}) SELECT ${columns()} FROM sluice_upsert
             ON CONFLICT (${key.join(', ')}) DO ${updates.length ? `UPDATE SET ${updates.join(', ')}` : 'NOTHING'}`,
          );
          rowsWritten = merged.rowCount ?? written.rows;
          return await this.finishLoad(client, request, rejected, rowsWritten, { location, rejectsLocation, rejectsTable: tables.rejects, table: tables.table, rejectsBinary: state.rejectsBinary, ...copied() }, recovered);
        }
        if (spec.target.write === 'replace') {
          await ensure();
          await client.query(`TRUNCATE ${table.sql}`);
        }
        await this.copyFrames(client, mappedCopy(table.sql), withTables(), request, written, onFirstWrite);
        rowsWritten = written.rows;
        const rejected = await rejectedFiles();
        if (rejected === null) {
          await client.query('ROLLBACK');
          return null;
        }
        await ensure();
        return await this.finishLoad(client, request, rejected, rowsWritten, { location, rejectsLocation, rejectsTable: tables.rejects, table: tables.table, rejectsBinary: state.rejectsBinary, ...copied() }, recovered);
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        if (error instanceof TargetError) throw error;
        if (isUserFixable(error)) {
          const hint = (error as { code?: string }).code === '21000' || /affect row a second time/.test((error as Error).message)
            ? '; the batch holds the same key twice: add `dedupe` on the key to the flow'
            : '';
          throw new TargetError('TARGET_REJECTED_LOAD', `${location} refused the load: ${(error as Error).message}${hint}`, { cause: error });
        }
        throw error;
      }
    }));
  }

  /** The rejects, the link steps and the ledger row, then COMMIT. */
  private async finishLoad(
    client: PoolClient,
    request: Omit<LoadRequest, 'mappedFiles' | 'rejectedFiles'>,
    rejectedFiles: string[],
    rowsWritten: number,
    where: { location: string; rejectsLocation: string; table: string; rejectsTable: string; rejectsBinary: boolean; copyFormat?: 'binary' | 'csv' },
    recovered: number[],
  ): Promise<LoadResult> {
    const { spec } = request;
    const rejected = { rows: 0 };
    // A reprocess's rejects keep their original source_path (their row numbers are its lines) and name the earlier run.
    const rejectsOf = request.rejectsOf;
    await this.copyFrames(
      client,
      // Binary when the table has Sluice's types: the server still parses the two jsonb values, not the CSV (0.7× the time).
      { sql: `COPY ${qualifiedName(where.rejectsTable).sql} (${REJECT_COLUMNS.join(', ')}) FROM STDIN`, binary: where.rejectsBinary ? REJECT_KINDS : false },
      (function* () {
        // Made once per load, and only when a rejects file holds rows (a clean chunk's file is empty).
        let columns: pl.Expr[] | undefined;
        for (const file of rejectedFiles) {
          const rejects = pl.readParquet(file);
          if (rejects.height === 0) continue;
          columns ??= [
            pl.lit(request.runId).alias('run_id'),
            pl.lit(request.executionId).alias('execution_id'),
            pl.lit(request.flowVersion).alias('flow_version'),
            pl.lit(rejectsOf?.sourcePath ?? request.sourcePath).alias('source_path'),
            pl.col(ROW_COLUMN).alias('row_number'),
            pl.col('record'),
            pl.col('errors'),
            pl.lit(rejectsOf?.runId ?? null).cast(pl.Utf8).alias('rejects_of'),
          ];
          yield rejects.select(...columns);
        }
      })(),
      request,
      rejected,
    );
    // The earlier rejects of the rows just loaded are resolved in this same transaction: both commit, or neither.
    if (rejectsOf) await resolvePostgresRejects(client, rejectsOf, request.runId, recovered);
    // After the rows and the rejects (a link may read either), before the ledger: all or nothing.
    const links = spec.target.link
      ? await runLinkSteps(client, spec.target.link, { run_id: request.runId, flow_version: request.flowVersion, source_path: request.sourcePath }, request.signal)
      : undefined;
    await client.query(
      `INSERT INTO sluice.load_ledger (execution_id, run_id, flow_version, source_path, target_table, rejects_table, rows_written, rows_rejected, links)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [request.executionId, request.runId, request.flowVersion, request.sourcePath, where.table, where.rejectsTable, rowsWritten, rejected.rows, links ? JSON.stringify(links) : null],
    );
    await client.query('COMMIT');
    return {
      rowsWritten,
      rowsRejected: rejected.rows,
      alreadyLoaded: false,
      location: where.location,
      rejectsLocation: where.rejectsLocation,
      ...(links ? { links } : {}),
      ...(where.copyFormat ? { copyFormat: where.copyFormat } : {}),
      ...(rejected.rows > 0 ? { rejectsCopyFormat: where.rejectsBinary ? ('binary' as const) : ('csv' as const) } : {}),
    };
  }
}
