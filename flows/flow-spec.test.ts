/**
 * Unit tests of the flow spec parser: normalisation of flows/movies.yaml, defaults, every problem
 * reported at once with its path, YAML syntax errors with line and column.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { FlowSpecError } from '../common/errors';
import { parseFlowSpec, validateFlowSpec, type FlowSpec } from './flow-spec';

/** Compiled to dist/flows/, so the project root is two folders up. */
const MOVIES_YAML = path.resolve(__dirname, '..', '..', 'flows', 'movies.yaml');

/** Runs `fn`, asserts it throws a FlowSpecError, and returns it. */
function flowSpecError(fn: () => unknown): FlowSpecError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof FlowSpecError, `expected FlowSpecError, got ${String(error)}`);
    assert.equal(error.name, 'FlowSpecError');
    assert.equal(error.code, 'INVALID_FLOW_SPEC');
    assert.deepEqual(error.details, { issues: error.issues });
    return error;
  }
  assert.fail('expected a FlowSpecError, nothing was thrown');
}

const minimal = `
name: orders
source: { connector: files }
target: { connector: warehouse, table: orders }
fields:
  id: { from: id, type: int64 }
`;

describe('parseFlowSpec', () => {
  it('on_empty: absent or succeed is the default (normalised away, same content); fail is kept; anything else is refused', () => {
    assert.equal(parseFlowSpec(minimal).on_empty, undefined);
    assert.deepEqual(parseFlowSpec(`${minimal}on_empty: succeed\n`), parseFlowSpec(minimal));
    assert.equal(parseFlowSpec(`${minimal}on_empty: fail\n`).on_empty, 'fail');
    const error = flowSpecError(() => parseFlowSpec(`${minimal}on_empty: skip\n`, 'flows/orders.yaml'));
    assert.deepEqual(error.issues, ['on_empty: Invalid option: expected one of "fail"|"succeed"']);
  });

  it('normalises flows/movies.yaml: fields in YAML order, explicit rejects table, defaults filled in', () => {
    const spec = parseFlowSpec(readFileSync(MOVIES_YAML, 'utf8'), 'flows/movies.yaml');
    const expected: FlowSpec = {
      name: 'movies',
      description: 'Movies from vega-datasets, typed and checked, into public.movies',
      source: { connector: 'files', format: 'json' },
      target: {
        connector: 'warehouse',
        table: 'public.movies',
        write: 'append',
        key: ['title', 'release_date'],
        rejects: { table: 'public.movies_rejects' },
      },
      fields: [
        { name: 'title', type: 'string', from: 'Title', required: true },
        { name: 'release_date', type: 'date', from: 'Release Date', required: false, format: '%b %d %Y' },
        { name: 'budget_usd', type: 'int64', from: 'Production Budget', required: false, check: 'budget_usd > 0' },
        { name: 'rating', type: 'string', from: 'MPAA Rating', required: false, in: ['G', 'PG', 'PG-13', 'R', 'NC-17'] },
        { name: 'imdb_rating', type: 'float64', from: 'IMDB Rating', required: false, check: 'imdb_rating BETWEEN 0 AND 10' },
        { name: 'profit_usd', type: 'int64', expr: '"Worldwide Gross" - "Production Budget"', required: false },
      ],
      checks: [{ name: 'budget_known_for_profit', sql: 'profit_usd IS NOT NULL OR budget_usd IS NULL' }],
      dedupe: ['title', 'release_date'],
      max_reject_ratio: 0.5,
    };
    assert.deepEqual(spec, expected);
    assert.deepEqual(
      spec.fields.map((f) => f.name),
      ['title', 'release_date', 'budget_usd', 'rating', 'imdb_rating', 'profit_usd'],
    );
  });

  it('defaults: write append, rejects table <table>_rejects, max_reject_ratio 1, no checks, no key or dedupe', () => {
    const spec = parseFlowSpec(minimal);
    assert.deepEqual(spec, {
      name: 'orders',
      source: { connector: 'files' },
      target: { connector: 'warehouse', table: 'orders', write: 'append', rejects: { table: 'orders_rejects' } },
      fields: [{ name: 'id', type: 'int64', from: 'id', required: false }],
      checks: [],
      max_reject_ratio: 1,
    });
    assert.equal('key' in spec.target, false);
    assert.equal('dedupe' in spec, false);
    assert.equal('description' in spec, false);
  });

  it('keeps the schema of a schema-qualified table in the default rejects table', () => {
    const spec = parseFlowSpec(minimal.replace('table: orders', 'table: raw.orders'));
    assert.deepEqual(spec.target.rejects, { table: 'raw.orders_rejects' });
  });

  it('reports every problem at once, each with its path', () => {
    const yaml = `
name: Bad Name
source: { connector: files }
target: { connector: warehouse, table: t, write: upsert }
fields:
  id:     { from: id, type: int64, format: "%Y" }
  amount: { from: amount, expr: "x + 1", type: float64 }
checks:
  - { name: positive, sql: "amount > 0" }
  - { name: positive, sql: "amount > 1" }
dedupe: [id, nope]
max_reject_ratio: 2
`;
    const error = flowSpecError(() => parseFlowSpec(yaml, 'flows/bad.yaml'));
    const issues = [
      'name: must be lower-case letters, digits, "-" or "_", starting with a letter (max 63)',
      'target.key: write: upsert needs a key (the columns that identify a row)',
      'fields.id.format: "format" applies only to date and datetime fields, not int64',
      'fields.amount: give either "from" or "expr", not both',
      'max_reject_ratio: Too big: expected number to be <=1',
      'dedupe[1]: "nope" is not a field of this flow',
      'checks[1].name: duplicate check name "positive"',
    ];
    assert.deepEqual(error.issues, issues);
    assert.equal(error.message, ['flows/bad.yaml is invalid (7 problems):', ...issues.map((i) => `  - ${i}`)].join('\n'));
  });

  it('reports an unknown type with its allowed values, next to other problems', () => {
    const yaml = `
name: Bad Name
source: { connector: files }
target: { connector: warehouse, table: t, write: upsert }
fields:
  id: { from: id, type: integer }
`;
    const error = flowSpecError(() => parseFlowSpec(yaml, 'flows/types.yaml'));
    assert.deepEqual(error.issues, [
      'name: must be lower-case letters, digits, "-" or "_", starting with a letter (max 63)',
      'target.key: write: upsert needs a key (the columns that identify a row)',
      'fields.id.type: Invalid option: expected one of "string"|"int32"|"int64"|"float64"|"bool"|"date"|"datetime"|"json"',
    ]);
    assert.equal(error.message.split('\n')[0], 'flows/types.yaml is invalid (3 problems):');
  });

  it('refuses a field with both "from" and "expr"', () => {
    const yaml = minimal.replace('id: { from: id, type: int64 }', 'id: { from: id, expr: "id + 1", type: int64 }');
    const error = flowSpecError(() => parseFlowSpec(yaml, 'f.yaml'));
    assert.deepEqual(error.issues, ['fields.id: give either "from" or "expr", not both']);
    assert.equal(error.message, 'f.yaml is invalid (1 problem):\n  - fields.id: give either "from" or "expr", not both');
  });

  it('refuses a field with neither "from" nor "expr"', () => {
    const yaml = minimal.replace('id: { from: id, type: int64 }', 'id: { type: int64 }');
    assert.deepEqual(flowSpecError(() => parseFlowSpec(yaml)).issues, [
      'fields.id: needs "from" (a source column) or "expr" (a Polars SQL expression)',
    ]);
  });

  it('refuses "format" on an int field but accepts it on date and datetime fields', () => {
    const yaml = minimal.replace('id: { from: id, type: int64 }', 'id: { from: id, type: int32, format: "%d" }');
    assert.deepEqual(flowSpecError(() => parseFlowSpec(yaml)).issues, [
      'fields.id.format: "format" applies only to date and datetime fields, not int32',
    ]);
    const ok = parseFlowSpec(
      minimal.replace('id: { from: id, type: int64 }', 'd: { from: d, type: date, format: "%d/%m/%Y" }\n  t: { from: t, type: datetime, format: "%d/%m/%Y %H:%M" }'),
    );
    assert.deepEqual(ok.fields, [
      { name: 'd', type: 'date', from: 'd', required: false, format: '%d/%m/%Y' },
      { name: 't', type: 'datetime', from: 't', required: false, format: '%d/%m/%Y %H:%M' },
    ]);
  });

  it('refuses a target key naming an unknown field', () => {
    const yaml = minimal.replace('table: orders }', 'table: orders, write: upsert, key: [id, code] }');
    assert.deepEqual(flowSpecError(() => parseFlowSpec(yaml)).issues, ['target.key[1]: "code" is not a field of this flow']);
  });

  it('refuses unknown keys and field names that are not plain SQL identifiers', () => {
    const yaml = `
name: orders
source: { connector: files }
target: { connector: warehouse, table: orders }
colour: red
fields:
  2nd: { from: id, type: int64 }
`;
    const issues = flowSpecError(() => parseFlowSpec(yaml)).issues;
    assert.equal(issues.length, 2);
    assert.equal(issues[0], '(root): Unrecognized key: "colour"');
    assert.match(issues[1]!, /^fields\.2nd: "2nd" is not a valid field name\. .*plain SQL identifier/);
  });

  it('refuses an empty fields map and an empty document', () => {
    assert.deepEqual(flowSpecError(() => parseFlowSpec(minimal.replace(/fields:\n.*\n/, 'fields: {}\n'))).issues, ['fields: at least one field is needed']);
    assert.deepEqual(flowSpecError(() => parseFlowSpec('')).issues, ['(root): Invalid input: expected object, received null']);
  });

  it('names line and column of a YAML syntax error', () => {
    const error = flowSpecError(() => parseFlowSpec('name: x\nsource: { connector: files\ntarget: 1\n', 'flows/syntax.yaml'));
    assert.deepEqual(error.issues, [
      'line 3, column 1: Flow map in block collection must be sufficiently indented and end with a }',
    ]);
    assert.equal(error.message.split('\n')[0], 'flows/syntax.yaml is not valid YAML:');
  });

  it('refuses a duplicate YAML key, naming its line and column', () => {
    const error = flowSpecError(() => parseFlowSpec('name: x\nname: y\n', 'flows/dup.yaml'));
    assert.deepEqual(error.issues, ['line 2, column 1: Map keys must be unique']);
  });
});

describe('validateFlowSpec', () => {
  it('uses "flow spec" as the default origin', () => {
    const error = flowSpecError(() => validateFlowSpec({}));
    assert.equal(error.message.split('\n')[0], 'flow spec is invalid (4 problems):');
    assert.deepEqual(error.issues, [
      'name: Invalid input: expected string, received undefined',
      'source: Invalid input: expected object, received undefined',
      'target: Invalid input: expected object, received undefined',
      'fields: Invalid input: expected record, received undefined',
    ]);
  });
});

describe('every problem at once, even with an invalid nested value', () => {
  it('reports cross-field problems together with a bad field type', () => {
    const error = (() => {
      try {
        parseFlowSpec('name: Bad Name\nsource: { connector: files }\ntarget: { connector: warehouse, table: t, write: upsert }\nfields:\n  id: { type: integer }\ndedupe: [id, nope]\n');
      } catch (caught) {
        return caught as FlowSpecError;
      }
      throw new Error('expected a FlowSpecError');
    })();
    assert.ok(error instanceof FlowSpecError);
    assert.deepEqual(error.issues, [
      'name: must be lower-case letters, digits, "-" or "_", starting with a letter (max 63)',
      'target.key: write: upsert needs a key (the columns that identify a row)',
      'fields.id.type: Invalid option: expected one of "string"|"int32"|"int64"|"float64"|"bool"|"date"|"datetime"|"json"',
      'dedupe[1]: "nope" is not a field of this flow',
      'fields.id: needs "from" (a source column) or "expr" (a Polars SQL expression)',
    ]);
  });
});

describe('custom maps and link steps', () => {
  it('keeps transform (normalised) and target.link in the normalised spec', () => {
    const spec = parseFlowSpec(
      minimal.replace('table: orders }', 'table: orders, link: ["UPDATE orders SET id = id WHERE false"] }') + 'transform: ./maps/../maps/orders.ts\n',
    );
    assert.equal(spec.transform, 'maps/orders.ts');
    assert.deepEqual(spec.target.link, ['UPDATE orders SET id = id WHERE false']);
    assert.equal('map' in spec, false, 'the map hash is recorded by publishing, which reads the file');
  });

  it('refuses transform paths outside the project dir or not .ts/.js, and link steps on an object-store target, all at once', () => {
    const yaml = `
name: orders
source: { connector: files }
target: { connector: lake, path: "s3://exports/orders.csv", link: ["UPDATE x SET y = 1"] }
fields:
  id: { from: id, type: int64 }
transform: ../shared/orders.ts
`;
    const error = flowSpecError(() => parseFlowSpec(yaml, 'flows/orders.yaml'));
    assert.deepEqual(error.issues, [
      'target.link: link steps run SQL in the target database; an object-store target ("path") cannot have them',
      'transform: must be a .ts or .js file path relative to the project dir, inside it (e.g. maps/accounts.ts)',
    ]);
    for (const bad of ['/etc/maps/a.ts', 'maps/a.py', 'maps/../../a.ts', 'maps\\a.ts', 'C:/maps/a.ts']) {
      const problem = flowSpecError(() => parseFlowSpec(`${minimal}transform: "${bad.replace(/\\/g, '\\\\')}"\n`));
      assert.deepEqual(problem.issues, ['transform: must be a .ts or .js file path relative to the project dir, inside it (e.g. maps/accounts.ts)'], bad);
    }
    const empty = flowSpecError(() => parseFlowSpec(minimal.replace('table: orders }', 'table: orders, link: ["  "] }')));
    assert.deepEqual(empty.issues, ['target.link[0]: must be a SQL statement']);
  });
});

describe('what a PostgreSQL target can hold', () => {
  const flow = (fields: Record<string, unknown>, target: Record<string, unknown> = { connector: 'warehouse', table: 'public.t' }) => ({
    name: 'wide',
    source: { connector: 'files' },
    target,
    fields,
  });
  const manyFields = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${i}`, { from: `c${i}`, type: 'string' }]));

  it('accepts 1,600 fields and refuses 1,601, naming the limit', () => {
    assert.equal(validateFlowSpec(flow(manyFields(1600))).fields.length, 1600);
    const error = flowSpecError(() => validateFlowSpec(flow(manyFields(1601)), 'flows/wide.yaml'));
    assert.deepEqual(error.issues, ['fields: 1601 fields, but a PostgreSQL table holds at most 1600 columns; split the flow into flows of at most 1600 fields']);
  });

  it('refuses field and table names longer than 63 bytes, one issue per name, and a default rejects table that would be', () => {
    const long = 'x'.repeat(64);
    const error = flowSpecError(() =>
      validateFlowSpec(flow({ [long]: { from: 'a', type: 'string' }, ['y'.repeat(63)]: { from: 'b', type: 'string' } }, { connector: 'warehouse', table: `${long}.${'t'.repeat(60)}` })),
    );
    assert.deepEqual(error.issues, [
      `fields.${long}: the name is 64 bytes long; PostgreSQL names are at most 63 bytes (longer ones are cut short): use a shorter name`,
      `target.table: "${long}" is 64 bytes long; PostgreSQL names are at most 63 bytes (longer ones are cut short): use a shorter name`,
      `target.table: the rejects table "${'t'.repeat(60)}_rejects" would be 68 bytes long; PostgreSQL names are at most 63 bytes (longer ones are cut short): use a shorter table name or set target.rejects.table`,
    ]);
    const rejects = flowSpecError(() => validateFlowSpec(flow({ id: { from: 'a', type: 'string' } }, { connector: 'warehouse', table: 't', rejects: { table: `r${long}` } })));
    assert.deepEqual(rejects.issues, [
      `target.rejects.table: "r${long}" is 65 bytes long; PostgreSQL names are at most 63 bytes (longer ones are cut short): use a shorter name`,
    ]);
  });

  it('does not apply PostgreSQL limits to an object-store target', () => {
    const spec = validateFlowSpec(flow(manyFields(1601), { connector: 'lake', path: 's3://bucket/out.parquet' }));
    assert.equal(spec.fields.length, 1601);
  });
});

describe('date and datetime formats, checked at publish by Polars', () => {
  const flow = (fields: Record<string, unknown>) => ({ name: 'dates', source: { connector: 'files' }, target: { connector: 'warehouse', table: 't' }, fields });

  it('accepts the formats chrono knows', () => {
    const spec = validateFlowSpec(
      flow({
        a: { from: 'a', type: 'date', format: '%d/%m/%Y' },
        b: { from: 'b', type: 'date', format: '%b %d %Y' },
        c: { from: 'c', type: 'datetime', format: '%Y-%m-%dT%H:%M:%S%.f' },
        d: { from: 'd', type: 'datetime', format: '%-d.%-m.%Y %I:%M %p (100%%)' },
      }),
    );
    assert.deepEqual(spec.fields.map((f) => f.format), ['%d/%m/%Y', '%b %d %Y', '%Y-%m-%dT%H:%M:%S%.f', '%-d.%-m.%Y %I:%M %p (100%%)']);
  });

  it('refuses an unknown specifier, a lone "%" and a zone offset, naming the field and the specifier', () => {
    const error = flowSpecError(() =>
      validateFlowSpec(
        flow({
          day: { from: 'day', type: 'date', format: '%Y-%m-%Q' },
          at: { from: 'at', type: 'datetime', format: '%Y-%m-%d %' },
          zoned: { from: 'zoned', type: 'datetime', format: '%Y-%m-%dT%H:%M:%S%z' },
        }),
        'flows/dates.yaml',
      ),
    );
    assert.deepEqual(error.issues, [
      'fields.day.format: "%Y-%m-%Q" has "%Q", which is not a strftime specifier; use chrono\'s specifiers, e.g. %Y-%m-%d, %d/%m/%Y, %b %d %Y, %Y-%m-%dT%H:%M:%S',
      'fields.at.format: "%Y-%m-%d %" ends with a lone "%"; write "%%" for a literal percent sign',
      'fields.zoned.format: "%Y-%m-%dT%H:%M:%S%z" has "%z", a zone offset, which Sluice\'s dates and datetimes (without a zone) cannot hold',
    ]);
  });
});

describe('field names', () => {
  it('explains that a field name must be a SQL identifier, with the rule and a valid name', () => {
    const error = flowSpecError(() =>
      parseFlowSpec(`name: cars\nsource: { connector: files }\ntarget: { connector: warehouse, table: cars }\nfields:\n  c-d: { from: x, type: string }\n  2nd: { type: string }\n`, 'flows/cars.yaml'),
    );
    assert.deepEqual(error.issues, [
      'fields.c-d: "c-d" is not a valid field name. Field names are the target\'s column names and are used unquoted in SQL checks, so each must be a plain SQL identifier: letters, digits and _, not starting with a digit (^[A-Za-z_][A-Za-z0-9_]*$), at most 63 bytes. Rename the field, e.g. c_d ("from" names the source column and may hold any text)',
      'fields.2nd: "2nd" is not a valid field name. Field names are the target\'s column names and are used unquoted in SQL checks, so each must be a plain SQL identifier: letters, digits and _, not starting with a digit (^[A-Za-z_][A-Za-z0-9_]*$), at most 63 bytes. Rename the field and read the column with "from", e.g. c_2nd: { from: "2nd", … }',
      'fields.2nd: needs "from" (a source column) or "expr" (a Polars SQL expression)',
    ]);
    assert.doesNotMatch(error.message, /Invalid key in record/);
  });
});
