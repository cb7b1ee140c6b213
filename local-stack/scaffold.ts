/**
 * `sluice init <dir>`: the files of a new project — config with dev/test/prod environments, an
 * example flow with a custom map, a scheduled pipeline, example data for today, and the folders
 * Sluice uses (`flows/`, `maps/`, `pipelines/`, `data/{import,export,backup,errors}`, `logs/`).
 *
 * Nothing is overwritten: when a file already exists, `scaffoldProject` refuses and names them all.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../common/errors';
import { dateIn } from '../pipelines/pipeline-spec';

const TIMEZONE = 'Europe/Paris';

const CONFIG = `# Sluice project config (docs/configuration.md). Keys at the top level apply to every environment;
# environments.<name> holds only what changes, merged key by key. Choose with -e/--env or SLUICE_ENV (default dev).
# Secrets: \${env:NAME}, or enc:v1:… from \`sluice secret encrypt\`; plain text is refused outside dev.
connectors:
  files: { kind: local, root: . }          # source_path is relative to the project dir
  warehouse: { kind: postgres }            # without url: the metadata database (DATABASE_URL)
  mail:                                    # the error email; in dev \`sluice dev\` serves 127.0.0.1:1025 and keeps it (sluice mail list)
    kind: smtp
    host: 127.0.0.1
    port: 1025
    from: "Sluice <sluice@localhost>"

notifications:
  email: { connector: mail, to: ["data-team@example.com"] }

retention: { backup_days: 30, errors_days: 30, staging_days: 1, logs_days: 14 }

# Each environment has its own Temporal task queue: sluice in dev, sluice-<env> elsewhere (sluice-test,
# sluice-prod), so a worker only ever receives its own environment's work (sluice worker -e test serves test).
# Choose one with temporal: { task_queue: …, namespace: … } inside an environment block.

environments:
  dev: {}
  test:
    connectors:
      warehouse: { url: "\${env:SLUICE_TEST_WAREHOUSE_URL}" }
      mail: { host: "\${env:SLUICE_SMTP_HOST}", port: 587, user: etl, password: "\${env:SLUICE_SMTP_PASSWORD}" }
  prod:
    connectors:
      # e.g. url: "enc:v1:…" — printf %s 'postgres://etl:…@db:5432/dw' | sluice secret encrypt
      warehouse: { url: "\${env:SLUICE_PROD_WAREHOUSE_URL}" }
      mail: { host: smtp.example.com, port: 587, user: etl, password: "\${env:SLUICE_SMTP_PASSWORD}" }
    notifications:
      email: { to: ["data-team@example.com", "oncall@example.com"] }
`;

const FLOW = `# A flow (docs/flow-spec.md): where rows come from, how each field is typed and checked, where they go.
name: accounts
source: { connector: files, format: csv }
target:
  connector: warehouse
  table: public.accounts
  write: append
  # link: SQL run after the load, in the same transaction (docs/flow-spec.md, "Link steps"), e.g.
  # - UPDATE public.accounts a SET parent_id = p.id FROM public.accounts p WHERE a.parent_code = p.code
fields:
  code:        { from: code, type: string, required: true }
  name:        { from: name, type: string, required: true }
  parent_code: { from: parent_code, type: string }
  balance:     { from: balance, type: float64, check: "balance >= 0" }
  opened_on:   { from: opened_on, type: date, format: "%Y-%m-%d" }
# Applied after the mapping above, to all of a run's rows at once.
transform: maps/accounts.ts
`;

const MAP = `// A custom map (docs/flow-spec.md, "Custom maps"): nodejs-polars DataFrames in, { mapped, rejected } out.
// It sees every mapped row of the run, with __sluice_row (the source row number).
import pl from 'nodejs-polars';
import type { CustomMap } from 'sluice/client';

/** When a code appears several times, the last row wins; the earlier ones are rejected with a reason. */
const map: CustomMap = (df) => {
  const latest = df.groupBy('code').agg(pl.col('__sluice_row').max().alias('latest'));
  const rows = df.join(latest, { on: 'code' });
  const superseded = rows
    .filter(pl.col('__sluice_row').lt(pl.col('latest')))
    .select(pl.col('__sluice_row'), pl.format('duplicate code: superseded by row {}', pl.col('latest')).alias('reason'));
  return { mapped: rows.filter(pl.col('__sluice_row').eq(pl.col('latest'))).drop('latest'), rejected: superseded };
};
export default map;
`;

const PIPELINE = `# A pipeline (docs/pipelines.md): jobs in dependency order, one error email per run.
name: daily
description: Daily load of accounts
schedule:                      # sluice schedules apply -e <env> makes it a Temporal Schedule
  cron: "0 6 * * *"
  timezone: ${TIMEZONE}
jobs:
  - name: accounts
    flow_version: accounts:v1  # publish it first: sluice flows publish flows/accounts.yaml
    source_path: "data/import/accounts_{date}.csv"
`;

const README = `# Sluice project

Needs the \`sluice\` command (\`sluice --version\`); see "Get sluice" in Sluice's README.

\`\`\`sh
sluice dev                                   # in another terminal: Temporal, Postgres, a worker, the gateway
sluice test-connections                      # every connector of the environment
sluice flows publish flows/accounts.yaml     # → accounts:v1
sluice pipeline run daily --wait             # loads data/import/accounts_<today>.csv; rejects in data/errors/
sluice mail list                             # the error email, kept by sluice dev (.sluice/mail/)
sluice schedules apply                       # the daily 06:00 schedule (add -e test / -e prod for the others)
\`\`\`

| folder | what |
|---|---|
| \`flows/\` | flow specs |
| \`maps/\` | custom maps (TypeScript, nodejs-polars) |
| \`pipelines/\` | pipelines: jobs, dependencies, schedules |
| \`data/import\` | files to load; moved to \`data/backup/<date>/\` once loaded |
| \`data/export\` | files Sluice writes |
| \`data/backup\`, \`data/errors\` | loaded source files; rejected rows as CSV (kept per \`retention\`) |
| \`logs/\` | logs |
`;

const GITIGNORE = `.sluice/
logs/*
!logs/.gitkeep
data/**/*
!data/*/
!data/*/.gitkeep
node_modules/
`;

/** Today's example data: two bad rows (a negative balance, a duplicate code) among good ones. */
function exampleData(): string {
  return [
    'code,name,parent_code,balance,opened_on',
    'ROOT,Holding,,1000.00,2020-01-01',
    'FR,France,ROOT,250.50,2021-03-15',
    'DE,Germany,ROOT,-20.00,2021-04-01',
    'FR,France SAS,ROOT,260.75,2021-03-15',
    'IT,Italy,ROOT,75.25,2022-09-30',
    '',
  ].join('\n');
}

export interface ScaffoldResult {
  dir: string;
  /** Paths created, relative to `dir`. */
  created: string[];
}

/**
 * Creates a project in `dir` (made if missing).
 * @throws UserError `PROJECT_EXISTS` when any file it would write exists (nothing is written then).
 */
export function scaffoldProject(dir: string, now: Date = new Date()): ScaffoldResult {
  const root = path.resolve(dir);
  const today = dateIn(TIMEZONE, now);
  const files: Record<string, string> = {
    'sluice.config.yaml': CONFIG,
    'flows/accounts.yaml': FLOW,
    'maps/accounts.ts': MAP,
    'pipelines/daily.yaml': PIPELINE,
    [`data/import/accounts_${today}.csv`]: exampleData(),
    'data/export/.gitkeep': '',
    'data/backup/.gitkeep': '',
    'data/errors/.gitkeep': '',
    'logs/.gitkeep': '',
    'README.md': README,
    '.gitignore': GITIGNORE,
  };
  const existing = Object.keys(files).filter((file) => existsSync(path.join(root, file)));
  if (existing.length > 0) {
    throw new UserError('PROJECT_EXISTS', `${root} already has ${existing.join(', ')}; sluice init never overwrites: choose an empty or new folder`);
  }
  for (const [file, text] of Object.entries(files)) {
    const target = path.join(root, file);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, text, { flag: 'wx' });
  }
  return { dir: root, created: Object.keys(files) };
}
