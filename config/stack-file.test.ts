/**
 * Unit tests of the stack file: a live one is used, a stale one (its `sluice dev` gone) is an error in one
 * line when a command would use it, and ignored where Temporal and the database are set otherwise.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../common/errors';
import { project } from '../tests/helpers/config-fixtures';
import { loadConfig } from './sluice-config';
import { isProcessAlive, readStackFile } from './stack-file';

/** Above the kernel's default pid_max (4194304): no process has it. */
const DEAD_PID = 2 ** 22 + 777;

function withStack(pid: number): string {
  const dir = project();
  mkdirSync(path.join(dir, '.sluice'));
  writeFileSync(path.join(dir, '.sluice', 'stack.json'), JSON.stringify({ pid, databaseUrl: 'postgres://dev/db', temporalAddress: '127.0.0.1:7999', uiUrl: 'http://127.0.0.1:8999' }));
  return dir;
}

describe('stack.json', () => {
  it('tells a live sluice dev from a dead one', () => {
    assert.equal(isProcessAlive(process.pid), true);
    assert.equal(isProcessAlive(DEAD_PID), false);
    assert.equal(readStackFile(path.join(withStack(process.pid), '.sluice'))?.alive, true);
    assert.equal(readStackFile(path.join(withStack(DEAD_PID), '.sluice'))?.alive, false);
    assert.equal(readStackFile(path.join(project(), '.sluice')), null);
  });

  it('a live stack gives Temporal and the database', () => {
    const config = loadConfig({ projectDir: withStack(process.pid), env: {} });
    assert.equal(config.temporal.address, '127.0.0.1:7999');
    assert.equal(config.databaseUrl, 'postgres://dev/db');
  });

  it('a stale stack is LOCAL_STACK_NOT_RUNNING, one line naming the file and the pid', () => {
    const dir = withStack(DEAD_PID);
    assert.throws(
      () => loadConfig({ projectDir: dir, env: {} }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.code, 'LOCAL_STACK_NOT_RUNNING');
        assert.match(error.message, new RegExp(`^the local stack is not running: \\S*stack\\.json was left by \`sluice dev\` \\(pid ${DEAD_PID}\\), which has exited; start it again with \`sluice dev\` \\(or set TEMPORAL_ADDRESS and DATABASE_URL\\)$`));
        return true;
      },
    );
  });

  it('a stale stack is ignored by sluice dev, and when Temporal and the database are set otherwise', () => {
    const dir = withStack(DEAD_PID);
    const ignored = loadConfig({ projectDir: dir, env: {}, staleStack: 'ignore' });
    assert.equal(ignored.temporal.address, '127.0.0.1:7233', 'not the stale address');
    assert.equal(ignored.databaseUrl, undefined);
    const set = loadConfig({ projectDir: dir, env: { DATABASE_URL: 'postgres://x/y', TEMPORAL_ADDRESS: 'temporal:7233' } });
    assert.equal(set.temporal.address, 'temporal:7233');
  });
});
