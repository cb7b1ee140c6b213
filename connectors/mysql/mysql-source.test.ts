/**
 * Unit tests of the mysql connector's pure parts: `:source_path` binding, exact text of values, target DDL.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SourceError } from '../../common/errors';
import { validateFlowSpec } from '../../flows/flow-spec';
import { bindMysqlSourcePath, castToText } from './mysql-source';
import { bindMysqlLinkParameters, mysqlTargetTableDdl } from './mysql-target';

const field = (type: string) => ({ type, string: () => null, buffer: () => null });

describe('bindMysqlSourcePath', () => {
  it('replaces every :source_path with ? and counts them; leaves ::source_path alone', () => {
    assert.deepEqual(bindMysqlSourcePath('SELECT * FROM t WHERE a = :source_path OR b = :source_path'), { sql: 'SELECT * FROM t WHERE a = ? OR b = ?', count: 2 });
    assert.deepEqual(bindMysqlSourcePath('SELECT x::source_path FROM t WHERE b = :source_path'), { sql: 'SELECT x::source_path FROM t WHERE b = ?', count: 1 });
  });

  it('refuses a query without the placeholder with SourceError INVALID_QUERY', () => {
    assert.throws(() => bindMysqlSourcePath('SELECT * FROM t'), (error: unknown) => error instanceof SourceError && error.code === 'INVALID_QUERY');
  });
});

describe('castToText', () => {
  it('keeps big numbers as text, floats at single precision, bytes as \\x hex', () => {
    assert.equal(castToText(field('LONGLONG'), () => '9007199254740993'), '9007199254740993');
    assert.equal(castToText(field('FLOAT'), () => Math.fround(1.1)), '1.1');
    assert.equal(castToText(field('DOUBLE'), () => 0.1), '0.1');
    assert.equal(castToText(field('BLOB'), () => Buffer.from([0, 255])), '\\x00ff');
    assert.equal(castToText(field('LONG'), () => null), null);
  });
});

describe('mysql target DDL and link parameters', () => {
  it('maps field types to MySQL columns, a string key to varchar(255)', () => {
    const raw = {
      name: 'things',
      source: { connector: 'files' },
      target: { connector: 'shop', table: 'things', write: 'upsert', key: ['code'] },
      fields: { code: { from: 'c', type: 'string', required: true }, n: { from: 'n', type: 'int64' }, at: { from: 'a', type: 'datetime' }, ok: { from: 'o', type: 'bool' } },
    };
    const spec = validateFlowSpec(raw);
    // Tables Sluice creates carry the lineage columns by default (docs/rejects.md, "Lineage").
    assert.equal(
      mysqlTargetTableDdl(spec),
      'CREATE TABLE IF NOT EXISTS `things` (\n  `code` varchar(255) NOT NULL,\n  `n` bigint,\n  `at` datetime(6),\n  `ok` boolean,\n' +
        '  `_sluice_run_id` varchar(255),\n  `_sluice_source_row` bigint,\n  UNIQUE KEY (`code`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4',
    );
    const withoutLineage = validateFlowSpec({ ...raw, target: { ...raw.target, lineage: false } });
    assert.equal(
      mysqlTargetTableDdl(withoutLineage),
      'CREATE TABLE IF NOT EXISTS `things` (\n  `code` varchar(255) NOT NULL,\n  `n` bigint,\n  `at` datetime(6),\n  `ok` boolean,\n  UNIQUE KEY (`code`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4',
    );
  });

  it('binds link parameters as ?, one value per occurrence', () => {
    assert.deepEqual(bindMysqlLinkParameters('UPDATE t SET a = :run_id WHERE b = :source_path OR c = :run_id', { run_id: 'r', flow_version: 'f:v1', source_path: 's' }), {
      sql: 'UPDATE t SET a = ? WHERE b = ? OR c = ?',
      values: ['r', 's', 'r'],
    });
  });
});
