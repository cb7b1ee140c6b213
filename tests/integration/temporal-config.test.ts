/**
 * Integration: docker/compose.yaml deploys the Temporal configuration the scale tests run. The four Temporal
 * services run the release the tests build (`temporalio/server:1.29.1`), mount docker/temporal and start with
 * `--config config/sluice --env sluice`; every variable Compose gives them is one docker/temporal/sluice.yaml
 * reads; and the real `temporal-server render-config` turns the file, with Compose's environment, into the
 * configuration Compose means (PostgreSQL `postgres:5432`, databases, shards, ports, dynamic config).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { it } from 'node:test';
import { parse } from 'yaml';
import { DEV_SERVER_DYNAMIC_CONFIG } from '../../local-stack/dev-server';
import { PROJECT_DIR } from '../helpers/services';
import { CLUSTER_SERVICES, findTemporalServer, TEMPORAL_CONFIG_DIR, TEMPORAL_SERVER_VERSION } from '../helpers/temporal-cluster';

const run = promisify(execFile);

interface ComposeService {
  image?: string;
  volumes?: string[];
  command?: string[];
  environment?: Record<string, string>;
}

const compose = parse(readFileSync(path.join(PROJECT_DIR, 'docker', 'compose.yaml'), 'utf8'), { merge: true }) as { services: Record<string, ComposeService> };
const template = readFileSync(path.join(PROJECT_DIR, TEMPORAL_CONFIG_DIR, 'sluice.yaml'), 'utf8');

/** `${NAME:-default}` → default (Compose's substitution with nothing set). */
const withDefaults = (value: string) => value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');

it('runs the four Temporal services of the tested release from docker/temporal', () => {
  const version = TEMPORAL_SERVER_VERSION.replace(/^v/, '');
  for (const service of CLUSTER_SERVICES) {
    const spec = compose.services[`temporal-${service}`];
    assert.ok(spec, `docker/compose.yaml has temporal-${service}`);
    assert.equal(spec.image, `temporalio/server:${version}`);
    assert.deepEqual(spec.volumes, ['./temporal:/etc/temporal/config/sluice:ro']);
    assert.match(spec.command!.join(' '), new RegExp(`temporal-server --root /etc/temporal --config config/sluice --env sluice --allow-no-auth start --service ${service}$`));
  }
  assert.match(compose.services['temporal-schema']!.image!, new RegExp(`^temporalio/admin-tools:${version.replace(/\./g, '\\.')}-`));
  assert.match(compose.services['temporal-setup']!.image!, new RegExp(`^temporalio/admin-tools:${version.replace(/\./g, '\\.')}-`));
});

it('gives the Temporal services only variables docker/temporal/sluice.yaml reads', () => {
  const read = new Set([...template.matchAll(/env "([A-Z_]+)"/g)].map((m) => m[1]));
  for (const service of CLUSTER_SERVICES) {
    const unknown = Object.keys(compose.services[`temporal-${service}`]!.environment ?? {}).filter((name) => !read.has(name));
    assert.deepEqual(unknown, [], `temporal-${service} sets variables the config never reads`);
  }
});

it('renders, with Compose environment, into the configuration Compose means', async () => {
  const server = await findTemporalServer();
  const env = Object.fromEntries(Object.entries(compose.services['temporal-history']!.environment!).map(([k, v]) => [k, withDefaults(String(v))]));
  const { stdout } = await run(server, ['--root', PROJECT_DIR, '--config', TEMPORAL_CONFIG_DIR, '--env', 'sluice', 'render-config'], {
    env: { ...env, BIND_ON_IP: '172.18.0.5' },
  });
  const config = parse(stdout) as {
    persistence: { numHistoryShards: number; datastores: Record<string, { sql: { pluginName: string; databaseName: string; connectAddr: string; user: string } }> };
    services: Record<string, { rpc: { grpcPort: number; membershipPort: number; httpPort: number; bindOnIP: string } }>;
    dynamicConfigClient: { filepath: string };
    global: { membership: { broadcastAddress: string } };
  };
  assert.equal(config.persistence.numHistoryShards, 4);
  const { default: persistence, visibility } = config.persistence.datastores;
  assert.deepEqual(
    [persistence!.sql, visibility!.sql].map((s) => ({ plugin: s.pluginName, db: s.databaseName, at: s.connectAddr, user: s.user })),
    [
      { plugin: 'postgres12', db: 'temporal', at: 'postgres:5432', user: 'sluice' },
      { plugin: 'postgres12', db: 'temporal_visibility', at: 'postgres:5432', user: 'sluice' },
    ],
  );
  assert.deepEqual(
    Object.fromEntries(CLUSTER_SERVICES.map((s) => {
      const { grpcPort, membershipPort, httpPort, bindOnIP } = config.services[s]!.rpc;
      return [s, { grpcPort, membershipPort, httpPort, bindOnIP }];
    })),
    {
      frontend: { grpcPort: 7233, membershipPort: 6933, httpPort: 7243, bindOnIP: '172.18.0.5' },
      history: { grpcPort: 7234, membershipPort: 6934, httpPort: 0, bindOnIP: '172.18.0.5' },
      matching: { grpcPort: 7235, membershipPort: 6935, httpPort: 0, bindOnIP: '172.18.0.5' },
      worker: { grpcPort: 7239, membershipPort: 6939, httpPort: 0, bindOnIP: '172.18.0.5' },
    },
  );
  assert.equal(config.global.membership.broadcastAddress, '');
  assert.equal(config.dynamicConfigClient.filepath, '/etc/temporal/config/sluice/dynamicconfig.yaml');
});

it('sets, in a dynamic config the real server validates, the settings the dev server runs with (eager activity dispatch)', async () => {
  const server = await findTemporalServer();
  const file = path.join(PROJECT_DIR, TEMPORAL_CONFIG_DIR, 'dynamicconfig.yaml');
  const { stdout, stderr } = await run(server, ['validate-dynamic-config', file]);
  assert.doesNotMatch(`${stdout}${stderr}`, /warning|error/i, 'temporal-server validate-dynamic-config');
  const settings = parse(readFileSync(file, 'utf8')) as Record<string, { value: unknown }[]>;
  // local-stack/dev-server.ts passes the same keys as --dynamic-config-value KEY=VALUE.
  const devServer = Object.fromEntries(
    DEV_SERVER_DYNAMIC_CONFIG.filter((_, i) => i % 2 === 1).map((pair) => [pair.split('=')[0]!, JSON.parse(pair.split('=')[1]!) as unknown]),
  );
  assert.deepEqual(Object.fromEntries(Object.entries(settings).map(([key, values]) => [key, values[0]!.value])), devServer);
});
