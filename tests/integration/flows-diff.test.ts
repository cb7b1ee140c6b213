/**
 * Integration: `flows diff` (issue 13, part 4) on the real Temporal dev server and PostgreSQL. Two versions of one
 * flow that differ by one rule (B adds `amount < 900`), one cast (`ref` int64 → string) and one expr (the `band`
 * threshold 500 → 400) run on one staged copy of a generated CSV whose differences are known by construction:
 * the counts of newly rejected rows, newly accepted rows and changed values are computed here from the generator,
 * independently of Sluice. Also: nothing is written to the target, the API answers the same report, the CLI prints
 * it, and versions of different flows or with different sources are refused with a clear error.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Sluice } from '../../client/sluice';
import type { VersionDiffReport } from '../../common/version-diff-report';
import { hashToken } from '../../webhook-gateway/auth';
import { createGatewayApp } from '../../webhook-gateway/create-gateway-app';
import { startGatewayServer, type GatewayServer } from '../../webhook-gateway/server';
import { DEFAULT_WEBHOOK_SETTINGS } from '../../config/sluice-config';
import { WebhookService } from '../../webhooks/webhook-service';
import { EventPublisher } from '../../webhooks/event-publisher';
import { logger, runCli, startRunStack, type InProcessRunner, type RunStack, type TestDatabase } from '../helpers/services';

const ROWS = 1200;

/** One generated row: an unreadable amount every 13th row, a non-numeric ref every 9th. */
function row(id: number): { id: number; amount: number | null; ref: string } {
  return { id, amount: id % 13 === 0 ? null : (id * 37) % 1000, ref: id % 9 === 0 ? `R${id}` : String(id * 10) };
}

const flowYaml = (name: string, version: 'a' | 'b', source = 'source: { connector: files, format: csv }') => `
name: ${name}
${source}
target: { connector: warehouse, table: public.${name}, write: upsert, key: [id] }
fields:
  id:     { from: id, type: int64, required: true }
  amount: { from: amount, type: int64${version === 'b' ? ', check: "amount < 900"' : ''} }
  ref:    { from: ref, type: ${version === 'a' ? 'int64' : 'string'} }
  band:   { expr: "CASE WHEN TRY_CAST(amount AS BIGINT) > ${version === 'a' ? 500 : 400} THEN 'big' ELSE 'small' END", type: string }
`;

describe('flows diff', () => {
  let stack: RunStack;
  let db: TestDatabase;
  let runner: InProcessRunner;
  let sluice: Sluice;
  let gateway: GatewayServer;
  let versionA: string;
  let versionB: string;
  const TOKEN = 'diff-writer-token-0123456789';

  // What the versions do to each row, by construction.
  const rows = Array.from({ length: ROWS }, (_, i) => row(i + 1));
  const acceptedByA = (r: ReturnType<typeof row>) => r.amount !== null && !r.ref.startsWith('R');
  const acceptedByB = (r: ReturnType<typeof row>) => r.amount !== null && r.amount < 900;
  const expected = {
    newlyRejected: rows.filter((r) => acceptedByA(r) && !acceptedByB(r)),
    newlyAccepted: rows.filter((r) => !acceptedByA(r) && acceptedByB(r)),
    both: rows.filter((r) => acceptedByA(r) && acceptedByB(r)),
  };
  const bandChanged = expected.both.filter((r) => r.amount! > 400 && r.amount! <= 500);

  before(async () => {
    stack = await startRunStack({ chunkRows: 250, connectors: () => ({ files: { kind: 'local', root: '.' }, warehouse: { kind: 'postgres' } }) });
    ({ db, runner, sluice } = stack);
    const lines = ['id,amount,ref', ...rows.map((r) => `${r.id},${r.amount ?? 'n/a'},${r.ref}`)];
    writeFileSync(path.join(stack.dir, 'parts.csv'), `${lines.join('\n')}\n`);
    versionA = await runner.publish(flowYaml('parts', 'a'));
    versionB = await runner.publish(flowYaml('parts', 'b'));
    const webhooks = new WebhookService(new EventPublisher(db.pool, sluice.client, `${stack.config.temporal.taskQueue}-webhooks`, logger), DEFAULT_WEBHOOK_SETTINGS);
    const app = createGatewayApp({ sluice, tokens: [{ name: 'writer', sha256: hashToken(TOKEN), scopes: ['runs:read', 'runs:write'] }], logger, pool: db.pool, webhooks });
    gateway = await startGatewayServer(app, { port: 0, host: '127.0.0.1' });
  });

  after(async () => {
    await gateway?.close();
    await stack?.stop();
  });

  let report: VersionDiffReport;

  it('counts newly rejected, newly accepted and changed values exactly, and writes nothing', { timeout: 120_000 }, async () => {
    assert.deepEqual([versionA, versionB], ['parts:v1', 'parts:v2']);
    assert.ok(expected.newlyRejected.length > 0 && expected.newlyAccepted.length > 0 && bandChanged.length > 0, 'the file has each kind of difference');
    report = await sluice.diffFlowVersions({ versionA, versionB, sourcePath: 'parts.csv' });
    assert.equal(report.rows.read, ROWS);
    assert.deepEqual(report.rows.a, { mapped: rows.filter(acceptedByA).length, rejected: ROWS - rows.filter(acceptedByA).length });
    assert.deepEqual(report.rows.b, { mapped: rows.filter(acceptedByB).length, rejected: ROWS - rows.filter(acceptedByB).length });

    assert.equal(report.newly_rejected.count, expected.newlyRejected.length);
    assert.deepEqual(report.newly_rejected.samples.map((s) => s.row), expected.newlyRejected.slice(0, 20).map((r) => r.id));
    const first = report.newly_rejected.samples[0]!;
    assert.deepEqual(first.errors.map((e) => [e.field, e.rule]), [['amount', 'check']], "B's reason");
    assert.equal(first.record.amount, String(expected.newlyRejected[0]!.amount));

    assert.equal(report.newly_accepted.count, expected.newlyAccepted.length);
    assert.deepEqual(report.newly_accepted.samples.map((s) => s.row), expected.newlyAccepted.slice(0, 20).map((r) => r.id));
    assert.deepEqual(report.newly_accepted.samples[0]!.errors.map((e) => [e.field, e.rule]), [['ref', 'type']], "A's reason");

    assert.equal(report.changed.matched_by, 'key');
    assert.deepEqual(report.changed.match, ['id']);
    assert.equal(report.changed.matched, expected.both.length);
    assert.deepEqual([report.changed.only_in_a, report.changed.only_in_b], [expected.newlyRejected.length, expected.newlyAccepted.length]);
    assert.deepEqual(
      report.changed.fields.map((f) => [f.field, f.changed]),
      [
        ['amount', 0],
        ['ref', 0],
        ['band', bandChanged.length],
      ],
    );
    assert.equal(report.changed.rows_changed, bandChanged.length);
    const band = report.changed.fields.find((f) => f.field === 'band')!;
    assert.deepEqual(band.samples[0], { match: { id: String(bandChanged[0]!.id) }, old: 'small', new: 'big' });
    assert.deepEqual(band.samples.map((s) => s.match.id), bandChanged.slice(0, 5).map((r) => String(r.id)));

    assert.deepEqual(
      report.spec.map((c) => [c.change, c.field, c.rule ?? null]),
      [
        ['rule_added', 'amount', 'check'],
        ['type_changed', 'ref', null],
        ['expr_changed', 'band', null],
      ],
    );
    assert.deepEqual(report.spec[1]!.before, 'int64');
    assert.deepEqual(report.spec[1]!.after, 'string');

    // Nothing reached the target.
    const tables = await db.pool.query(`SELECT to_regclass('public.parts') AS t, to_regclass('public.parts_rejects') AS r`);
    assert.deepEqual(tables.rows[0], { t: null, r: null });
  });

  it('matches by source row number when the flow has no key, with the same counts', { timeout: 120_000 }, async () => {
    const noKey = (v: 'a' | 'b') => flowYaml('parts_nokey', v).replace(', write: upsert, key: [id]', ', write: append');
    const a = await runner.publish(noKey('a'));
    const b = await runner.publish(noKey('b'));
    const byRow = await sluice.diffFlowVersions({ versionA: a, versionB: b, sourcePath: 'parts.csv' });
    assert.equal(byRow.changed.matched_by, 'row');
    assert.equal(byRow.newly_rejected.count, expected.newlyRejected.length);
    assert.equal(byRow.newly_accepted.count, expected.newlyAccepted.length);
    assert.equal(byRow.changed.matched, expected.both.length);
    assert.deepEqual([byRow.changed.only_in_a, byRow.changed.only_in_b], [expected.newlyRejected.length, expected.newlyAccepted.length]);
    assert.equal(byRow.changed.fields.find((f) => f.field === 'band')!.changed, bandChanged.length);
    // With no key, `id` is compared as a value: unchanged.
    assert.equal(byRow.changed.fields.find((f) => f.field === 'id')!.changed, 0);
  });

  it('POST /v1/flows/diff answers the same counts; different flows or sources are refused clearly', { timeout: 120_000 }, async () => {
    const post = async (body: unknown) => {
      const response = await fetch(`${gateway.url}/v1/flows/diff`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON answers
    };
    const ok = await post({ version_a: versionA, version_b: versionB, source_path: 'parts.csv' });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.newly_rejected.count, report.newly_rejected.count);
    assert.equal(ok.body.newly_accepted.count, report.newly_accepted.count);
    assert.deepEqual(ok.body.changed.fields, report.changed.fields);
    assert.notEqual(ok.body.diff_id, report.diff_id);

    const other = await runner.publish(flowYaml('widgets', 'b'));
    const flows = await post({ version_a: versionA, version_b: other, source_path: 'parts.csv' });
    assert.equal(flows.status, 422);
    assert.equal(flows.body.error.code, 'DIFF_FLOWS_DIFFER');
    assert.match(flows.body.error.message, /parts:v1 and widgets:v1 are versions of different flows/);

    const semicolon = await runner.publish(flowYaml('parts', 'b', `source: { connector: files, format: csv, csv: { delimiter: ";" } }`));
    const sources = await post({ version_a: versionA, version_b: semicolon, source_path: 'parts.csv' });
    assert.equal(sources.status, 422);
    assert.equal(sources.body.error.code, 'DIFF_SOURCES_DIFFER');

    const unknown = await post({ version_a: versionA, version_b: 'parts:v99', source_path: 'parts.csv' });
    assert.equal(unknown.status, 422);
    assert.equal(unknown.body.error.code, 'UNKNOWN_FLOW_VERSION');
  });

  it('the CLI prints counts first and a table per section; --json is the whole report', { timeout: 120_000 }, async () => {
    const env = { ...process.env, DATABASE_URL: db.url, TEMPORAL_ADDRESS: stack.env.address, SLUICE_TASK_QUEUE: stack.config.temporal.taskQueue };
    const text = await runCli(['flows', 'diff', versionA, versionB, '--source', 'parts.csv'], { cwd: stack.dir, env });
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.split('\n');
    assert.equal(lines[0], `parts:v1 → parts:v2 on parts.csv: read ${ROWS}`);
    assert.match(
      lines[2]!,
      new RegExp(`newly rejected ${expected.newlyRejected.length}, newly accepted ${expected.newlyAccepted.length}, rows with changed values ${bandChanged.length} of ${expected.both.length} matched \\(by key id\\)`),
    );
    assert.match(text.stdout, /spec changes:\n\s+CHANGE\s+FIELD\s+RULE\s+BEFORE\s+AFTER\n\s+rule_added\s+amount\s+check\s+-\s+"amount < 900"\n/);
    assert.match(text.stdout, new RegExp(`\\n\\s+band\\s+${bandChanged.length}\\n`));
    const json = await runCli(['flows', 'diff', versionA, versionB, '--source', 'parts.csv', '--json'], { cwd: stack.dir, env });
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as VersionDiffReport;
    assert.equal(parsed.newly_rejected.count, expected.newlyRejected.length);
    assert.equal(parsed.newly_rejected.samples.length, 20);
    const refused = await runCli(['flows', 'diff', versionA, 'widgets:v1', '--source', 'parts.csv'], { cwd: stack.dir, env });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /DIFF_FLOWS_DIFFER|versions of different flows/);
  });
});
