/**
 * Integration: the `sftp` connector against a real OpenSSH server (Debian's sshd on a loopback port,
 * tests/helpers/sftp-server.ts), the real Temporal dev server and real PostgreSQL: a multi-chunk CSV
 * streamed and staged with exact rows; traversal (`..`, absolute paths, symlinks) refused; a missing
 * file, a wrong key and a pinned host key that does not match refused with their stable codes and no
 * secret in the message; `check()` / `sluice test-connections`; and a flow run from SFTP into Postgres
 * with rejects and exact counts, after which `after_load.move_to` has moved the remote file — and a
 * run that failed has not.
 *
 * Password authentication is not tested: the test sshd runs as the current user (root in CI) with
 * `UsePAM no`, where password logins need a real account password; key authentication is tested.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import pl from 'nodejs-polars';
import { RunFailedError, type Sluice } from '../../client/sluice';
import { AccessError, ConfigError, SourceError, TransientError } from '../../common/errors';
import type { SftpConnectorConfig, SluiceConfig } from '../../config/sluice-config';
import type { StageSourceRequest } from '../../connectors/connector';
import { SftpSource } from '../../connectors/sftp/sftp-source';
import { parseFlowSpec } from '../../flows/flow-spec';
import { testConnection } from '../../ops/test-connection';
import { createTestDatabase, freePort, runCli, startInProcessRunner, startTemporal, tempProject, testConfig, type InProcessRunner, type TestDatabase } from '../helpers/services';
import { sshdAvailable, startSftpServer, type SftpServer } from '../helpers/sftp-server';

const ORDERS_CSV = ['id,name,amount', '1,alpha,10', '2,beta,abc', '3,,5', '4,delta,-1', '5,eps,7', '6,"zeta, z",8'].join('\n');

const IMPORT_FLOW = `
name: sftp_orders
source: { connector: partner }
target: { connector: warehouse, table: public.sftp_orders }
fields:
  id:     { from: id, type: int64, required: true }
  name:   { from: name, type: string, required: true }
  amount: { from: amount, type: int64, check: "amount > 0" }
`;

const SPEC = parseFlowSpec(IMPORT_FLOW);

const skip = !sshdAvailable() && !process.env.CI ? 'sshd (openssh-server) is not installed; .ci/run installs it' : false;

describe('the sftp connector on a real OpenSSH server', { skip }, () => {
  let server: SftpServer;
  let base: SftpConnectorConfig;
  const project = mkdtempSync(path.join(os.tmpdir(), 'sluice-sftp-project-'));

  const source = (overrides: Partial<SftpConnectorConfig> = {}) => new SftpSource({ ...base, ...overrides }, 'partner', project);
  const request = (sourcePath: string, signal = new AbortController().signal): StageSourceRequest & { progress: number[] } => {
    const progress: number[] = [];
    return {
      sourcePath,
      spec: SPEC,
      stagingDir: mkdtempSync(path.join(os.tmpdir(), 'sluice-sftp-staging-')),
      chunkRows: 1000,
      onProgress: (p) => progress.push(p.rows),
      signal,
      progress,
    };
  };
  const put = (relative: string, text: string) => {
    const file = path.join(server.root, relative);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
  };
  /** Asserts `error` is `type` with `code`, and that no secret (the private key) leaks into its message. */
  const refused = (type: new (...args: never[]) => Error, code: string, message: RegExp) => (error: unknown) => {
    assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    assert.equal((error as { code?: string }).code, code);
    assert.match(error.message, message);
    assert.ok(!error.message.includes('PRIVATE KEY'), 'no key in the message');
    return true;
  };

  before(async () => {
    server = await startSftpServer();
    base = {
      kind: 'sftp',
      host: server.host,
      port: server.port,
      username: server.username,
      private_key: server.privateKey,
      root: server.root,
      host_key: server.hostKeyFingerprint,
      timeout_ms: 10_000,
    };
    put('orders/orders.csv', ORDERS_CSV);
  });

  after(async () => {
    await server?.stop();
  });

  it('streams a multi-chunk CSV (4 MB, many SFTP reads) and stages every row exactly', async () => {
    const rows = 120_000;
    const lines = ['id,name,amount'];
    for (let i = 1; i <= rows; i++) lines.push(`${i},"name ${i}, quoted",${i % 97}`);
    put('big/big.csv', `${lines.join('\n')}\n`);
    assert.ok(readFileSync(path.join(server.root, 'big/big.csv')).length > 3_000_000, 'larger than many SFTP read chunks');
    const req = request('big/big.csv');
    const staged = await source().stage(req);
    assert.equal(staged.rows, rows);
    assert.equal(staged.format, 'csv');
    assert.deepEqual(staged.columns, ['id', 'name', 'amount']);
    const frame = pl.readParquet(staged.files[0]!.path);
    assert.equal(frame.height, rows);
    assert.deepEqual(frame.row(0), ['1', 'name 1, quoted', '1']);
    assert.deepEqual(frame.row(rows - 1), [String(rows), `name ${rows}, quoted`, String(rows % 97)]);
    assert.equal(new Set(frame.getColumn('id').toArray()).size, rows, 'every id once');
    assert.equal(existsSync(path.join(req.stagingDir, 'download')), false, 'the downloaded copy is deleted');
    assert.deepEqual(req.progress, [rows]);
  });

  it('reads sftp://host:port/… URIs for the configured server, and NDJSON as for files', async () => {
    put('orders/orders.ndjson', '{"id": 1, "name": "a", "amount": 2}\n{"id": 2, "name": "b", "amount": 3}\n');
    const uri = `sftp://${server.host}:${server.port}${server.root}/orders/orders.ndjson`;
    const staged = await source().stage(request(uri));
    assert.deepEqual([staged.rows, staged.format], [2, 'ndjson']);
    await assert.rejects(
      source().stage(request(`sftp://elsewhere.example:${server.port}/x.csv`)),
      refused(SourceError, 'INVALID_SOURCE_PATH', /names elsewhere\.example:\d+, but connectors\.partner connects to 127\.0\.0\.1:\d+/),
    );
  });

  it('refuses paths outside the root: .., absolute paths elsewhere, symlinks resolved by the server', async () => {
    writeFileSync(path.join(path.dirname(server.root), 'secret.csv'), 'a\n1\n');
    symlinkSync(path.join(path.dirname(server.root), 'secret.csv'), path.join(server.root, 'link.csv'));
    const outside = new RegExp(`is outside connectors\\.partner's root ${server.root}; use a path under it`);
    await assert.rejects(source().stage(request('../secret.csv')), refused(SourceError, 'PATH_OUTSIDE_ROOT', outside));
    await assert.rejects(source().stage(request('/etc/passwd')), refused(SourceError, 'PATH_OUTSIDE_ROOT', outside));
    await assert.rejects(source().stage(request('orders/../../secret.csv')), refused(SourceError, 'PATH_OUTSIDE_ROOT', outside));
    await assert.rejects(
      source().stage(request('link.csv')),
      refused(SourceError, 'PATH_OUTSIDE_ROOT', new RegExp(`^source_path "link.csv" links to ${path.dirname(server.root)}/secret.csv, outside connectors\\.partner's root ${server.root}$`)),
    );
    await assert.rejects(source().stage(request('orders')), refused(SourceError, 'SOURCE_NOT_A_FILE', /^source_path "orders" is not a file$/));
  });

  it('a missing file is SOURCE_NOT_FOUND, like the local connector', async () => {
    await assert.rejects(
      source().stage(request('orders/nope.csv')),
      refused(SourceError, 'SOURCE_NOT_FOUND', new RegExp(`^source file "orders/nope.csv" does not exist under connectors\\.partner's root ${server.root}$`)),
    );
  });

  it('a key the server does not authorise is AUTH_FAILED, without the key in the message', async () => {
    await assert.rejects(
      source({ private_key: server.wrongPrivateKey }).stage(request('orders/orders.csv')),
      refused(AccessError, 'AUTH_FAILED', new RegExp(`^connectors\\.partner: the SFTP server at 127\\.0\\.0\\.1:${server.port} refused user "${server.username}" \\(.*authentication methods failed\\)`)),
    );
    const checked = await source({ private_key: server.wrongPrivateKey }).check();
    assert.deepEqual([checked.ok, checked.code], [false, 'AUTH_FAILED']);
    assert.match(checked.reason, /refused user/);
  });

  it('a host key other than the pinned one is refused, naming both fingerprints', async () => {
    const pinned = `SHA256:${'A'.repeat(43)}`;
    await assert.rejects(
      source({ host_key: pinned }).stage(request('orders/orders.csv')),
      refused(
        ConfigError,
        'HOST_KEY_MISMATCH',
        new RegExp(`^connectors\\.partner: the SFTP server at 127\\.0\\.0\\.1:${server.port} presented host key ${server.hostKeyFingerprint.replace(/[+/]/g, '\\$&')}, but connectors\\.partner\\.host_key pins ${pinned}`),
      ),
    );
    // insecure-accept-any connects to whatever answers.
    assert.equal((await source({ host_key: 'insecure-accept-any' }).stage(request('orders/orders.csv'))).rows, 6);
  });

  it('a file the server refuses to open is PERMISSION_DENIED (internal-sftp -P open denies it even to root)', async () => {
    const denying = await startSftpServer({ sftpArgs: '-P open' });
    try {
      writeFileSync(path.join(denying.root, 'orders.csv'), ORDERS_CSV);
      const config = { ...base, port: denying.port, private_key: denying.privateKey, host_key: denying.hostKeyFingerprint, root: denying.root };
      await assert.rejects(
        new SftpSource(config, 'partner', project).stage(request('orders.csv')),
        refused(AccessError, 'PERMISSION_DENIED', new RegExp(`^connectors\\.partner: user "${server.username}" at 127\\.0\\.0\\.1:${denying.port} may not access orders\\.csv \\(permission denied\\)`)),
      );
    } finally {
      await denying.stop();
    }
  });

  it('a refused connection is CONNECTION_LOST (retried), and never crashes the process', async () => {
    const port = await freePort();
    await assert.rejects(
      source({ port }).stage(request('orders/orders.csv')),
      refused(TransientError, 'CONNECTION_LOST', new RegExp(`^connectors\\.partner: the connection to the SFTP server at 127\\.0\\.0\\.1:${port} failed or dropped`)),
    );
  });

  it('a connection dropped mid-download is CONNECTION_LOST (retried), and the process lives on', async () => {
    const line = `${'x'.repeat(200)}\n`;
    put('big/huge.csv', `a\n${line.repeat(120_000)}`); // 24 MB: progress is reported every 8 MB
    let dropped = 0;
    const req = request('big/huge.csv');
    req.onProgress = () => {
      if (dropped === 0) dropped = server.dropConnections();
    };
    await assert.rejects(
      source().stage(req),
      refused(TransientError, 'CONNECTION_LOST', new RegExp(`^connectors\\.partner: the connection to the SFTP server at 127\\.0\\.0\\.1:${server.port} failed or dropped`)),
    );
    assert.equal(dropped, 1, 'one session was open and was killed');
    // The server still takes new connections, and the same source stages on the next attempt.
    assert.equal((await source().stage(request('orders/orders.csv'))).rows, 6);
  });

  it('cancellation mid-download stops promptly, closes the session and leaves no scratch file', async () => {
    put('big/huge2.csv', `a\n${`${'y'.repeat(200)}\n`.repeat(120_000)}`); // 24 MB
    const controller = new AbortController();
    const req = request('big/huge2.csv', controller.signal);
    let abortedAt = 0;
    req.onProgress = () => {
      if (abortedAt === 0) {
        abortedAt = Date.now();
        controller.abort();
      }
    };
    await assert.rejects(source().stage(req), (error: unknown) => {
      assert.equal((error as Error).name, 'AbortError');
      return true;
    });
    assert.ok(abortedAt > 0, 'aborted mid-download');
    assert.ok(Date.now() - abortedAt < 2_000, `stopped ${Date.now() - abortedAt} ms after the abort`);
    assert.equal(existsSync(path.join(req.stagingDir, 'download')), false, 'no scratch file left');
  });

  it('check() and test-connections: OK with the right key; a missing root, a wrong key and a wrong host key each say what to fix', async () => {
    const checked = await source().check();
    assert.equal(checked.ok, true, checked.reason);
    const options = { projectDir: project, timeoutMs: 10_000 };
    const ok = await testConnection('partner', base, options);
    assert.equal(ok.ok, true, ok.reason);
    assert.equal(ok.kind, 'sftp');
    assert.equal(ok.reason, `connected to 127.0.0.1:${server.port} as ${server.username}, host key ${server.hostKeyFingerprint}, root ${server.root} is a folder`);
    const noRoot = await testConnection('partner', { ...base, root: `${server.root}/missing` }, options);
    assert.deepEqual([noRoot.ok, noRoot.reason], [false, `connectors.partner.root "${server.root}/missing" does not exist on 127.0.0.1:${server.port}; create it or fix root`]);
    const wrongKey = await testConnection('partner', { ...base, private_key: server.wrongPrivateKey }, options);
    assert.equal(wrongKey.ok, false);
    assert.match(wrongKey.reason, /refused user/);
    assert.ok(!wrongKey.reason.includes('PRIVATE KEY'));
    const wrongHost = await testConnection('partner', { ...base, host_key: `SHA256:${'B'.repeat(43)}` }, options);
    assert.equal(wrongHost.ok, false);
    assert.match(wrongHost.reason, /presented host key SHA256:/);
  });

  it('a private key ssh2 cannot read is INVALID_CONFIG, without the key in the message', async () => {
    const checked = await source({ private_key: '-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-key\n-----END OPENSSH PRIVATE KEY-----\n' }).check();
    assert.deepEqual([checked.ok, checked.code], [false, 'INVALID_CONFIG']);
    assert.match(checked.reason, /^connectors\.partner: the private key cannot be used \(.+\); check connectors\.partner\.private_key or private_key_file/);
    assert.doesNotMatch(checked.reason, /not-a-key/);
  });

  it('sluice test-connections checks sftp connectors through their check(): exit 1 for a refused key, no key in the output', async () => {
    const dir = tempProject();
    const connector = (key: string) =>
      `{ kind: sftp, host: 127.0.0.1, port: ${server.port}, username: ${server.username}, private_key: "\${env:${key}}", root: "${server.root}", host_key: "${server.hostKeyFingerprint}" }`;
    writeFileSync(path.join(dir, 'sluice.config.yaml'), `connectors:\n  partner: ${connector('PARTNER_KEY')}\n  partner_wrongkey: ${connector('WRONG_KEY')}\n`);
    const result = await runCli(['test-connections', '--only', 'partner,partner_wrongkey', '--json'], {
      cwd: dir,
      env: { ...process.env, SLUICE_ENV: '', SLUICE_STATE_DIR: path.join(dir, '.sluice'), PARTNER_KEY: server.privateKey, WRONG_KEY: server.wrongPrivateKey },
    });
    assert.equal(result.code, 1, result.stderr);
    const out = JSON.parse(result.stdout) as { checks: { connector: string; kind: string; status: string; reason: string }[] };
    assert.deepEqual(
      out.checks.map((c) => [c.connector, c.kind, c.status]),
      [
        ['partner', 'sftp', 'OK'],
        ['partner_wrongkey', 'sftp', 'FAILED'],
      ],
    );
    assert.match(out.checks[1]!.reason, new RegExp(`^connectors\\.partner_wrongkey: the SFTP server at 127\\.0\\.0\\.1:${server.port} refused user "${server.username}"`));
    assert.ok(!result.stdout.includes('PRIVATE KEY') && !result.stderr.includes('PRIVATE KEY'), 'no key in the output');
  });

  it('afterLoad is idempotent: a retry after the move reports the same place and moves nothing', async () => {
    put('retry/in.csv', ORDERS_CSV);
    const connector = source({ root: `${server.root}/retry`, after_load: { move_to: 'done/{date}' } });
    const first = await connector.afterLoad!({ sourcePath: 'in.csv', date: '2026-12-01' });
    const again = await connector.afterLoad!({ sourcePath: 'in.csv', date: '2026-12-01' });
    assert.deepEqual([first, again], [{ movedTo: 'done/2026-12-01/in.csv' }, { movedTo: 'done/2026-12-01/in.csv' }]);
    assert.equal(readFileSync(path.join(server.root, 'retry/done/2026-12-01/in.csv'), 'utf8'), ORDERS_CSV);
    assert.equal(existsSync(path.join(server.root, 'retry/done/2026-12-01/in.1.csv')), false);
    await assert.rejects(
      connector.afterLoad!({ sourcePath: 'gone.csv', date: '2026-12-01' }),
      refused(SourceError, 'SOURCE_NOT_FOUND', /^source file "gone.csv" is no longer under connectors\.partner's root .+ and not in done\/2026-12-01\/, so it was not moved$/),
    );
    assert.equal(source().afterLoad, undefined, 'no after_load, no hook');
  });

  it('private_key_file reads the key from a file under the project dir', async () => {
    writeFileSync(path.join(project, 'partner.key'), server.privateKey, { mode: 0o600 });
    const staged = await source({ private_key: undefined, private_key_file: 'partner.key' }).stage(request('orders/orders.csv'));
    assert.equal(staged.rows, 6);
  });

  describe('a flow run from SFTP into Postgres, with after_load', () => {
    let env: TestWorkflowEnvironment;
    let db: TestDatabase;
    let runner: InProcessRunner;
    let sluice: Sluice;
    let config: SluiceConfig;

    before(async () => {
      [env, db] = await Promise.all([startTemporal(), createTestDatabase()]);
      db.pool.on('error', () => undefined);
      config = testConfig({
        dir: tempProject(),
        databaseUrl: db.url,
        address: env.address,
        chunkRows: 2,
        connectors: {
          warehouse: { kind: 'postgres' },
          partner: { ...base, root: `${server.root}/inbox`, after_load: { move_to: 'archive/{date}/' } },
          partner_badmove: { ...base, root: `${server.root}/inbox`, after_load: { move_to: '../outside/' } },
        },
      });
      mkdirSync(path.join(server.root, 'inbox'), { recursive: true });
      runner = await startInProcessRunner(env, db, config);
      ({ sluice } = runner);
    });

    after(async () => {
      await runner?.stop();
      await env?.teardown();
      await db?.drop();
    });

    it('loads the CSV with exact counts and rejects, then moves the remote file to archive/<date>/', async () => {
      put('inbox/orders.csv', ORDERS_CSV);
      const version = await runner.publish(IMPORT_FLOW);
      const run = await sluice.run({ flowVersion: version, sourcePath: 'orders.csv' });
      const meta = await run.wait({ timeoutMs: 120_000, pollIntervalMs: 200 });
      assert.equal(meta.status, 'PARTIAL_FAILED');
      assert.deepEqual(meta.rows, { read: 6, mapped: 3, rejected: 3, written: 3 });
      assert.deepEqual(meta.rejects.by_rule, { 'amount:type': 1, 'name:required': 1, 'amount:check': 1 });
      assert.equal(meta.warnings, undefined);
      const rows = await db.pool.query('SELECT id::int, name, amount::int FROM public.sftp_orders ORDER BY id');
      assert.deepEqual(rows.rows, [
        { id: 1, name: 'alpha', amount: 10 },
        { id: 5, name: 'eps', amount: 7 },
        { id: 6, name: 'zeta, z', amount: 8 },
      ]);
      const rejects = await db.pool.query('SELECT source_path, row_number::int, record, errors FROM public.sftp_orders_rejects ORDER BY row_number');
      assert.deepEqual(
        rejects.rows.map((r) => [r.source_path, r.row_number, r.errors[0].rule]),
        [
          ['orders.csv', 2, 'type'],
          ['orders.csv', 3, 'required'],
          ['orders.csv', 4, 'check'],
        ],
      );
      const date = meta.steps.sync_source!.started_at.slice(0, 10);
      assert.equal(meta.steps.sync_target?.source_moved_to, `archive/${date}/orders.csv`);
      assert.equal(existsSync(path.join(server.root, 'inbox/orders.csv')), false, 'moved away');
      assert.equal(readFileSync(path.join(server.root, `inbox/archive/${date}/orders.csv`), 'utf8'), ORDERS_CSV);

      // The same name again the same day: archived beside the first, never over it.
      put('inbox/orders.csv', ORDERS_CSV.replace('1,alpha,10', '7,eta,1'));
      const again = await sluice.run({ flowVersion: version, sourcePath: 'orders.csv', forceRerun: true });
      const againMeta = await again.wait({ timeoutMs: 120_000, pollIntervalMs: 200 });
      assert.equal(againMeta.steps.sync_target?.source_moved_to, `archive/${date}/orders.1.csv`);
      assert.equal(readFileSync(path.join(server.root, `inbox/archive/${date}/orders.csv`), 'utf8'), ORDERS_CSV);
    });

    it('a move that fails does not undo the load: the run keeps its status, with an AFTER_LOAD_FAILED warning', async () => {
      put('inbox/good.csv', 'id,name,amount\n1,a,2\n2,b,3\n');
      const version = await runner.publish(IMPORT_FLOW.replaceAll('sftp_orders', 'sftp_badmove').replace('connector: partner', 'connector: partner_badmove'));
      const run = await sluice.run({ flowVersion: version, sourcePath: 'good.csv' });
      const meta = await run.wait({ timeoutMs: 120_000, pollIntervalMs: 200 });
      assert.equal(meta.status, 'SUCCEEDED');
      assert.deepEqual(meta.rows, { read: 2, mapped: 2, rejected: 0, written: 2 });
      assert.deepEqual(meta.warnings, [
        {
          code: 'AFTER_LOAD_FAILED',
          step: 'sync_target',
          message: `the rows were loaded, but the source file was not moved by the connector's after_load: connectors.partner_badmove.after_load.move_to "../outside/" is outside the root ${server.root}/inbox; use a folder under it`,
        },
      ]);
      assert.equal(meta.steps.sync_target?.source_moved_to, undefined);
      assert.equal(existsSync(path.join(server.root, 'inbox/good.csv')), true, 'still there');
      assert.equal((await db.pool.query('SELECT count(*)::int AS n FROM public.sftp_badmove')).rows[0].n, 2);
    });

    it('a run that FAILED leaves the remote file where it was', async () => {
      put('inbox/ragged.csv', 'id,name,amount\n1,a,2\n2,"b",3,4\n');
      const version = await runner.publish(IMPORT_FLOW.replaceAll('sftp_orders', 'sftp_ragged'));
      const run = await sluice.run({ flowVersion: version, sourcePath: 'ragged.csv' });
      await assert.rejects(run.wait({ timeoutMs: 120_000, pollIntervalMs: 200 }), (error: unknown) => {
        assert.ok(error instanceof RunFailedError, String(error));
        assert.deepEqual([error.status, error.error.code, error.error.step], ['FAILED', 'UNREADABLE_SOURCE', 'sync_source']);
        return true;
      });
      assert.equal(existsSync(path.join(server.root, 'inbox/ragged.csv')), true, 'not moved');
      assert.equal(existsSync(path.join(server.root, `inbox/archive/${new Date().toISOString().slice(0, 10)}/ragged.csv`)), false, 'not archived');
    });
  });
});
