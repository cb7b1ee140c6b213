/**
 * Integration: `sluice dev` always stops, and never attaches to what it did not start. As a child process on
 * the embedded default (the Temporal dev server and an embedded PostgreSQL as its children):
 * - SIGINT, then SIGTERM, to the `sluice dev` process alone (not its group) stop the worker, the gateway,
 *   PostgreSQL and the Temporal dev server, in that order, within a bound; no child survives; stack.json is gone;
 * - after a SIGKILL, the stale stack.json makes `sluice runs list` fail at once with one line, and the next
 *   `sluice dev` stops the servers the dead one left running before it starts its own;
 * - a port held by another process is an error naming it.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { findTemporalCli } from '../../local-stack/temporal-cli';
import { CLI_MAIN, freePort, logger, PROJECT_DIR, runCli, tempProject } from '../helpers/services';
import { processExists, readStack, startDevProcess, type DevProcess } from '../helpers/dev-process';

describe('sluice dev stops cleanly and refuses what it does not own', { timeout: 600_000 }, () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let ports: string[];
  const running: DevProcess[] = [];
  const stateDir = () => path.join(dir, '.sluice');

  before(async () => {
    dir = tempProject();
    chmodSync(dir, 0o755); // as root, the embedded PostgreSQL runs as the postgres user, which must reach its data dir
    env = { ...process.env, TEMPORAL_CLI: await findTemporalCli({ projectDir: PROJECT_DIR, logger }), SLUICE_LOG_LEVEL: 'warn' };
    delete env.DATABASE_URL;
    delete env.TEMPORAL_ADDRESS;
    delete env.SLUICE_STATE_DIR;
    ports = ['--temporal-port', String(await freePort()), '--ui-port', String(await freePort()), '--postgres-port', String(await freePort()), '--gateway-port', '0'];
  });

  after(() => {
    for (const dev of running) if (dev.child.exitCode === null) dev.child.kill('SIGKILL');
    const stack = dir ? readStack(stateDir()) : null;
    for (const child of stack?.children ?? []) if (processExists(child.pid)) process.kill(child.pid, 'SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const startDev = async (): Promise<{ dev: DevProcess; pids: number[] }> => {
    const dev = startDevProcess(process.execPath, [CLI_MAIN, 'dev', ...ports], { cwd: dir, env });
    running.push(dev);
    await dev.waitFor(/the stack is up/, 240_000);
    const stack = readStack(stateDir());
    assert.ok(stack, 'stack.json is written');
    assert.equal(stack.pid, dev.child.pid);
    assert.deepEqual(stack.children?.map((c) => c.name), ['temporal', 'postgres']);
    const pids = stack.children!.map((c) => c.pid);
    for (const pid of pids) assert.ok(processExists(pid), `server ${pid} runs`);
    return { dev, pids };
  };

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} to the sluice dev process stops worker, gateway, PostgreSQL, Temporal in order; no child survives`, async () => {
      const { dev, pids } = await startDev();
      const sent = Date.now();
      process.kill(dev.child.pid!, signal);
      const code = await dev.exited;
      const seconds = (Date.now() - sent) / 1000;
      assert.equal(code, 0, dev.output());
      assert.ok(seconds < 60, `stopped within 60 s (took ${seconds} s)`);
      const steps = dev.output().split('\n').filter((line) => /^ {2}stopped /.test(line)).map((line) => line.trim());
      assert.deepEqual(steps, ['stopped the worker', 'stopped the gateway', 'stopped PostgreSQL', 'stopped the Temporal dev server']);
      assert.match(dev.output(), new RegExp(`${signal}: stopping the local stack`));
      for (const pid of pids) assert.ok(!processExists(pid), `server ${pid} is gone`);
      assert.equal(readStack(stateDir()), null, 'stack.json is removed');
    });
  }

  it('after a SIGKILL: commands report the stale stack.json in one line at once; the next sluice dev stops the leftovers', async () => {
    const { dev, pids } = await startDev();
    process.kill(dev.child.pid!, 'SIGKILL');
    await dev.exited;
    // PostgreSQL outlives a SIGKILL of its parent (nothing can stop that); the Temporal dev server may die on its
    // closed stderr pipe soon after.
    assert.ok(processExists(pids[1]!), `PostgreSQL ${pids[1]} outlived the SIGKILL`);

    const started = Date.now();
    const listed = await runCli(['runs', 'list'], { cwd: dir, env });
    const seconds = (Date.now() - started) / 1000;
    assert.equal(listed.code, 2, listed.stderr);
    assert.equal(
      listed.stderr,
      `error: the local stack is not running: .sluice/stack.json was left by \`sluice dev\` (pid ${dev.child.pid}), which has exited; start it again with \`sluice dev\` (or set TEMPORAL_ADDRESS and DATABASE_URL)\n`,
    );
    assert.ok(seconds < 15, `reported without a connect timeout (took ${seconds} s)`);
    const flows = await runCli(['flows', 'list', '--json'], { cwd: dir, env });
    assert.equal(JSON.parse(flows.stdout).error.code, 'LOCAL_STACK_NOT_RUNNING');

    const next = await startDev();
    assert.match(next.dev.output(), new RegExp(`stopped PostgreSQL \\(pid ${pids[1]}\\) left running by a \`sluice dev\` that exited without stopping it`));
    for (const pid of pids) assert.ok(!processExists(pid), `leftover server ${pid} is stopped`);
    process.kill(next.dev.child.pid!, 'SIGINT');
    assert.equal(await next.dev.exited, 0);
    for (const pid of next.pids) assert.ok(!processExists(pid), `server ${pid} is gone`);
  });

  it('a stale stack.json (dead pid, no servers) is reported by runs list and flows list', async () => {
    mkdirSync(stateDir(), { recursive: true });
    const dead = 2 ** 22 + 12345; // above the default pid_max: no such process
    writeFileSync(path.join(stateDir(), 'stack.json'), JSON.stringify({ pid: dead, temporalAddress: '127.0.0.1:1', databaseUrl: 'postgres://x@127.0.0.1:1/x' }));
    const listed = await runCli(['runs', 'list'], { cwd: dir, env });
    assert.equal(listed.code, 2);
    assert.equal(listed.stderr.trim().split('\n').length, 1, listed.stderr);
    assert.match(listed.stderr, new RegExp(`left by \`sluice dev\` \\(pid ${dead}\\), which has exited`));
    rmSync(path.join(stateDir(), 'stack.json'));
  });

  it('a port held by another process is an error naming the port, not an attach', async () => {
    const held: Server = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => held.listen(port, '127.0.0.1', resolve));
    try {
      const args = [...ports];
      args[1] = String(port);
      const result = await runCli(['dev', ...args], { cwd: dir, env });
      assert.equal(result.code, 2, result.stdout + result.stderr);
      assert.match(result.stderr, new RegExp(`^error: port ${port} \\(the Temporal dev server\\) is already in use by another process on 127\\.0\\.0\\.1: .* choose another port with --temporal-port\\n$`));
      assert.equal(readStack(stateDir()), null, 'nothing started, no stack.json');
    } finally {
      await new Promise<void>((resolve) => held.close(() => resolve()));
    }
  });
});
