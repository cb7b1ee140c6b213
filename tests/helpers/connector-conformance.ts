/**
 * The connector conformance suite: one set of node:test tests every source and every target runs
 * (tests/integration/connector-conformance.test.ts, one line per connector kind), against real servers.
 *
 * Sources: a multi-chunk data set ({@link CONFORMANCE_ROWS} rows of `id, name, amount`) staged with exact row
 * counts, columns, text values and types (every staged column is text: the flow's field types cast); a missing
 * object/table/file is the connector's stable code; bad credentials are AUTH_FAILED with no secret in the message;
 * cancellation mid-stage stops promptly; `check()` OK on a good config and FAILED (a reason, no secret) on a bad one.
 *
 * Targets: mapped rows and rejects loaded with exact counts; a second load of the same execution writes nothing
 * (`alreadyLoaded`); a load that fails mid-way (a chunk file that is not Parquet) leaves nothing, and its retry
 * writes everything once; bad credentials are AUTH_FAILED with no secret; `check()` on a good and a bad config.
 *
 * @example
 * ```ts
 * sourceConformance('local', { setup: async () => ({ source: () => new LocalSource(root, 'files'), … }) });
 * targetConformance('mysql', { setup: async () => ({ target: () => new MysqlTarget(pool, 'shop', access), … }) });
 * ```
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pl from 'nodejs-polars';
import type { CheckResult, LoadRequest, SourceConnector, StageSourceRequest, TargetConnector } from '../../connectors/connector';
import { validateFlowSpec, type FlowSpec } from '../../flows/flow-spec';
import { ROW_COLUMN } from '../../transform/map-chunk';

/** Rows of the source data set: three chunks of {@link CONFORMANCE_CHUNK_ROWS} (the last one short). */
export const CONFORMANCE_ROWS = 2_500;
/** `chunkRows` of the staging requests. */
export const CONFORMANCE_CHUNK_ROWS = 1_000;

/** Row `i` (1-based) of the data set, as text: `[id, name, amount]`; row 7's name has a comma and quotes. */
export const conformanceRow = (i: number): [string, string, string] => [String(i), i === 7 ? 'seven, "quoted"' : `name ${i}`, `${i}.25`];

/** The data set as CSV (header `id,name,amount`). */
export function conformanceCsv(rows = CONFORMANCE_ROWS): string {
  const quote = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  const lines = ['id,name,amount'];
  for (let i = 1; i <= rows; i++) lines.push(conformanceRow(i).map(quote).join(','));
  return `${lines.join('\n')}\n`;
}

/** A CSV of about 24 MB (`a` column): long enough to stage that a cancellation lands mid-way. */
export function largeCsv(): string {
  return `a\n${`${'y'.repeat(200)}\n`.repeat(120_000)}`;
}

/** A flow that reads through a source connector: `source` is merged into `source: { connector: 'src' }`. */
export function sourceSpec(source: Record<string, unknown> = {}): FlowSpec {
  return validateFlowSpec({
    name: 'conformance_source',
    source: { connector: 'src', ...source },
    target: { connector: 'dst', table: 'conformance' },
    fields: { id: { from: 'id', type: 'int64', required: true }, name: { from: 'name', type: 'string' }, amount: { from: 'amount', type: 'float64' } },
  });
}

/** A flow that loads into a target connector: `target` is merged into `target: { connector: 'dst' }` (table or path). */
export function targetSpec(target: Record<string, unknown>): FlowSpec {
  return validateFlowSpec({
    name: 'conformance_target',
    source: { connector: 'src' },
    target: { connector: 'dst', ...target },
    fields: { id: { from: 'id', type: 'int64', required: true }, name: { from: 'name', type: 'string' } },
  });
}

/** A source connector ready to be tested: its data set is in place. */
export interface SourceUnderTest {
  source(): SourceConnector;
  /** The flow reading the data set (a query for database sources, a format for files). */
  spec: FlowSpec;
  /** source_path of the data set ({@link conformanceCsv}'s rows). */
  dataPath: string;
  /** What to stage for the cancellation test: large enough that an abort lands mid-way. */
  cancel: { spec: FlowSpec; sourcePath: string; chunkRows: number };
  /** A source_path (and flow) naming an object, table or file that does not exist, and the stable code it fails with. */
  missing: { spec: FlowSpec; sourcePath: string; code: string };
  /** True for sources that stage in several chunk files (queries); file sources stage one file. */
  chunked: boolean;
  /** The connector with refused credentials, and the secret that must not appear; absent for kinds without credentials (`credentials: false`). */
  badCredentials?: { source(): SourceConnector; secret: string };
  /** The connector with a config its check() must fail (a missing root, a wrong port…). */
  badConfig(): SourceConnector;
  teardown(): Promise<void>;
}

/** A source connector kind: `setup` writes the data set and returns the connector, or a reason to skip (outside CI only). */
export interface SourceKind {
  /** False for kinds without credentials (local): the bad-credentials test is not defined for them. @default true */
  credentials?: boolean;
  setup(): Promise<SourceUnderTest | string>;
}

/** A target connector ready to be tested. */
export interface TargetUnderTest {
  target(): TargetConnector;
  /** The flow loading into `name` (a table, or an object path), unique per test. */
  spec(name: string): FlowSpec;
  /** What the target holds for `name` now: mapped rows and rejects (0 when nothing was published). */
  count(name: string, runId: string): Promise<{ rows: number; rejects: number }>;
  /**
   * `loadCode`: the code a load with refused credentials fails with. @default AUTH_FAILED (s3: the first call is a HEAD,
   * whose bare 403 cannot tell refused credentials from a missing permission, so PERMISSION_DENIED; its check says AUTH_FAILED).
   */
  badCredentials: { target(): TargetConnector; secret: string; loadCode?: string };
  /** The connector with a config its check() must fail. */
  badConfig(): TargetConnector;
  teardown(): Promise<void>;
}

export interface TargetKind {
  setup(): Promise<TargetUnderTest | string>;
}

const tempDir = (prefix: string) => mkdtempSync(path.join(os.tmpdir(), prefix));

function stageRequest(spec: FlowSpec, sourcePath: string, options: { chunkRows?: number; signal?: AbortSignal; onProgress?: StageSourceRequest['onProgress'] } = {}): StageSourceRequest & { progress: number } {
  const request = {
    sourcePath,
    spec,
    stagingDir: tempDir('sluice-conformance-staging-'),
    chunkRows: options.chunkRows ?? CONFORMANCE_CHUNK_ROWS,
    progress: 0,
    onProgress: (p: { rows: number; chunk: number }) => {
      request.progress += 1;
      options.onProgress?.(p);
    },
    signal: options.signal ?? new AbortController().signal,
  };
  return request;
}

/** Asserts `promise` rejects with `code` and a message free of `secret`. */
async function rejectsWith(promise: Promise<unknown>, code: string, secret?: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.equal((error as { code?: unknown }).code, code, `expected ${code}, got ${String(error)}`);
    if (secret) assert.ok(!(error as Error).message.includes(secret), `the secret is in the message: ${(error as Error).message}`);
    return true;
  });
}

/** Asserts a failed check: ok false, a reason, no secret in it (nor in its detail). */
function assertFailedCheck(result: CheckResult, secret?: string): void {
  assert.equal(result.ok, false, `expected a failed check, got OK: ${result.reason}`);
  assert.ok(result.reason.length > 10, `a reason: "${result.reason}"`);
  if (secret) assert.ok(!JSON.stringify(result).includes(secret), `the secret is in the check result: ${JSON.stringify(result)}`);
}

/** The conformance tests of one source connector kind. */
export function sourceConformance(kind: string, sourceKind: SourceKind): void {
  describe(`${kind} source conformance`, () => {
    let under: SourceUnderTest | undefined;
    let skip: string | false = false;
    before(async () => {
      const ready = await sourceKind.setup();
      if (typeof ready === 'string') skip = ready;
      else under = ready;
    });
    after(async () => {
      await under?.teardown();
    });

    it('stages the multi-chunk data set with exact row counts, columns, text values and types', async (t) => {
      if (skip) return t.skip(skip);
      const { source, spec, dataPath, chunked } = under!;
      const request = stageRequest(spec, dataPath);
      const staged = await source().stage(request);
      assert.equal(staged.rows, CONFORMANCE_ROWS);
      assert.deepEqual(staged.columns, ['id', 'name', 'amount']);
      assert.equal(
        staged.files.reduce((sum, f) => sum + f.rows, 0),
        CONFORMANCE_ROWS,
        'the files add up to the rows',
      );
      if (chunked) assert.ok(staged.files.length >= Math.ceil(CONFORMANCE_ROWS / CONFORMANCE_CHUNK_ROWS), `${staged.files.length} chunk files`);
      assert.ok(request.progress >= staged.files.length, `progress called ${request.progress} times for ${staged.files.length} files`);
      const frames = staged.files.map((f) => {
        const frame = pl.readParquet(f.path);
        assert.equal(frame.height, f.rows, `${f.path} holds the rows it says`);
        return frame;
      });
      const frame = pl.concat(frames);
      for (const column of frame.columns) assert.equal(String(frame.getColumn(column).dtype), String(pl.String), `${column} is staged as text`);
      for (const i of [1, 7, 1_000, 1_001, CONFORMANCE_ROWS]) assert.deepEqual(frame.row(i - 1), conformanceRow(i), `row ${i}`);
      assert.deepEqual(
        frame.getColumn('id').toArray().map(Number),
        Array.from({ length: CONFORMANCE_ROWS }, (_, i) => i + 1),
        'every id once, in source order',
      );
    });

    it('a missing object, table or file fails with the connector\'s stable code', async (t) => {
      if (skip) return t.skip(skip);
      const { source, missing } = under!;
      await rejectsWith(source().stage(stageRequest(missing.spec, missing.sourcePath)), missing.code);
    });

    if (sourceKind.credentials !== false) {
      it('bad credentials fail with AUTH_FAILED, no secret in the message', async (t) => {
        if (skip) return t.skip(skip);
        const { spec, dataPath, badCredentials } = under!;
        assert.ok(badCredentials, `${kind} needs badCredentials (or credentials: false)`);
        await rejectsWith(badCredentials.source().stage(stageRequest(spec, dataPath)), 'AUTH_FAILED', badCredentials.secret);
        const checked = await badCredentials.source().check({ timeoutMs: 10_000 });
        assertFailedCheck(checked, badCredentials.secret);
        assert.equal(checked.code, 'AUTH_FAILED', checked.reason);
      });
    }

    it('cancellation mid-stage stops promptly and leaves the connector usable', async (t) => {
      if (skip) return t.skip(skip);
      const { source, cancel, spec, dataPath } = under!;
      const controller = new AbortController();
      let abortedAt = 0;
      const abort = () => {
        if (abortedAt === 0) {
          abortedAt = Date.now();
          controller.abort();
        }
      };
      // At the first progress (a chunk, 8 MiB downloaded), or after 30 ms for a source that reports only at the end.
      const timer = setTimeout(abort, 30);
      const request = stageRequest(cancel.spec, cancel.sourcePath, { chunkRows: cancel.chunkRows, signal: controller.signal, onProgress: abort });
      try {
        await assert.rejects(source().stage(request));
      } finally {
        clearTimeout(timer);
      }
      assert.ok(abortedAt > 0, 'aborted');
      const stoppedMs = Date.now() - abortedAt;
      t.diagnostic(`stopped ${stoppedMs} ms after the abort`);
      assert.ok(stoppedMs < 3_000, `stopped ${stoppedMs} ms after the abort`);
      assert.equal(existsSync(path.join(request.stagingDir, 'download')), false, 'no scratch download left');
      const again = await source().stage(stageRequest(spec, dataPath));
      assert.equal(again.rows, CONFORMANCE_ROWS, 'the connector still stages after a cancellation');
    });

    it('check(): OK on a good config, FAILED with a reason on a bad one', async (t) => {
      if (skip) return t.skip(skip);
      const { source, badConfig } = under!;
      const good = await source().check({ timeoutMs: 10_000 });
      assert.equal(good.ok, true, good.reason);
      assert.ok(good.reason.length > 5);
      assertFailedCheck(await badConfig().check({ timeoutMs: 5_000 }));
    });
  });
}

/** A mapped chunk as transform writes it: `id` (Int64), `name`, and the source row number. */
function mappedChunk(dir: string, name: string, from: number, count: number): string {
  const ids = Array.from({ length: count }, (_, i) => from + i);
  const file = path.join(dir, name);
  pl.DataFrame({
    id: pl.Series('id', ids, pl.Int64),
    name: pl.Series('name', ids.map((i) => conformanceRow(i)[1]), pl.Utf8),
    [ROW_COLUMN]: pl.Series(ROW_COLUMN, ids, pl.Int64),
  }).writeParquet(file);
  return file;
}

/** A rejects chunk: row number, the record and its errors as JSON text. */
function rejectsChunk(dir: string, name: string, rows: number[]): string {
  const file = path.join(dir, name);
  pl.DataFrame({
    [ROW_COLUMN]: pl.Series(ROW_COLUMN, rows, pl.Int64),
    record: pl.Series('record', rows.map((r) => JSON.stringify({ id: `x${r}` })), pl.Utf8),
    errors: pl.Series('errors', rows.map(() => JSON.stringify([{ field: 'id', rule: 'type', message: 'not an int64' }])), pl.Utf8),
  }).writeParquet(file);
  return file;
}

/** The conformance tests of one target connector kind. */
export function targetConformance(kind: string, targetKind: TargetKind): void {
  describe(`${kind} target conformance`, () => {
    let under: TargetUnderTest | undefined;
    let skip: string | false = false;
    const dir = tempDir('sluice-conformance-target-');
    before(async () => {
      const ready = await targetKind.setup();
      if (typeof ready === 'string') skip = ready;
      else under = ready;
    });
    after(async () => {
      await under?.teardown();
    });

    const request = (spec: FlowSpec, executionId: string, mappedFiles: string[], rejectedFiles: string[]): LoadRequest => ({
      runId: `conformance-${executionId}`,
      executionId,
      flowVersion: `${spec.name}:v1`,
      sourcePath: 'conformance.csv',
      spec,
      mappedFiles,
      rejectedFiles,
      onProgress: () => undefined,
      signal: new AbortController().signal,
    });

    it('loads mapped rows and rejects with exact counts; loaded twice for the same execution, it writes once', async (t) => {
      if (skip) return t.skip(skip);
      const { target, spec, count } = under!;
      const load = request(spec('twice'), 'exec-twice', [mappedChunk(dir, 'twice-0.parquet', 1, 1_500), mappedChunk(dir, 'twice-1.parquet', 1_501, 1_000)], [rejectsChunk(dir, 'twice-r.parquet', [2_501, 2_502])]);
      const first = await target().load(load);
      assert.deepEqual([first.rowsWritten, first.rowsRejected, first.alreadyLoaded], [2_500, 2, false]);
      assert.deepEqual(await count('twice', load.runId), { rows: 2_500, rejects: 2 });
      const again = await target().load(load);
      // A ledger hit COPYs nothing, so it names no COPY format (postgres).
      const { copyFormat: _format, rejectsCopyFormat: _rejectsFormat, ...firstLoad } = first;
      assert.deepEqual({ ...again }, { ...firstLoad, alreadyLoaded: true });
      assert.deepEqual(await count('twice', load.runId), { rows: 2_500, rejects: 2 }, 'written once');
    });

    it('a load interrupted mid-way (a chunk file that is not Parquet) leaves nothing; its retry writes everything once', async (t) => {
      if (skip) return t.skip(skip);
      const { target, spec, count } = under!;
      const good = mappedChunk(dir, 'half-0.parquet', 1, 2_000);
      const broken = path.join(dir, 'half-1.parquet');
      writeFileSync(broken, 'not parquet');
      const rejects = rejectsChunk(dir, 'half-r.parquet', [9_999]);
      const failing = request(spec('halfway'), 'exec-half', [good, broken], [rejects]);
      await assert.rejects(target().load(failing));
      assert.deepEqual(await count('halfway', failing.runId), { rows: 0, rejects: 0 }, 'nothing written');
      const retried = await target().load({ ...failing, mappedFiles: [good, mappedChunk(dir, 'half-1b.parquet', 2_001, 10)] });
      assert.deepEqual([retried.rowsWritten, retried.rowsRejected, retried.alreadyLoaded], [2_010, 1, false]);
      assert.deepEqual(await count('halfway', failing.runId), { rows: 2_010, rejects: 1 });
    });

    it('bad credentials fail with AUTH_FAILED, no secret in the message', async (t) => {
      if (skip) return t.skip(skip);
      const { spec, badCredentials } = under!;
      const load = request(spec('refused'), 'exec-refused', [mappedChunk(dir, 'refused.parquet', 1, 10)], [rejectsChunk(dir, 'refused-r.parquet', [])]);
      await rejectsWith(badCredentials.target().load(load), badCredentials.loadCode ?? 'AUTH_FAILED', badCredentials.secret);
      const checked = await badCredentials.target().check({ timeoutMs: 10_000 });
      assertFailedCheck(checked, badCredentials.secret);
      assert.equal(checked.code, 'AUTH_FAILED', checked.reason);
    });

    it('check(): OK on a good config, FAILED with a reason on a bad one', async (t) => {
      if (skip) return t.skip(skip);
      const { target, badConfig } = under!;
      const good = await target().check({ timeoutMs: 10_000 });
      assert.equal(good.ok, true, good.reason);
      assertFailedCheck(await badConfig().check({ timeoutMs: 5_000 }));
    });
  });
}
