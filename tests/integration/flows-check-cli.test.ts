/**
 * Integration: flows are checked before they are versions. The built `sluice` CLI as a child process
 * against a real metadata database (a fresh one for this file): `flows publish` of a flow whose expr
 * does not parse exits 2 and creates no version (so a typo no longer burns one); `flows init` drafts a
 * flow from a sample that `flows check --source` passes; `flows preview` writes nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, runCli, type CliResult, type TestDatabase } from '../helpers/services';

describe('sluice flows check / publish / init / preview', () => {
  let db: TestDatabase;
  let dir: string;
  const cli = (args: string[]): Promise<CliResult> => runCli(args, { cwd: dir, env: { ...process.env, DATABASE_URL: db.url, SLUICE_STATE_DIR: path.join(dir, '.state') } });
  const versions = async () => (await db.pool.query<{ id: string }>(`SELECT flow || ':v' || version AS id FROM sluice.flow_versions ORDER BY flow, version`)).rows.map((r) => r.id);

  const flow = (expr: string) => `name: bad2
source: { connector: files, format: json }
target: { connector: warehouse, table: public.cars }
fields:
  name: { from: Name, type: string, required: true }
  hp:   { expr: '${expr}', type: float64 }
`;

  before(async () => {
    db = await createTestDatabase();
    dir = mkdtempSync(path.join(tmpdir(), 'sluice-flows-cli-'));
    writeFileSync(
      path.join(dir, 'cars.json'),
      JSON.stringify([{ Name: 'a', Horsepower: 130, Origin: 'USA' }, { Name: 'b', Horsepower: null, Origin: 'Japan' }, { Name: null, Horsepower: 90, Origin: 'USA' }]),
    );
  });

  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await db?.drop();
  });

  it('flows publish of a flow with a broken expr exits 2, names the field, the SQL and the fix, and creates no version', { timeout: 60_000 }, async () => {
    writeFileSync(path.join(dir, 'bad2.yaml'), flow('"Horsepower" * '));
    const refused = await cli(['flows', 'publish', 'bad2.yaml']);
    assert.equal(refused.code, 2, refused.stderr);
    assert.equal(refused.stdout, '');
    assert.equal(
      refused.stderr,
      'error: bad2.yaml cannot run (1 problem):\n' +
        '  - fields.hp.expr ("Horsepower" * ): the SQL ends too early: Polars expected an expression after "*"; complete the expression or remove what dangles at its end\n',
    );
    assert.deepEqual(await versions(), [], 'no version was created');

    // `run <file>` publishes first: refused the same way, before any run starts (no Temporal here).
    const run = await cli(['run', 'bad2.yaml', '--source', 'cars.json', '--json']);
    assert.equal(run.code, 2);
    assert.equal(JSON.parse(run.stdout).error.code, 'INVALID_SQL');
    assert.deepEqual(await versions(), []);

    // Fixed, it publishes as v1: the typo did not cost a version.
    writeFileSync(path.join(dir, 'bad2.yaml'), flow('"Horsepower" * 2'));
    const published = await cli(['flows', 'publish', 'bad2.yaml', '--json']);
    assert.equal(published.code, 0, published.stderr);
    assert.deepEqual(JSON.parse(published.stdout), { flow_version: 'bad2:v1', created: true });
    assert.deepEqual(await versions(), ['bad2:v1']);
  });

  it('flows publish refuses a field name that is not an identifier with the rule', async () => {
    writeFileSync(path.join(dir, 'names.yaml'), 'name: names\nsource: { connector: files }\ntarget: { connector: warehouse, table: t }\nfields:\n  c-d: { from: x, type: string }\n');
    const refused = await cli(['flows', 'publish', 'names.yaml']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /- fields\.c-d: "c-d" is not a valid field name\. .*plain SQL identifier: letters, digits and _, not starting with a digit \(\^\[A-Za-z_\]\[A-Za-z0-9_\]\*\$\), at most 63 bytes\. Rename the field, e\.g\. c_d/);
    assert.deepEqual(await versions(), ['bad2:v1']);
  });

  it('flows check: exit 2 with JSON problems, exit 0 against the sample', async () => {
    writeFileSync(path.join(dir, 'check.yaml'), flow('"Horsepwer" * 2'));
    const bad = await cli(['flows', 'check', 'check.yaml', '--source', 'cars.json', '--json']);
    assert.equal(bad.code, 2);
    const out = JSON.parse(bad.stdout);
    assert.equal(out.ok, false);
    assert.deepEqual(out.problems.map((p: { path: string; sql: string }) => [p.path, p.sql]), [['fields.hp.expr', '"Horsepwer" * 2']]);
    assert.match(out.problems[0].message, /^reads column "Horsepwer", which cars\.json does not have; did you mean "Horsepower"\?/);
    const good = await cli(['flows', 'check', 'bad2.yaml', '--source', 'cars.json']);
    assert.equal(good.code, 0, good.stderr);
    assert.equal(good.stdout, 'ok: bad2.yaml can run (1 expr and 0 checks compiled with Polars against the columns and rows of cars.json)\n');
  });

  it('flows preview prints the counts, the mapped rows and each reject with its row, field, rule and message', async () => {
    const preview = await cli(['flows', 'preview', 'bad2.yaml', '--source', 'cars.json']);
    assert.equal(preview.code, 0, preview.stderr);
    assert.equal(
      preview.stdout,
      [
        'bad2.yaml on cars.json: read 3, mapped 2, rejected 1 (name:required 1)',
        '',
        'mapped rows (first 2 of 2):',
        'row  name  hp',
        '1    a     260',
        '2    b',
        '',
        'rejects (first 1 of 1):',
        '  row 3  name  required: name is required but missing',
        '    record: {"Name":null,"Horsepower":90,"Origin":"USA"}',
        '',
        'nothing was written (no staging, no target, no run)',
        '',
      ].join('\n'),
    );
  });

  it('flows init drafts a flow that flows check passes against the same sample; flows preview writes nothing', { timeout: 60_000 }, async () => {
    const movies = path.join(dir, 'movies.json');
    writeFileSync(movies, readFileSync(path.resolve(__dirname, '..', '..', '..', 'node_modules', 'vega-datasets', 'data', 'movies.json')));
    const init = await cli(['flows', 'init', '--from', 'movies.json', '--out', 'movies.yaml']);
    assert.equal(init.code, 0, init.stderr);
    assert.match(init.stderr, /^wrote movies\.yaml \(16 fields from 3201 rows\)/);
    const draft = readFileSync(path.join(dir, 'movies.yaml'), 'utf8');
    assert.match(draft, /^ {2}mpaa_rating: \{ from: MPAA Rating, type: string, in: \[ G, NC-17, Not Rated, Open, PG, PG-13, R \] \}$/m);
    assert.match(draft, /^ {2}title: \{ from: Title, type: string \}$/m, 'Title has nulls in movies.json: not required');
    const again = await cli(['flows', 'init', '--from', 'movies.json', '--out', 'movies.yaml']);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /^error: movies\.yaml already exists/);

    const check = await cli(['flows', 'check', 'movies.yaml', '--source', 'movies.json']);
    assert.equal(check.code, 0, check.stderr);

    const files = readdirSync(dir).sort();
    const preview = await cli(['flows', 'preview', 'movies.yaml', '--source', 'movies.json', '--rows', '3', '--json']);
    assert.equal(preview.code, 0, preview.stderr);
    const out = JSON.parse(preview.stdout);
    assert.equal(out.rows_read, 3201);
    assert.equal(out.rows_mapped + out.rows_rejected, 3201);
    assert.equal(out.rows_rejected, 0, 'the draft maps its own sample');
    assert.equal(out.mapped.length, 3);
    assert.equal(out.mapped[0].title, 'The Land Girls');
    assert.equal(out.written, false);
    assert.deepEqual(readdirSync(dir).sort(), files, 'preview wrote nothing');
    assert.deepEqual(await versions(), ['bad2:v1'], 'check, init and preview publish nothing');
  });
});
