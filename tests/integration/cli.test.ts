/**
 * Integration: the `sluice` CLI as a user runs it (a child process), against the real Temporal dev
 * server and Postgres, with an in-process worker; and the movies example on the real
 * vega-datasets movies.json, with expectations computed independently from the JSON.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { SluiceConfig } from '../../config/sluice-config';
import { createSluiceWorker, type SluiceWorker } from '../../worker/sluice-worker';
import { createTestDatabase, logger, PROJECT_DIR, startTemporal, testConfig, type TestDatabase, runCli, type CliResult } from '../helpers/services';


describe('sluice CLI', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let config: SluiceConfig;
  let worker: SluiceWorker;
  let running: Promise<void>;

  const cli = (args: string[], cwd = PROJECT_DIR): Promise<CliResult> =>
    runCli(args, {
      cwd,
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        TEMPORAL_ADDRESS: env.address,
        SLUICE_TASK_QUEUE: config.temporal.taskQueue,
        SLUICE_STATE_DIR: path.join(config.staging.dir, 'state'),
      },
    });

  before(async () => {
    [env, db] = await Promise.all([startTemporal(), createTestDatabase()]);
    // The worker's `files` connector is rooted at the project dir, like `sluice dev` run there.
    config = testConfig({ dir: PROJECT_DIR, databaseUrl: db.url, address: env.address });
    worker = await createSluiceWorker({ config, logger, connection: env.nativeConnection });
    running = worker.run();
  });

  after(async () => {
    await worker?.shutdown();
    await running;
    await env?.teardown();
    await db?.drop();
  });

  it('runs the movies example to PARTIAL_FAILED with the real defects rejected for the right reasons', { timeout: 120_000 }, async () => {
    const result = await cli(['run', 'flows/movies.yaml', '--source', 'node_modules/vega-datasets/data/movies.json', '--wait', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.equal(lines.length, 1, 'exactly one JSON object on stdout');
    const out = JSON.parse(lines[0]!);
    assert.equal(out.status, 'PARTIAL_FAILED');
    assert.equal(out.flow_version, 'movies:v1');
    assert.equal(out.source_path, 'node_modules/vega-datasets/data/movies.json');

    // Expectations computed from the data itself, not copied from a run.
    const movies = JSON.parse(readFileSync(path.join(PROJECT_DIR, 'node_modules/vega-datasets/data/movies.json'), 'utf8')) as Record<string, unknown>[];
    const ratings = new Set(['G', 'PG', 'PG-13', 'R', 'NC-17']);
    const nullTitles = movies.filter((m) => m.Title === null || m.Title === undefined).length;
    const badRatings = movies.filter((m) => m['MPAA Rating'] !== null && m['MPAA Rating'] !== undefined && !ratings.has(String(m['MPAA Rating']))).length;
    const numericTitles = movies.filter((m) => typeof m.Title === 'number').length;
    assert.equal(movies.length, 3201);
    assert.ok(nullTitles >= 1 && numericTitles >= 1, 'the dataset has its known defects');
    const { rows, rejects } = out.metadata;
    assert.equal(rows.read, movies.length);
    assert.equal(rows.mapped + rows.rejected, rows.read);
    assert.equal(rows.written, rows.mapped);
    assert.equal(rejects.by_rule['title:required'], nullTitles);
    assert.equal(rejects.by_rule['rating:in'], badRatings);
    assert.equal(rejects.location, 'warehouse:public.movies_rejects');

    const mapped = await db.pool.query('SELECT count(*)::int AS n FROM public.movies');
    assert.equal(mapped.rows[0].n, rows.mapped);
    const rejected = await db.pool.query('SELECT count(*)::int AS n FROM public.movies_rejects');
    assert.equal(rejected.rows[0].n, rows.rejected);
    const nullTitle = await db.pool.query(`SELECT record, errors FROM public.movies_rejects WHERE record->'Title' = 'null'::jsonb`);
    assert.equal(nullTitle.rows.length, nullTitles);
    assert.deepEqual(nullTitle.rows[0].errors[0], { field: 'title', rule: 'required', message: 'title is required but missing' });
    // Numeric titles are kept as text, not lost.
    const numeric = movies.find((m) => typeof m.Title === 'number')!;
    const inEither = await db.pool.query(
      `SELECT (SELECT count(*) FROM public.movies WHERE title = $1) + (SELECT count(*) FROM public.movies_rejects WHERE record->>'Title' = $1) AS n`,
      [String(numeric.Title)],
    );
    assert.ok(Number(inEither.rows[0].n) >= 1, 'a numeric title is either mapped as text or rejected with its record');

    const status = await cli(['status', out.id, '--json']);
    assert.equal(status.code, 0);
    assert.equal(JSON.parse(status.stdout).status, 'PARTIAL_FAILED');

    const repeated = await cli(['run', 'movies:v1', '--source', 'node_modules/vega-datasets/data/movies.json', '--json']);
    assert.equal(repeated.code, 2, 'a repeated source_path is a refused request');
    assert.equal(JSON.parse(repeated.stdout).error.code, 'REPEATED_SOURCE_PATH');
  });

  it('exits 1 with metadata.error for a FAILED run, and 2 for an invalid flow file', { timeout: 120_000 }, async () => {
    const failed = await cli(['run', 'movies:v1', '--source', 'no/such/file.json', '--wait', '--json']);
    assert.equal(failed.code, 1);
    const out = JSON.parse(failed.stdout);
    assert.equal(out.status, 'FAILED');
    assert.equal(out.metadata.error.code, 'SOURCE_NOT_FOUND');
    assert.equal(out.metadata.error.step, 'sync_source');

    const bad = path.join(config.staging.dir, 'bad.yaml');
    writeFileSync(bad, 'name: Bad Name\nsource: { connector: files }\ntarget: { connector: warehouse, table: "x y", write: upsert }\nfields: { a: { type: decimal } }\n');
    const invalid = await cli(['flows', 'publish', bad]);
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /is invalid \(5 problems\):/);
    assert.match(invalid.stderr, /- name: must be lower-case letters/);
    assert.match(invalid.stderr, /- target\.table: must be "table" or "schema\.table"/);
    assert.match(invalid.stderr, /- target\.key: write: upsert needs a key/);
    assert.match(invalid.stderr, /- fields\.a\.type: /);
    assert.match(invalid.stderr, /- fields\.a: needs "from" \(a source column\) or "expr"/);
    assert.doesNotMatch(invalid.stderr, /at .*\.js:\d+/, 'no stack trace for a user mistake');
  });

  it('publishes, lists and shows flow versions; identical content keeps the version', async () => {
    const first = await cli(['flows', 'publish', 'flows/movies.yaml', '--json']);
    assert.equal(first.code, 0);
    assert.deepEqual(JSON.parse(first.stdout), { flow_version: 'movies:v1', created: false });
    const list = await cli(['flows', 'list', '--json']);
    assert.deepEqual(JSON.parse(list.stdout).map((v: { flow_version: string }) => v.flow_version), ['movies:v1']);
    const show = await cli(['flows', 'show', 'movies:v1']);
    assert.match(show.stdout, /^# movies:v1 {2}sha256:[0-9a-f]{64}/);
    assert.match(show.stdout, /profit_usd: {3}\{ expr: '"Worldwide Gross" - "Production Budget"', type: int64 \}/);
    const unknown = await cli(['flows', 'show', 'movies:v7']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown flow version "movies:v7"; known versions of "movies": movies:v1/);
  });

  it('refuses a numeric option that is not a number with exit 2, naming the option', async () => {
    const result = await cli(['run', 'movies:v1', '--source', 'data/movies.json', '--wait', '--timeout', 'abc']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^error: option '--timeout <seconds>' argument 'abc' is invalid\. expected a number of seconds above 0\n/);
    assert.equal(result.stdout, '');
    const limit = await cli(['runs', 'list', '--limit', '0']);
    assert.equal(limit.code, 2);
    assert.match(limit.stderr, /^error: option '--limit <n>' argument '0' is invalid\. expected a whole number, at least 1\n/);
  });
});
