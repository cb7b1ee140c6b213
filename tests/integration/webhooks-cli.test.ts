/**
 * Integration: `sluice webhooks …` and `sluice gateway` as separate processes. The gateway process is
 * killed (SIGKILL) in the middle of a delivery's retry schedule and started again: the delivery
 * completes, nothing is lost, and the delivery log shows every attempt. Real Temporal, PostgreSQL,
 * an in-process run worker and a real HTTP receiver verifying signatures with `standardwebhooks`.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Webhook } from 'standardwebhooks';
import { createTestDatabase, startInProcessRunner, startTemporal, tempProject, testConfig, type InProcessRunner, type TestDatabase, runCli, CLI_MAIN, type CliResult } from '../helpers/services';



describe('sluice webhooks and a gateway restarted mid-schedule', { timeout: 300_000 }, () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let runner: InProcessRunner;
  let dir: string;
  let taskQueue: string;
  let receiver: Server;
  let receiverUrl: string;
  let status = 503;
  const received: Array<{ id: string; body: string; headers: Record<string, string>; status: number }> = [];
  const gateways: ChildProcess[] = [];

  const childEnv = () => ({
    ...process.env,
    DATABASE_URL: db.url,
    TEMPORAL_ADDRESS: env.address,
    SLUICE_TASK_QUEUE: taskQueue,
    SLUICE_STATE_DIR: path.join(dir, '.sluice'),
    SLUICE_LOG_LEVEL: 'warn',
  });

  const cli = (args: string[]): Promise<CliResult> => runCli(args, { cwd: dir, env: childEnv() });

  /** Starts `sluice gateway` and resolves with its URL once it listens. */
  const startGatewayProcess = async (): Promise<{ child: ChildProcess; url: string }> => {
    const child = spawn(process.execPath, [CLI_MAIN, 'gateway', '--port', '0'], { cwd: dir, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    gateways.push(child);
    let output = '';
    let errors = '';
    child.stderr!.on('data', (d: Buffer) => (errors += d.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        output += d.toString();
        const match = /gateway listening on (http:\/\/\S+)/.exec(output);
        if (match) resolve(match[1]!);
      });
      child.on('exit', (code) => reject(new Error(`sluice gateway exited with ${code}: ${errors}`)));
    });
    return { child, url };
  };

  const deliveriesOf = async (webhookId: string) => {
    const listed = await cli(['webhooks', 'deliveries', webhookId, '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    return JSON.parse(listed.stdout) as Array<{ id: string; event_id: string; status: string; attempts: Array<{ http_status: number | null; error: string | null }> }>;
  };

  const until = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  before(async () => {
    [env, db] = await Promise.all([startTemporal(), createTestDatabase()]);
    receiver = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      received.push({ id: headers['webhook-id']!, body: Buffer.concat(chunks).toString('utf8'), headers, status });
      res.writeHead(status).end();
    });
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    dir = tempProject();
    // Attempts 2 s apart: long enough to kill and restart the gateway between two of them.
    writeFileSync(
      path.join(dir, 'sluice.config.yaml'),
      [
        'connectors:',
        '  files: { kind: local, root: . }',
        '  warehouse: { kind: postgres }',
        'gateway:',
        '  host: 127.0.0.1',
        '  webhooks:',
        '    retry_schedule: ["0s", "2s", "2s", "2s", "2s", "2s", "2s", "2s"]',
        '    timeout: 5s',
        '    allow_http: true',
        '    allowlist: ["127.0.0.1"]',
        '',
      ].join('\n'),
    );
    writeFileSync(path.join(dir, 'ok.csv'), 'id,amount\n1,1\n2,2\n');
    const config = testConfig({ dir, databaseUrl: db.url, address: env.address, connectors: { files: { kind: 'local', root: '.' }, warehouse: { kind: 'postgres' } } });
    taskQueue = config.temporal.taskQueue;
    runner = await startInProcessRunner(env, db, config);
  });

  after(async () => {
    for (const child of gateways) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await runner?.stop();
    receiver?.closeAllConnections();
    await new Promise((r) => receiver?.close(r));
    await env?.teardown();
    await db?.drop();
  });

  it('refuses a private-address URL and an unknown event type (exit 2, clear message, nothing stored)', async () => {
    const privateUrl = await cli(['webhooks', 'add', 'https://10.0.0.8/hook']);
    assert.equal(privateUrl.code, 2, privateUrl.stderr);
    assert.match(privateUrl.stderr, /10\.0\.0\.8.*private/);
    assert.doesNotMatch(privateUrl.stderr, /\n\s+at /, 'no stack trace');
    const badEvent = await cli(['webhooks', 'add', `${receiverUrl}/hook`, '--events', 'run.done']);
    assert.equal(badEvent.code, 2);
    assert.match(badEvent.stderr, /unknown event type "run\.done"; known: run\.created/);
    const list = await cli(['webhooks', 'list', '--json']);
    assert.deepEqual(JSON.parse(list.stdout), []);
  });

  it('delivers through a gateway killed (SIGKILL) and restarted in the middle of the retry schedule, losing nothing', async () => {
    const added = await cli(['webhooks', 'add', `${receiverUrl}/hook`, '--events', 'run.succeeded', '--description', 'restart test', '--json']);
    assert.equal(added.code, 0, added.stderr);
    const hook = JSON.parse(added.stdout) as { id: string; secret: string; events: string[] };
    assert.deepEqual(hook.events, ['run.succeeded']);
    const human = await cli(['webhooks', 'list']);
    assert.match(human.stdout, new RegExp(`^${hook.id}  ${receiverUrl}/hook  events: run.succeeded  enabled$`, 'm'));

    let gateway = await startGatewayProcess();
    const version = await runner.publish(`
name: restart
source: { connector: files, format: csv }
target: { connector: warehouse, table: public.restart, write: append }
fields:
  id: { from: id, type: int64 }
`);
    const run = await runner.sluice.run({ flowVersion: version, sourcePath: 'ok.csv' });
    await run.wait();
    // The receiver is down: wait for the first failed attempt in the log, then kill the gateway.
    const first = await until('a failed attempt', async () => {
      const log = await deliveriesOf(hook.id);
      return log[0] && log[0].attempts.length >= 1 ? log[0] : undefined;
    });
    assert.equal(first.status, 'pending');
    assert.equal(first.attempts[0]!.http_status, 503);
    gateway.child.kill('SIGKILL');
    await once(gateway.child, 'exit');
    const attemptsBeforeRestart = received.length;
    // While no gateway runs, the next attempt's timer fires in Temporal and waits for a worker.
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal(received.length, attemptsBeforeRestart, 'nothing is sent while no gateway runs');
    status = 200;
    gateway = await startGatewayProcess();
    const delivered = await until('the delivery to succeed', async () => {
      const log = await deliveriesOf(hook.id);
      return log[0]?.status === 'succeeded' ? log[0] : undefined;
    });
    const codes = delivered.attempts.map((a) => a.http_status);
    assert.equal(codes.at(-1), 200);
    assert.ok(codes.slice(0, -1).every((c) => c === 503) && codes.length >= 2, `attempts ${codes.join(', ')}`);
    // Exactly one successful receipt of the event, and every receipt verifies.
    const hookReceipts = received.filter((r) => r.id === delivered.event_id);
    assert.equal(hookReceipts.filter((r) => r.status === 200).length, 1);
    assert.equal(hookReceipts.length, codes.length, 'every attempt in the log reached the receiver, and only those');
    const verifier = new Webhook(hook.secret);
    for (const r of hookReceipts) assert.equal((verifier.verify(r.body, r.headers) as { type: string }).type, 'run.succeeded');

    // Redeliver from the CLI: a new delivery of the same event.
    const redelivered = await cli(['webhooks', 'redeliver', hook.id, delivered.id, '--json']);
    assert.equal(redelivered.code, 0, redelivered.stderr);
    const again = JSON.parse(redelivered.stdout) as { id: string; trigger: string; event_id: string };
    assert.equal(again.trigger, 'redeliver');
    assert.equal(again.event_id, delivered.event_id);
    await until('the redelivery', async () => ((await deliveriesOf(hook.id)).find((d) => d.id === again.id && d.status === 'succeeded') ? true : undefined));
    assert.equal(received.filter((r) => r.id === delivered.event_id && r.status === 200).length, 2);
    const text = await cli(['webhooks', 'deliveries', hook.id]);
    assert.match(text.stdout, /#1 \S+  503 +\d+ ms  HTTP 503  next retry \S+/);

    const removed = await cli(['webhooks', 'rm', hook.id]);
    assert.equal(removed.code, 0);
    assert.equal(removed.stdout, `removed ${hook.id}\n`);
    assert.equal((await cli(['webhooks', 'rm', hook.id])).code, 2);
    gateway.child.kill('SIGTERM');
    const [code] = (await once(gateway.child, 'exit')) as [number | null];
    assert.equal(code, 0, 'the gateway stops cleanly on SIGTERM');
  });
});
