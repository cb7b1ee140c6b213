/**
 * Integration: every source and every target connector runs the same conformance suite
 * (tests/helpers/connector-conformance.ts) against real servers: the shared PostgreSQL, a PostgreSQL this file
 * owns (password authentication, to be refused), versitygw (S3), an OpenSSH server (SFTP) and MariaDB.
 * A new connector kind adds one line at the bottom (and a fixture above it).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import type { RowDataPacket } from 'mysql2/promise';
import { Pool } from 'pg';
import type { S3ConnectorConfig, SftpConnectorConfig } from '../../config/sluice-config';
import { postgresConnectorAccess, type MysqlAccess } from '../../connectors/access-errors';
import { LocalSource } from '../../connectors/local/local-source';
import { createMysqlPool } from '../../connectors/mysql/mysql-pool';
import { MysqlSource } from '../../connectors/mysql/mysql-source';
import { MysqlTarget } from '../../connectors/mysql/mysql-target';
import { PostgresSource } from '../../connectors/postgres/postgres-source';
import { PostgresTarget } from '../../connectors/postgres/postgres-target';
import { createS3Client } from '../../connectors/s3/s3-client';
import { S3Source } from '../../connectors/s3/s3-source';
import { S3Target } from '../../connectors/s3/s3-target';
import { SftpSource } from '../../connectors/sftp/sftp-source';
import {
  conformanceCsv,
  CONFORMANCE_ROWS,
  largeCsv,
  sourceConformance,
  sourceSpec,
  targetConformance,
  targetSpec,
  type SourceKind,
  type TargetKind,
} from '../helpers/connector-conformance';
import { createMysqlTestDatabase, mysqlSkip, type MysqlTestDatabase } from '../helpers/mysql-server';
import { startOwnedPostgres, type OwnedPostgres } from '../helpers/owned-postgres';
import { s3ClientFor, startS3Server, type S3Server } from '../helpers/s3-server';
import { createTestDatabase, logger, PROJECT_DIR, type TestDatabase } from '../helpers/services';
import { sshdAvailable, startSftpServer } from '../helpers/sftp-server';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const WRONG_PASSWORD = 'wrong-secret-4711';
const QUERY = 'SELECT id, name, amount FROM conf_src WHERE batch = :source_path ORDER BY id';
const tempDir = (prefix: string) => mkdtempSync(path.join(os.tmpdir(), prefix));

/** A server started on first use, shared by the fixtures of this file, stopped at its end. */
function shared<T>(start: () => Promise<T>, stop: (value: T) => Promise<void>): () => Promise<T> {
  let started: Promise<T> | undefined;
  after(async () => {
    if (started) await stop(await started);
  });
  return () => (started ??= start());
}

const postgresDb = shared<TestDatabase>(createTestDatabase, (db) => db.drop());
const ownedPostgres = shared<OwnedPostgres>(startOwnedPostgres, (pg) => pg.destroy());
const s3Server = shared<S3Server>(() => startS3Server(PROJECT_DIR), (s3) => s3.stop());
const mysqlDb = shared<MysqlTestDatabase | string>(
  async () => (await mysqlSkip()) || createMysqlTestDatabase(),
  async (db) => {
    if (typeof db !== 'string') await db.drop();
  },
);

/** A URL with `password` (and `port`, when given) in place of its own. */
function withCredentials(url: string, change: { password?: string; port?: number }): string {
  const parsed = new URL(url);
  if (change.password !== undefined) parsed.password = change.password;
  if (change.port !== undefined) parsed.port = String(change.port);
  return parsed.toString();
}

function pgPool(url: string): Pool {
  const pool = new Pool({ connectionString: url, max: 4 });
  pool.on('error', () => undefined);
  return pool;
}

const s3Config = (server: S3Server, change: Partial<S3ConnectorConfig> = {}): S3ConnectorConfig => ({
  kind: 's3',
  endpoint: server.endpoint,
  region: server.region,
  force_path_style: true,
  access_key_id: server.accessKeyId,
  secret_access_key: server.secretAccessKey,
  ...change,
});

const s3Check = (config: S3ConnectorConfig) => ({ endpoint: config.endpoint!, region: config.region, buckets: [] });

// ---------------------------------------------------------------------------------------------------------------
// sources

const local: SourceKind = {
  credentials: false,
  async setup() {
    const root = tempDir('sluice-conformance-local-');
    writeFileSync(path.join(root, 'data.csv'), conformanceCsv());
    writeFileSync(path.join(root, 'big.csv'), largeCsv());
    const spec = sourceSpec({ format: 'csv' });
    return {
      source: () => new LocalSource(root, 'files'),
      spec,
      dataPath: 'data.csv',
      cancel: { spec, sourcePath: 'big.csv', chunkRows: 1_000 },
      missing: { spec, sourcePath: 'nope.csv', code: 'SOURCE_NOT_FOUND' },
      chunked: false,
      badConfig: () => new LocalSource(path.join(root, 'missing'), 'files'),
      teardown: async () => undefined,
    };
  },
};

const postgresSource: SourceKind = {
  async setup() {
    const [db, owned] = await Promise.all([postgresDb(), ownedPostgres()]);
    await db.pool.query('CREATE TABLE conf_src (id bigint PRIMARY KEY, batch text NOT NULL, name text, amount numeric(10,2))');
    await db.pool.query(
      `INSERT INTO conf_src SELECT i, 'b1', CASE WHEN i = 7 THEN 'seven, "quoted"' ELSE 'name ' || i END, i + 0.25 FROM generate_series(1, ${CONFORMANCE_ROWS}) AS i`,
    );
    const wrongUrl = withCredentials(owned.url, { password: WRONG_PASSWORD });
    const deadUrl = withCredentials(db.url, { port: 1 });
    const pools = [pgPool(db.url), pgPool(wrongUrl), pgPool(deadUrl)];
    const [pool, wrong, dead] = pools as [Pool, Pool, Pool];
    const spec = sourceSpec({ query: QUERY });
    return {
      source: () => new PostgresSource(pool, 'warehouse', QUERY, 100_000, postgresConnectorAccess('warehouse', db.url, '')),
      spec,
      dataPath: 'b1',
      cancel: { spec, sourcePath: 'b1', chunkRows: 100 },
      missing: { spec: sourceSpec({ query: 'SELECT id FROM conf_nope WHERE batch = :source_path' }), sourcePath: 'b1', code: 'INVALID_QUERY' },
      chunked: true,
      badCredentials: { source: () => new PostgresSource(wrong, 'warehouse', QUERY, 100_000, postgresConnectorAccess('warehouse', wrongUrl, '')), secret: WRONG_PASSWORD },
      badConfig: () => new PostgresSource(dead, 'warehouse', QUERY, 100_000, postgresConnectorAccess('warehouse', deadUrl, '')),
      teardown: async () => {
        await Promise.all(pools.map((p) => p.end()));
      },
    };
  },
};

const s3Source: SourceKind = {
  async setup() {
    const server = await s3Server();
    const admin = s3ClientFor(server);
    await admin.send(new CreateBucketCommand({ Bucket: 'conformance-src' }));
    await admin.send(new PutObjectCommand({ Bucket: 'conformance-src', Key: 'data.csv', Body: conformanceCsv() }));
    await admin.send(new PutObjectCommand({ Bucket: 'conformance-src', Key: 'big.csv', Body: largeCsv() }));
    admin.destroy();
    const good = s3Config(server);
    const wrong = s3Config(server, { secret_access_key: WRONG_PASSWORD });
    const dead = s3Config(server, { endpoint: 'http://127.0.0.1:1' });
    const clients = [good, wrong, dead].map((c) => createS3Client(c, 'lake'));
    const [client, wrongClient, deadClient] = clients as [(typeof clients)[0], (typeof clients)[0], (typeof clients)[0]];
    const spec = sourceSpec();
    return {
      source: () => new S3Source(client, 'lake', { ...s3Check(good), buckets: [{ bucket: 'conformance-src', usedBy: 'staging.s3' }] }),
      spec,
      dataPath: 's3://conformance-src/data.csv',
      cancel: { spec, sourcePath: 's3://conformance-src/big.csv', chunkRows: 1_000 },
      missing: { spec, sourcePath: 's3://conformance-src/nope.csv', code: 'SOURCE_NOT_FOUND' },
      chunked: false,
      badCredentials: { source: () => new S3Source(wrongClient, 'lake', s3Check(wrong)), secret: WRONG_PASSWORD },
      badConfig: () => new S3Source(deadClient, 'lake', s3Check(dead)),
      teardown: async () => clients.forEach((c) => c.destroy()),
    };
  },
};

const sftpSource: SourceKind = {
  async setup() {
    if (!sshdAvailable() && !process.env.CI) return 'sshd (openssh-server) is not installed; .ci/run installs it';
    const server = await startSftpServer();
    mkdirSync(path.join(server.root, 'in'), { recursive: true });
    writeFileSync(path.join(server.root, 'in', 'data.csv'), conformanceCsv());
    writeFileSync(path.join(server.root, 'in', 'big.csv'), largeCsv());
    const project = tempDir('sluice-conformance-sftp-');
    const base: SftpConnectorConfig = {
      kind: 'sftp',
      host: server.host,
      port: server.port,
      username: server.username,
      private_key: server.privateKey,
      root: server.root,
      host_key: server.hostKeyFingerprint,
      timeout_ms: 10_000,
    };
    const spec = sourceSpec();
    return {
      source: () => new SftpSource(base, 'partner', project),
      spec,
      dataPath: 'in/data.csv',
      cancel: { spec, sourcePath: 'in/big.csv', chunkRows: 1_000 },
      missing: { spec, sourcePath: 'in/nope.csv', code: 'SOURCE_NOT_FOUND' },
      chunked: false,
      // A line of the refused key's body: it must never appear.
      badCredentials: { source: () => new SftpSource({ ...base, private_key: server.wrongPrivateKey }, 'partner', project), secret: server.wrongPrivateKey.split('\n')[2]! },
      badConfig: () => new SftpSource({ ...base, root: `${server.root}/missing` }, 'partner', project),
      teardown: () => server.stop(),
    };
  },
};

const mysqlSource: SourceKind = {
  async setup() {
    const db = await mysqlDb();
    if (typeof db === 'string') return db;
    await db.connection.query('CREATE TABLE conf_src (id bigint NOT NULL PRIMARY KEY, batch varchar(10) NOT NULL, name text, amount decimal(10,2))');
    const values = Array.from({ length: CONFORMANCE_ROWS }, (_, n) => [n + 1, 'b1', n + 1 === 7 ? 'seven, "quoted"' : `name ${n + 1}`, `${n + 1}.25`]);
    await db.connection.query('INSERT INTO conf_src VALUES ?', [values]);
    const wrongUrl = withCredentials(db.url, { password: WRONG_PASSWORD });
    const deadUrl = withCredentials(db.url, { port: 1 });
    const pools = [db.url, wrongUrl, deadUrl].map((url) => createMysqlPool(url, { label: 'mysql connector "shop"', logger, connectTimeoutMs: 3_000 }));
    const [pool, wrong, dead] = pools as [(typeof pools)[0], (typeof pools)[0], (typeof pools)[0]];
    const access = (url: string): MysqlAccess => ({ kind: 'mysql', connector: 'shop', url });
    const spec = sourceSpec({ query: QUERY });
    return {
      source: () => new MysqlSource(pool, 'shop', QUERY, access(db.url)),
      spec,
      dataPath: 'b1',
      cancel: { spec, sourcePath: 'b1', chunkRows: 100 },
      missing: { spec: sourceSpec({ query: 'SELECT id FROM conf_nope WHERE batch = :source_path' }), sourcePath: 'b1', code: 'INVALID_QUERY' },
      chunked: true,
      badCredentials: { source: () => new MysqlSource(wrong, 'shop', QUERY, access(wrongUrl)), secret: WRONG_PASSWORD },
      badConfig: () => new MysqlSource(dead, 'shop', QUERY, access(deadUrl)),
      teardown: async () => {
        await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
      },
    };
  },
};

// ---------------------------------------------------------------------------------------------------------------
// targets

const postgresTarget: TargetKind = {
  async setup() {
    const [db, owned] = await Promise.all([postgresDb(), ownedPostgres()]);
    const wrongUrl = withCredentials(owned.url, { password: WRONG_PASSWORD });
    const deadUrl = withCredentials(db.url, { port: 1 });
    const pools = [pgPool(db.url), pgPool(wrongUrl), pgPool(deadUrl)];
    const [pool, wrong, dead] = pools as [Pool, Pool, Pool];
    const count = async (table: string) => {
      const { rows } = await db.pool.query<{ n: string | null }>(`SELECT CASE WHEN to_regclass($1) IS NULL THEN NULL ELSE 1 END AS n`, [table]);
      if (rows[0]!.n === null) return 0;
      return Number((await db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);
    };
    return {
      target: () => new PostgresTarget(pool, 'warehouse', postgresConnectorAccess('warehouse', db.url, '')),
      spec: (name) => targetSpec({ table: `public.conf_${name}` }),
      count: async (name) => ({ rows: await count(`public.conf_${name}`), rejects: await count(`public.conf_${name}_rejects`) }),
      badCredentials: { target: () => new PostgresTarget(wrong, 'warehouse', postgresConnectorAccess('warehouse', wrongUrl, '')), secret: WRONG_PASSWORD },
      badConfig: () => new PostgresTarget(dead, 'warehouse', postgresConnectorAccess('warehouse', deadUrl, '')),
      teardown: async () => {
        await Promise.all(pools.map((p) => p.end()));
      },
    };
  },
};

const s3Target: TargetKind = {
  async setup() {
    const server = await s3Server();
    const admin = s3ClientFor(server);
    await admin.send(new CreateBucketCommand({ Bucket: 'conformance-dst' }));
    const good = s3Config(server);
    const wrong = s3Config(server, { secret_access_key: WRONG_PASSWORD });
    const dead = s3Config(server, { endpoint: 'http://127.0.0.1:1' });
    const clients = [good, wrong, dead].map((c) => createS3Client(c, 'lake'));
    const [client, wrongClient, deadClient] = clients as [(typeof clients)[0], (typeof clients)[0], (typeof clients)[0]];
    /** Data lines of the published objects under `<name>/` (temporary objects of an unfinished load are not published). */
    const count = async (name: string) => {
      const listed = await admin.send(new ListObjectsV2Command({ Bucket: 'conformance-dst', Prefix: `${name}/` }));
      const counts = { rows: 0, rejects: 0 };
      for (const object of listed.Contents ?? []) {
        if (object.Key!.includes('.sluice-tmp')) continue;
        const body = await (await admin.send(new GetObjectCommand({ Bucket: 'conformance-dst', Key: object.Key! }))).Body!.transformToString();
        const lines = body.trim().split('\n').length - 1;
        if (object.Key!.includes('_rejects')) counts.rejects += lines;
        else counts.rows += lines;
      }
      return counts;
    };
    return {
      target: () => new S3Target(client, 'lake', { check: { ...s3Check(good), buckets: [{ bucket: 'conformance-dst', usedBy: 'data_store.s3' }] } }),
      spec: (name) => targetSpec({ path: `s3://conformance-dst/${name}/{run_id}.csv` }),
      count,
      // The load's first call is a HEAD: a bare 403, which cannot say whether the credentials or a permission were refused.
      badCredentials: { target: () => new S3Target(wrongClient, 'lake', { check: s3Check(wrong) }), secret: WRONG_PASSWORD, loadCode: 'PERMISSION_DENIED' },
      badConfig: () => new S3Target(deadClient, 'lake', { check: s3Check(dead) }),
      teardown: async () => {
        clients.forEach((c) => c.destroy());
        admin.destroy();
      },
    };
  },
};

const mysqlTarget: TargetKind = {
  async setup() {
    const db = await mysqlDb();
    if (typeof db === 'string') return db;
    const wrongUrl = withCredentials(db.url, { password: WRONG_PASSWORD });
    const deadUrl = withCredentials(db.url, { port: 1 });
    const pools = [db.url, wrongUrl, deadUrl].map((url) => createMysqlPool(url, { label: 'mysql connector "shop"', logger, connectTimeoutMs: 3_000 }));
    const [pool, wrong, dead] = pools as [(typeof pools)[0], (typeof pools)[0], (typeof pools)[0]];
    const access = (url: string): MysqlAccess => ({ kind: 'mysql', connector: 'shop', url });
    const count = async (table: string) => {
      const [exists] = await db.connection.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?', [table]);
      if (Number(exists[0]!.n) === 0) return 0;
      const [rows] = await db.connection.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${table}\``);
      return Number(rows[0]!.n);
    };
    return {
      target: () => new MysqlTarget(pool, 'shop', access(db.url)),
      spec: (name) => targetSpec({ table: `conf_${name}` }),
      count: async (name) => ({ rows: await count(`conf_${name}`), rejects: await count(`conf_${name}_rejects`) }),
      badCredentials: { target: () => new MysqlTarget(wrong, 'shop', access(wrongUrl)), secret: WRONG_PASSWORD },
      badConfig: () => new MysqlTarget(dead, 'shop', access(deadUrl)),
      teardown: async () => {
        await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
      },
    };
  },
};

// ---------------------------------------------------------------------------------------------------------------
// one line per connector kind

sourceConformance('local', local);
sourceConformance('postgres', postgresSource);
sourceConformance('s3', s3Source);
sourceConformance('sftp', sftpSource);
sourceConformance('mysql', mysqlSource);

targetConformance('postgres', postgresTarget);
targetConformance('s3', s3Target);
targetConformance('mysql', mysqlTarget);
