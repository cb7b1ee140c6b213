/**
 * Integration: dev email works out of the box. A project from `sluice init` runs its pipeline under
 * `sluice dev`: the error email lands in the dev mail sink (`.sluice/mail/1.eml`), and `sluice mail list` /
 * `sluice mail show 1` print it. With the mail connector pointing at a server that refuses connections,
 * `pipeline run --wait` says what it waits for (attempt, last error) instead of a silent wait, and
 * `pipeline status` shows the email state in plain text.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { findTemporalCli } from '../../local-stack/temporal-cli';
import { CLI_MAIN, createTestDatabase, freePort, logger, PROJECT_DIR, runCli, tempProject, type TestDatabase } from '../helpers/services';
import { startDevProcess, type DevProcess } from '../helpers/dev-process';

describe('dev email: the mail sink of sluice dev, and a pending email said in words', { timeout: 600_000 }, () => {
  let root: string;
  let dir: string;
  let db: TestDatabase;
  let env: NodeJS.ProcessEnv;
  let ports: string[];
  let mailPort: number;
  let dev: DevProcess | undefined;

  before(async () => {
    root = tempProject();
    db = await createTestDatabase();
    env = { ...process.env, TEMPORAL_CLI: await findTemporalCli({ projectDir: PROJECT_DIR, logger }), DATABASE_URL: db.url, SLUICE_LOG_LEVEL: 'warn' };
    delete env.TEMPORAL_ADDRESS;
    delete env.SLUICE_STATE_DIR;
    delete env.SLUICE_TASK_QUEUE;
    ports = ['--temporal-port', String(await freePort()), '--ui-port', String(await freePort()), '--gateway-port', '0'];
    mailPort = await freePort();
    const init = await runCli(['init', 'p'], { cwd: root, env });
    assert.equal(init.code, 0, init.stderr);
    dir = path.join(root, 'p');
    // The scaffold's dev mail is 127.0.0.1:1025; a free port keeps this test off anything else on 1025.
    const configFile = path.join(dir, 'sluice.config.yaml');
    const config = readFileSync(configFile, 'utf8');
    assert.match(config, /host: 127\.0\.0\.1\n {4}port: 1025\n/);
    writeFileSync(configFile, config.replace('port: 1025', `port: ${mailPort}`));
  });

  after(async () => {
    if (dev && dev.child.exitCode === null) {
      dev.child.kill('SIGINT');
      await dev.exited;
    }
    await db?.drop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const startDev = async () => {
    if (dev && dev.child.exitCode === null) {
      dev.child.kill('SIGINT');
      await dev.exited;
    }
    dev = startDevProcess(process.execPath, [CLI_MAIN, 'dev', ...ports], { cwd: dir, env });
    await dev.waitFor(/the stack is up/, 180_000);
    return dev;
  };
  const stopDev = async () => {
    dev!.child.kill('SIGINT');
    assert.equal(await dev!.exited, 0, dev!.output());
  };
  const cli = (args: string[]) => runCli(args, { cwd: dir, env });

  it('a pipeline email under sluice dev lands in .sluice/mail; sluice mail list and show print it', async () => {
    const started = await startDev();
    assert.match(started.output(), new RegExp(`mail: emails of connector mail are kept by the dev mail sink on 127\\.0\\.0\\.1:${mailPort} \\(\\.sluice/mail/; sluice mail list\\)`));
    const empty = await cli(['mail', 'list']);
    assert.match(empty.stdout, /^no messages in \.sluice\/mail\//);

    assert.equal((await cli(['flows', 'publish', 'flows/accounts.yaml'])).code, 0);
    const run = await cli(['pipeline', 'run', 'daily', '--wait']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /pipeline daily \S+ \(dev\): PARTIAL_FAILED/);
    assert.match(run.stdout, /email: sent to data-team@example\.com \(attached: /);

    assert.deepEqual(readdirSync(path.join(dir, '.sluice', 'mail')), ['1.eml']);
    const list = await cli(['mail', 'list']);
    assert.equal(list.code, 0, list.stderr);
    const lines = list.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 2, list.stdout);
    assert.match(lines[0]!, /^ {2}id {2}date +to +subject$/);
    assert.match(lines[1]!, /^ {3}1 {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +data-team@example\.com +\[dev\] pipeline daily \S+: PARTIAL_FAILED — .*\[1 attachment\]$/);

    const show = await cli(['mail', 'show', '1']);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^message 1 {2}\(.*\.sluice\/mail\/1\.eml\)\n {2}date: {4}\d{4}-/);
    assert.match(show.stdout, /\n {2}from: {4}"Sluice" <sluice@localhost>\n {2}to: {6}data-team@example\.com\n {2}subject: \[dev\] pipeline daily/);
    assert.match(show.stdout, /\n {2}attached: accounts\.csv\n/);
    assert.match(show.stdout, /accounts/, 'the text body names the job');
    const json = JSON.parse((await cli(['mail', 'show', '1', '--json'])).stdout) as { id: number; to: string[]; attachments: string[] };
    assert.deepEqual([json.id, json.to, json.attachments], [1, ['data-team@example.com'], ['accounts.csv']]);

    const missing = await cli(['mail', 'show', '7']);
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr, `error: no message 7 in ${path.join(dir, '.sluice', 'mail')}: ids are 1…1 (sluice mail list)\n`);
    await stopDev();
  });

  it('an SMTP server that refuses connections: the --wait line and pipeline status say so', async () => {
    // 127.0.0.2 is not a loopback name sluice dev serves: a "real" server, where nothing listens.
    const configFile = path.join(dir, 'sluice.config.yaml');
    writeFileSync(configFile, readFileSync(configFile, 'utf8').replace('host: 127.0.0.1', 'host: 127.0.0.2'));
    const today = readdirSync(path.join(dir, 'data', 'backup'), { withFileTypes: true }).find((d) => d.isDirectory())!.name;
    const date = '2030-01-15';
    const backedUp = readdirSync(path.join(dir, 'data', 'backup', today)).find((f) => f.endsWith('.csv'))!;
    copyFileSync(path.join(dir, 'data', 'backup', today, backedUp), path.join(dir, 'data', 'import', `accounts_${date}.csv`));
    const started = await startDev();
    assert.doesNotMatch(started.output(), /mail: /, 'no sink for a non-loopback host');

    const waiting = spawn(process.execPath, [CLI_MAIN, 'pipeline', 'run', 'daily', '--date', date, '--wait'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    waiting.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const deadline = Date.now() + 90_000;
    const wanted = new RegExp(`waiting for email delivery \\(attempt [2-8] of 8, last error: connection refused at 127\\.0\\.0\\.2:${mailPort}; next attempt in \\d+ s\\)`);
    while (!wanted.test(stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
    waiting.kill('SIGINT');
    assert.match(stderr, wanted);
    const id = /pipeline run (\S+) started; waiting…/.exec(stderr)![1]!;

    const status = await cli(['pipeline', 'status', id]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`\\n {2}email: pending — waiting for email delivery \\(attempt [2-8] of 8, last error: connection refused at 127\\.0\\.0\\.2:${mailPort}`));
    const json = JSON.parse((await cli(['pipeline', 'status', id, '--json'])).stdout) as { email: { status: string }; email_wait: string };
    assert.equal(json.email.status, 'pending');
    assert.match(json.email_wait, /^waiting for email delivery \(attempt/);
    assert.ok(!existsSync(path.join(dir, '.sluice', 'mail', '2.eml')), 'nothing reached the sink');
    await stopDev();
  });
});
