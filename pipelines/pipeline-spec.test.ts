/**
 * Unit tests of the pipeline spec: normalisation and defaults, every problem at once with its path
 * and YAML line (unknown dependencies, cycles, duplicate names, templates, cron lines, time zones,
 * the file name), template rendering, dates in a time zone, and the pipelines/ folder.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { UserError } from '../common/errors';
import {
  cronProblem,
  dateIn,
  jobOrder,
  listPipelines,
  loadPipeline,
  parsePipelineSpec,
  pipelineDate,
  PipelineSpecError,
  renderSourcePath,
  timezoneProblem,
  type PipelineSpec,
} from './pipeline-spec';

function specError(fn: () => unknown): PipelineSpecError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof PipelineSpecError, `expected PipelineSpecError, got ${String(error)}`);
    assert.equal(error.code, 'INVALID_PIPELINE_SPEC');
    assert.deepEqual(error.details, { issues: error.issues });
    return error;
  }
  assert.fail('expected a PipelineSpecError, nothing was thrown');
}

const DAILY = `name: daily
description: Daily loads
schedule:
  cron: "0 6 * * *"
  timezone: Europe/Paris
requires:
  - companies-daily
  - { pipeline: rates, within: 26h }
jobs:
  - name: companies
    flow_version: companies:v3
    source_path: "data/import/companies_{date}.csv"
  - name: contacts
    flow_version: contacts:v1
    source_path: "data/import/{env}/contacts_{yyyy}{mm}{dd}.csv"
    depends_on: [companies]
    backup: false
`;

describe('parsePipelineSpec', () => {
  it('normalises a pipeline: cron as a list, defaults for overlap, requires windows and backup', () => {
    const spec = parsePipelineSpec(DAILY, 'pipelines/daily.yaml', { expectedName: 'daily' });
    const expected: PipelineSpec = {
      name: 'daily',
      description: 'Daily loads',
      schedule: { cron: ['0 6 * * *'], timezone: 'Europe/Paris', overlap: 'skip' },
      requires: [
        { pipeline: 'companies-daily', within: '24h', withinMs: 86_400_000 },
        { pipeline: 'rates', within: '26h', withinMs: 93_600_000 },
      ],
      jobs: [
        { name: 'companies', flowVersion: 'companies:v3', sourcePath: 'data/import/companies_{date}.csv', dependsOn: [], backup: true },
        { name: 'contacts', flowVersion: 'contacts:v1', sourcePath: 'data/import/{env}/contacts_{yyyy}{mm}{dd}.csv', dependsOn: ['companies'], backup: false },
      ],
    };
    assert.deepEqual(spec, expected);
  });

  it('accepts a list of cron lines, a UTC default time zone and every overlap policy', () => {
    const spec = parsePipelineSpec(`name: p
schedule: { cron: ["*/5 7-18 * * MON-FRI", "0 0 1 JAN,JUL *", "@daily"], overlap: buffer_one }
jobs: [{ name: a, flow_version: a:v1, source_path: a.csv }]
`);
    assert.deepEqual(spec.schedule, { cron: ['*/5 7-18 * * MON-FRI', '0 0 1 JAN,JUL *', '@daily'], timezone: 'UTC', overlap: 'buffer_one' });
    assert.deepEqual(spec.requires, []);
  });

  it('reports every problem at once, each with its path and YAML line', () => {
    const error = specError(() =>
      parsePipelineSpec(
        `name: weekly
schedule:
  cron: "0 25 * *"
  timezone: Europe/Pariss
  overlap: sometimes
requires: [weekly, { pipeline: rates, within: soon }]
jobs:
  - name: a
    flow_version: a
    source_path: "data/{day}.csv"
  - name: b
    flow_version: b:v1
    source_path: b.csv
    depends_on: [a, c]
  - name: b
    flow_version: b:v2
    source_path: b2.csv
    extra: 1
`,
        'pipelines/daily.yaml',
        { expectedName: 'daily' },
      ),
    );
    assert.deepEqual(error.issues.sort(), [
      'jobs[0].flow_version (line 9): must be "flow:vN", e.g. "companies:v3"',
      'jobs[0].source_path (line 10): unknown placeholder {day}; known: {date}, {yyyy}, {mm}, {dd}, {env}, {pipeline}',
      'jobs[1].depends_on[1] (line 14): no job named "c"; jobs: a, b',
      'jobs[2] (line 15): Unrecognized key: "extra"',
      'jobs[2].name (line 15): duplicate job name "b" (also jobs[1])',
      'name (line 1): "weekly" does not match the file name; the pipeline in daily.yaml must be named "daily"',
      'requires[0] (line 6): a pipeline cannot require itself',
      'requires[1].within (line 6): "soon" is not a duration; write e.g. "30m", "24h" or "2d"',
      'schedule.cron (line 3): "0 25 * *" has 4 fields; a cron line has 5: minute hour day-of-month month day-of-week (e.g. "0 6 * * *")',
      'schedule.overlap (line 5): Invalid option: expected one of "skip"|"buffer_one"|"buffer_all"|"cancel_other"|"terminate_other"|"allow_all"',
      'schedule.timezone (line 4): "Europe/Pariss" is not an IANA time zone name (e.g. "Europe/Paris", "America/New_York", "UTC")',
    ]);
    assert.match(error.message, /^pipelines\/daily\.yaml is invalid \(11 problems\):\n {2}- /);
  });

  it('holds templates to the source_path rule the client and the API use (common/run-inputs.ts)', () => {
    const job = (sourcePath: string) => `name: daily\njobs:\n  - name: a\n    flow_version: a:v1\n    source_path: ${JSON.stringify(sourcePath)}\n`;
    assert.deepEqual(specError(() => parsePipelineSpec(job('data/\t{date}.csv'), 'pipelines/daily.yaml')).issues, ['jobs[0].source_path (line 5): must not contain control characters']);
    assert.deepEqual(specError(() => parsePipelineSpec(job('  '), 'pipelines/daily.yaml')).issues, ['jobs[0].source_path (line 5): must not be only white space']);
  });

  it('names the cycle', () => {
    const error = specError(() =>
      parsePipelineSpec(`name: p
jobs:
  - { name: a, flow_version: a:v1, source_path: a.csv, depends_on: [c] }
  - { name: b, flow_version: b:v1, source_path: b.csv, depends_on: [a] }
  - { name: c, flow_version: c:v1, source_path: c.csv, depends_on: [b] }
  - { name: d, flow_version: d:v1, source_path: d.csv, depends_on: [d] }
`),
    );
    assert.deepEqual(error.issues, ['jobs[0].depends_on (line 3): depends_on makes a cycle: a → c → b → a', 'jobs[3].depends_on[0] (line 6): a job cannot depend on itself']);
  });

  it('needs at least one job and reports YAML syntax errors with line and column', () => {
    assert.deepEqual(specError(() => parsePipelineSpec('name: p\njobs: []\n')).issues, ['jobs (line 2): a pipeline needs at least one job']);
    const syntax = specError(() => parsePipelineSpec('name: p\njobs: [\n', 'pipelines/p.yaml'));
    assert.match(syntax.message, /^pipelines\/p\.yaml is not valid YAML:/);
    assert.match(syntax.issues[0]!, /^line \d+, column \d+: /);
  });
});

describe('cron lines and time zones', () => {
  it('accepts standard cron lines and explains bad ones', () => {
    for (const line of ['0 6 * * *', '*/15 * * * *', '0 7-18/2 1,15 * 1-5', '30 4 * JAN-MAR sun', '@hourly', '0 0 * * 7']) assert.equal(cronProblem(line), null, line);
    assert.equal(cronProblem('60 * * * *'), '"60 * * * *" is not a valid cron line: Constraint error, got value 60 expected range 0-59');
    assert.match(cronProblem('0 6 * * FUNDAY')!, /^"0 6 \* \* FUNDAY" is not a valid cron line: .*fun/);
    assert.equal(cronProblem('0 18-6 * * *'), '"0 18-6 * * *" is not a valid cron line: Invalid range: 18-6, min(18) > max(6)');
    assert.match(cronProblem('*/0 * * * *')!, /^"\*\/0 \* \* \* \*" is not a valid cron line: .*every 0/);
    assert.equal(cronProblem('0 6 * *'), '"0 6 * *" has 4 fields; a cron line has 5: minute hour day-of-month month day-of-week (e.g. "0 6 * * *")');
    assert.equal(cronProblem('@fortnightly'), 'unknown macro "@fortnightly"; one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly');
  });

  it('validates IANA time zone names', () => {
    assert.equal(timezoneProblem('Europe/Paris'), null);
    assert.equal(timezoneProblem('UTC'), null);
    assert.equal(timezoneProblem('America/Argentina/Buenos_Aires'), null);
    assert.equal(timezoneProblem('utc'), 'write the time zone as "UTC"');
    assert.equal(timezoneProblem('+01:00'), '"+01:00" is an offset; give an IANA time zone name such as "Europe/Paris" or "UTC"');
    assert.match(timezoneProblem('Mars/Olympus_Mons')!, /is not an IANA time zone name/);
  });

  it('computes the pipeline date in the schedule time zone (UTC without one)', () => {
    const instant = new Date('2026-11-20T23:30:00Z');
    assert.equal(dateIn('Europe/Paris', instant), '2026-11-21');
    assert.equal(dateIn('America/Los_Angeles', instant), '2026-11-20');
    assert.equal(pipelineDate({ schedule: { cron: ['0 6 * * *'], timezone: 'Asia/Tokyo', overlap: 'skip' } }, instant), '2026-11-21');
    assert.equal(pipelineDate({}, instant), '2026-11-20');
  });
});

describe('renderSourcePath', () => {
  it('fills every placeholder', () => {
    assert.equal(
      renderSourcePath('data/{env}/{pipeline}/{yyyy}/{mm}/{dd}/companies_{date}.csv', { date: '2026-11-21', env: 'prod', pipeline: 'daily' }),
      'data/prod/daily/2026/11/21/companies_2026-11-21.csv',
    );
    assert.equal(renderSourcePath('batch-42', { date: '2026-11-21', env: 'prod', pipeline: 'daily' }), 'batch-42');
  });

  it('refuses unknown placeholders and bad dates', () => {
    assert.deepEqual(specError(() => renderSourcePath('x_{hour}.csv', { date: '2026-11-21', env: 'dev', pipeline: 'p' })).issues, [
      'unknown placeholder {hour}; known: {date}, {yyyy}, {mm}, {dd}, {env}, {pipeline}',
    ]);
    assert.deepEqual(specError(() => renderSourcePath('x_{date}.csv', { date: '2026-02-30', env: 'dev', pipeline: 'p' })).issues, ['date "2026-02-30" is not a date written YYYY-MM-DD']);
  });
});

describe('jobOrder', () => {
  it('puts every job after its dependencies, otherwise in file order', () => {
    const spec = parsePipelineSpec(`name: p
jobs:
  - { name: c, flow_version: c:v1, source_path: c, depends_on: [b] }
  - { name: a, flow_version: a:v1, source_path: a }
  - { name: b, flow_version: b:v1, source_path: b, depends_on: [a] }
  - { name: d, flow_version: d:v1, source_path: d }
`);
    assert.deepEqual(jobOrder(spec).map((j) => j.name), ['a', 'b', 'c', 'd']);
  });
});

describe('loadPipeline and listPipelines', () => {
  const projectDir = mkdtempSync(path.join(os.tmpdir(), 'sluice-pipelines-'));
  mkdirSync(path.join(projectDir, 'pipelines'));
  writeFileSync(path.join(projectDir, 'pipelines', 'daily.yaml'), DAILY);
  writeFileSync(path.join(projectDir, 'pipelines', 'broken.yml'), 'name: broken\njobs: []\n');
  writeFileSync(path.join(projectDir, 'pipelines', 'notes.txt'), 'not a pipeline');

  it('loads pipelines/<name>.yaml and checks its name', () => {
    assert.equal(loadPipeline({ projectDir }, 'daily').jobs.length, 2);
    const error = specError(() => loadPipeline({ projectDir }, 'broken'));
    assert.deepEqual(error.issues, ['jobs (line 2): a pipeline needs at least one job']);
  });

  it('refuses unknown and malformed names, listing the pipelines there are', () => {
    assert.throws(
      () => loadPipeline({ projectDir }, 'weekly'),
      (error: unknown) => error instanceof UserError && error.code === 'UNKNOWN_PIPELINE' && /pipelines: broken, daily$/.test(error.message),
    );
    assert.throws(() => loadPipeline({ projectDir }, '../etc/passwd'), (error: unknown) => error instanceof UserError && error.code === 'INVALID_PIPELINE_NAME');
  });

  it('lists every pipeline file, valid or not', () => {
    const listed = listPipelines({ projectDir });
    assert.deepEqual(listed.map((p) => [p.name, p.spec?.jobs.length ?? null, p.error?.issues ?? null]), [
      ['broken', null, ['jobs (line 2): a pipeline needs at least one job']],
      ['daily', 2, null],
    ]);
    assert.deepEqual(listPipelines({ projectDir: path.join(projectDir, 'nowhere') }), []);
  });
});
