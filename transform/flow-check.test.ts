/**
 * Unit tests of the flow check: every expr, check and checks[].sql compiled with Polars (through the
 * transform) before a flow is published; the exact messages a user reads.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import pl from 'nodejs-polars';
import { TransformError } from '../common/errors';
import { parseFlowSpec } from '../flows/flow-spec';
import { assertFlowCanRun, checkFlow } from './flow-check';

const MOVIES_YAML = path.resolve(__dirname, '..', '..', 'flows', 'movies.yaml');

const flow = (fields: string, extra = '', format = 'json') =>
  parseFlowSpec(`name: cars\nsource: { connector: files, format: ${format} }\ntarget: { connector: warehouse, table: cars }\nfields:\n${fields}${extra}`, 'flows/cars.yaml');

describe('checkFlow', () => {
  it('passes flows/movies.yaml without a sample and against the real movies.json schema', () => {
    const spec = parseFlowSpec(readFileSync(MOVIES_YAML, 'utf8'), 'flows/movies.yaml');
    assert.deepEqual(checkFlow(spec), { problems: [], warnings: [] });
    const schema = { Title: pl.Utf8, 'Release Date': pl.Utf8, 'Production Budget': pl.Int64, 'Worldwide Gross': pl.Int64, 'MPAA Rating': pl.Utf8, 'IMDB Rating': pl.Float64 };
    assert.deepEqual(checkFlow(spec, { sourceSchema: schema }), { problems: [], warnings: [] });
  });

  it('refuses an expr that does not parse, naming the field, the SQL and what is wrong', () => {
    const spec = flow(`  name: { from: Name, type: string }\n  hp: { expr: '"Horsepower" * ', type: float64 }\n`);
    const { problems } = checkFlow(spec);
    assert.equal(problems.length, 1);
    assert.equal(
      problems[0]!.text,
      'fields.hp.expr ("Horsepower" * ): the SQL ends too early: Polars expected an expression after "*"; complete the expression or remove what dangles at its end',
    );
    assert.equal(problems[0]!.field, 'hp');
    assert.equal(problems[0]!.polars, 'sql parser error: Expected: an expression, found: ) at Line: 1, Column: 24');
  });

  it('refuses a field check that is not a boolean condition, and one that does not parse', () => {
    const spec = flow(`  name: { from: Name, type: string, check: "LENGTH(name) >" }\n  hp: { from: Horsepower, type: float64, check: "hp * 2" }\n`);
    assert.deepEqual(
      checkFlow(spec).problems.map((p) => p.text),
      [
        'fields.name.check (LENGTH(name) >): the SQL ends too early: Polars expected an expression after ">"; complete the expression or remove what dangles at its end',
        'fields.hp.check (hp * 2): a check must be a boolean condition (true keeps the row), but this one gives Float64; compare it, e.g. "hp > 0"',
      ],
    );
  });

  it('refuses checks[].sql naming an unknown column or comparing the wrong types, and an unknown function', () => {
    const spec = flow(
      `  name: { from: Name, type: string }\n  hp: { from: Horsepower, type: float64 }\n  kw: { expr: 'WATTS("Horsepower")', type: float64 }\n`,
      `checks:\n  - { name: positive, sql: "horsepower > 0" }\n  - { name: typed, sql: "name > 3" }\n`,
    );
    assert.deepEqual(
      checkFlow(spec).problems.map((p) => p.text),
      [
        'fields.kw.expr (WATTS("Horsepower")): WATTS is not a Polars SQL function; use one listed at https://docs.pola.rs/api/python/stable/reference/sql/functions/index.html',
        'checks[0].sql (horsepower > 0): reads column "horsepower", which is not a field of this flow; checks see the target fields by their names: name, hp, kw',
        'checks[1].sql (name > 3): the types do not fit: cannot compare string with numeric type (i32); the columns it reads are "name" string. Compare values of the field\'s type, or CAST(… AS …)',
      ],
    );
  });

  it('with a sample: refuses a from or expr column the sample does not have, with Polars\' suggestion', () => {
    const spec = flow(`  name: { from: name, type: string }\n  hp: { expr: '"horsepower" * 2', type: float64 }\n`);
    const { problems } = checkFlow(spec, { sourceSchema: { Name: pl.Utf8, Horsepower: pl.Float64 }, sampleName: 'data/cars.json' });
    assert.deepEqual(
      problems.map((p) => p.text),
      [
        'fields.name.from (name): data/cars.json has no column "name"; its columns are "Name", "Horsepower". Fix "from" (case and spaces count)',
        'fields.hp.expr ("horsepower" * 2): reads column "horsepower", which data/cars.json does not have; did you mean "Horsepower"? its columns are "Name", "Horsepower". Quote source column names exactly ("Release Date")',
      ],
    );
  });

  it('without a sample, an expr may read undeclared columns; its type errors are warnings, except for CSV (all text)', () => {
    const json = flow(`  name: { from: Name, type: string }\n  loud: { expr: 'UPPER("Origin")', type: string }\n  sum: { expr: '"Name" - "Name"', type: float64 }\n`);
    const result = checkFlow(json);
    assert.deepEqual(result.problems, []);
    assert.deepEqual(result.warnings.map((p) => p.path), ['fields.loud.expr', 'fields.sum.expr']);
    assert.match(result.warnings[0]!.message, /^could not check the types without a sample \(Polars: invalid series dtype: expected `String`, got `null`/);

    const csv = flow(`  hp: { from: Horsepower, type: float64 }\n  kw: { expr: '"Horsepower" * 0.7457', type: float64 }\n`, '', 'csv');
    assert.deepEqual(
      checkFlow(csv).problems.map((p) => p.text),
      [
        'fields.kw.expr ("Horsepower" * 0.7457): the types do not fit: arithmetic on dtypes str and dyn float is not allowed (lhs: column \'Horsepower\', rhs: expression `dyn float: 0.7457`); try an explicit cast first; the columns it reads are "Horsepower" String (a CSV source is read as text). Convert with CAST(… AS …) or pick other columns',
      ],
    );
  });

  it('assertFlowCanRun throws INVALID_SQL listing every problem', () => {
    const spec = flow(`  hp: { expr: '"Horsepower" * ', type: float64, check: "hp >" }\n`);
    assert.throws(
      () => assertFlowCanRun(spec, 'flows/cars.yaml'),
      (error: unknown) => {
        assert.ok(error instanceof TransformError);
        assert.equal(error.code, 'INVALID_SQL');
        assert.equal(
          error.message,
          'flows/cars.yaml cannot run (2 problems):\n' +
            '  - fields.hp.expr ("Horsepower" * ): the SQL ends too early: Polars expected an expression after "*"; complete the expression or remove what dangles at its end\n' +
            '  - fields.hp.check (hp >): the SQL ends too early: Polars expected an expression after ">"; complete the expression or remove what dangles at its end',
        );
        assert.equal((error.details?.problems as unknown[]).length, 2);
        return true;
      },
    );
  });
});

describe('checkFlow with the sample rows', () => {
  it('finds an expr that fails on the sample\'s values (a strict CAST), and says to use TRY_CAST', () => {
    const spec = flow(`  amount: { expr: 'CAST("amount" AS DOUBLE)', type: float64 }\n`, '', 'csv');
    assert.deepEqual(checkFlow(spec).problems, [], 'the schema alone cannot tell');
    const sample = pl.DataFrame({ amount: ['1.5', 'abc', '3'] });
    assert.deepEqual(
      checkFlow(spec, { sample, sampleName: 'data/orders.csv' }).problems.map((p) => p.text),
      [
        'fields.amount.expr (CAST("amount" AS DOUBLE)): fails on values of data/orders.csv: conversion from `str` to `f64` failed in column \'amount\' for 1 out of 3 values: ["abc"]. Use TRY_CAST(… AS …), which gives null for a value that does not convert (a type or required rule then rejects the row)',
      ],
    );
    const fixed = flow(`  amount: { expr: 'TRY_CAST("amount" AS DOUBLE)', type: float64 }\n`, '', 'csv');
    assert.deepEqual(checkFlow(fixed, { sample, sampleName: 'data/orders.csv' }), { problems: [], warnings: [] });
  });
});
