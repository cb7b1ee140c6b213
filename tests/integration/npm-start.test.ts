/**
 * Integration: what `npm start` does, end to end, on the embedded default: `sluice dev --example`
 * with no DATABASE_URL and no TEMPORAL_ADDRESS starts the Temporal dev server (found or built by
 * the project) and an embedded PostgreSQL, publishes flows/movies.yaml, runs it on vega-datasets'
 * movies.json to PARTIAL_FAILED, prints the counts, the rejects and the Temporal UI link, and
 * stops everything cleanly (`--exit`, so the test does not need Ctrl-C).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, it } from 'node:test';
import { PROJECT_DIR } from '../helpers/services';

const stateDir = path.join(PROJECT_DIR, '.sluice', `test-npm-start-${process.pid}`);

after(() => rmSync(stateDir, { recursive: true, force: true }));

it('runs the movies example on the embedded stack to PARTIAL_FAILED and stops cleanly', { timeout: 600_000 }, async () => {
  mkdirSync(stateDir, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env, SLUICE_STATE_DIR: stateDir, SLUICE_LOG_LEVEL: 'warn' };
  delete env.DATABASE_URL;
  delete env.TEMPORAL_ADDRESS;
  const ports = ['--temporal-port', '17233', '--ui-port', '18233', '--postgres-port', '54359', '--gateway-port', '0'];
  const child = spawn(process.execPath, [path.join(PROJECT_DIR, 'dist', 'cli', 'main.js'), 'dev', '--example', '--exit', ...ports], {
    cwd: PROJECT_DIR,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, `exit code; stderr:\n${stderr}`);
  assert.match(stdout, /^gateway: http:\/\/127\.0\.0\.1:\d+$/m, 'the gateway runs in-process');
  assert.match(stdout, /^console: http:\/\/127\.0\.0\.1:\d+\/ui {2}\(sign in with the dev token sluice_dev_[\w-]{32}; it lasts until this sluice dev stops\)$/m, 'the console URL and its dev token');
  assert.match(stdout, /published movies:v1 \(flows\/movies\.yaml\)/);
  assert.match(stdout, /run (movies-v1-[0-9a-f]{16}): PARTIAL_FAILED/);
  assert.match(stdout, /rows: read 3201, mapped \d+, rejected \d+, written \d+/);
  const [, mapped, rejected, written] = /rows: read 3201, mapped (\d+), rejected (\d+), written (\d+)/.exec(stdout)!;
  assert.equal(Number(mapped) + Number(rejected), 3201);
  assert.equal(written, mapped);
  assert.match(stdout, /rejects: warehouse:public\.movies_rejects {2}\(.*title:required 1/);
  assert.match(stdout, /Temporal UI: http:\/\/127\.0\.0\.1:18233\/namespaces\/default\/workflows\/movies-v1-[0-9a-f]{16}/);
  assert.ok(existsSync(path.join(stateDir, 'temporal.db')), 'Temporal state persisted under the state dir');
  assert.ok(existsSync(path.join(stateDir, 'postgres', 'PG_VERSION')), 'embedded PostgreSQL data under the state dir');
  assert.ok(!existsSync(path.join(stateDir, 'stack.json')), 'stack.json removed on stop');
});
