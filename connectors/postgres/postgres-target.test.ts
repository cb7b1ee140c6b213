/**
 * Unit tests of the Postgres target's DDL helpers: qualified names and CREATE TABLE statements.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateFlowSpec } from '../../flows/flow-spec';
import { qualifiedName, rejectsTableDdl, targetTableDdl } from './postgres-target';

const allTypes = (target: Record<string, unknown>) =>
  validateFlowSpec({
    name: 'all_types',
    source: { connector: 'files' },
    target: { connector: 'warehouse', ...target },
    fields: {
      id: { from: 'id', type: 'int32', required: true },
      day: { from: 'd', type: 'date', required: true },
      big: { from: 'b', type: 'int64' },
      ok: { from: 'o', type: 'bool' },
      ts: { from: 't', type: 'datetime' },
      doc: { from: 'j', type: 'json' },
      x: { from: 'x', type: 'float64' },
      s: { expr: 'upper(s)', type: 'string' },
    },
  });

describe('qualifiedName', () => {
  it('defaults the schema to public and quotes both parts', () => {
    assert.deepEqual(qualifiedName('movies'), { schema: 'public', name: 'movies', sql: '"public"."movies"' });
  });

  it('splits schema.table', () => {
    assert.deepEqual(qualifiedName('raw.movies'), { schema: 'raw', name: 'movies', sql: '"raw"."movies"' });
    assert.deepEqual(qualifiedName('Raw.Movies'), { schema: 'Raw', name: 'Movies', sql: '"Raw"."Movies"' });
  });
});

describe('targetTableDdl', () => {
  it('creates one column per field in spec order, with its Postgres type and NOT NULL for required fields', () => {
    assert.equal(
      targetTableDdl(allTypes({ table: 'stage.things' })),
      [
        'CREATE TABLE IF NOT EXISTS "stage"."things" (',
        '  "id" integer NOT NULL,',
        '  "day" date NOT NULL,',
        '  "big" bigint,',
        '  "ok" boolean,',
        '  "ts" timestamp,',
        '  "doc" jsonb,',
        '  "x" double precision,',
        '  "s" text,',
        '  _sluice_run_id text,',
        '  _sluice_source_row bigint',
        ')',
      ].join('\n'),
    );
  });

  it('leaves the lineage columns out with target.lineage: false', () => {
    const ddl = targetTableDdl(allTypes({ table: 'things', lineage: false }));
    assert.deepEqual(ddl.split('\n').slice(-2), ['  "s" text', ')']);
  });

  it('adds a UNIQUE constraint on the key for upsert', () => {
    const ddl = targetTableDdl(allTypes({ table: 'things', write: 'upsert', key: ['id', 'day'] }));
    assert.equal(ddl.split('\n')[0], 'CREATE TABLE IF NOT EXISTS "public"."things" (');
    assert.deepEqual(ddl.split('\n').slice(-3), ['  _sluice_source_row bigint,', '  UNIQUE ("id", "day")', ')']);
  });

  it('adds no constraint for a key with append or replace', () => {
    for (const write of ['append', 'replace']) {
      const ddl = targetTableDdl(allTypes({ table: 'things', write, key: ['id'] }));
      assert.equal(ddl.includes('UNIQUE'), false, write);
      assert.deepEqual(ddl.split('\n').slice(-2), ['  _sluice_source_row bigint', ')']);
    }
  });
});

describe('rejectsTableDdl', () => {
  it('creates the rejects table, by default <table>_rejects in the target\'s schema', () => {
    assert.equal(
      rejectsTableDdl(allTypes({ table: 'stage.things' })),
      `CREATE TABLE IF NOT EXISTS "stage"."things_rejects" (
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
)`,
    );
    assert.equal(rejectsTableDdl(allTypes({ table: 'things', rejects: { table: 'audit.bad_things' } })).split('\n')[0], 'CREATE TABLE IF NOT EXISTS "audit"."bad_things" (');
  });
});
