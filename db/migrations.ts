/**
 * Versioned migrations of Sluice's own tables, all in the `sluice` schema of the metadata database.
 * Each migration runs once, in its own transaction, recorded in `sluice.schema_migrations`.
 * A session-level advisory lock makes concurrent `migrate` calls (two workers starting) safe.
 */
import type { Pool } from 'pg';
import { withPgClient } from './pg-pool';

interface Migration {
  version: number;
  name: string;
  sql: string;
}

const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'flow versions',
    sql: `
      CREATE TABLE sluice.flow_versions (
        flow        text        NOT NULL,
        version     integer     NOT NULL,
        content_hash text       NOT NULL,
        spec        jsonb       NOT NULL,
        source_text text        NOT NULL,
        source_file text,
        created_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (flow, version),
        UNIQUE (flow, content_hash)
      );
      -- Flow versions are immutable: no API updates or deletes them, and the database refuses too.
      CREATE FUNCTION sluice.refuse_flow_version_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'flow versions are immutable (%:v%)', OLD.flow, OLD.version;
      END $$;
      CREATE TRIGGER flow_versions_immutable BEFORE UPDATE OR DELETE ON sluice.flow_versions
        FOR EACH ROW EXECUTE FUNCTION sluice.refuse_flow_version_change();
    `,
  },
  {
    version: 2,
    name: 'events, webhooks and deliveries',
    sql: `
      -- Every event (run transitions, webhook.disabled), persisted before any delivery starts.
      -- id is deterministic per (execution, transition): a retried publishEvent inserts nothing new.
      CREATE TABLE sluice.events (
        seq          bigserial   UNIQUE,
        id           text        PRIMARY KEY,
        type         text        NOT NULL,
        run_id       text,
        execution_id text,
        -- json, not jsonb: the exact text (key order) that is signed and sent
        payload      json        NOT NULL,
        created_at   timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX events_run ON sluice.events (run_id, seq);

      CREATE TABLE sluice.webhooks (
        id              text        PRIMARY KEY,
        url             text        NOT NULL,
        description     text,
        -- event types; empty means every type
        events          text[]      NOT NULL DEFAULT '{}',
        secret          text        NOT NULL,
        previous_secret text,
        previous_secret_expires_at timestamptz,
        disabled        boolean     NOT NULL DEFAULT false,
        disabled_reason text,
        disabled_at     timestamptz,
        -- first failure since the last success: an endpoint failing for gateway.webhooks.disable_after is disabled
        failing_since   timestamptz,
        created_at      timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        deleted_at      timestamptz
      );

      CREATE TABLE sluice.webhook_deliveries (
        id              text        PRIMARY KEY,
        webhook_id      text        NOT NULL REFERENCES sluice.webhooks (id),
        event_id        text        NOT NULL REFERENCES sluice.events (id),
        -- event (first delivery), redeliver, recover
        trigger         text        NOT NULL,
        -- pending, succeeded, failed
        status          text        NOT NULL DEFAULT 'pending',
        attempts        integer     NOT NULL DEFAULT 0,
        next_attempt_at timestamptz,
        last_error      text,
        created_at      timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX webhook_deliveries_webhook ON sluice.webhook_deliveries (webhook_id, created_at DESC);
      CREATE INDEX webhook_deliveries_pending ON sluice.webhook_deliveries (status) WHERE status = 'pending';

      CREATE TABLE sluice.webhook_attempts (
        delivery_id   text        NOT NULL REFERENCES sluice.webhook_deliveries (id),
        attempt       integer     NOT NULL,
        attempted_at  timestamptz NOT NULL,
        http_status   integer,
        latency_ms    integer     NOT NULL,
        error         text,
        response      text,
        next_retry_at timestamptz,
        PRIMARY KEY (delivery_id, attempt)
      );
    `,
  },
  {
    version: 3,
    name: 'pipeline runs',
    sql: `
      -- One row per pipeline run execution (runPipeline workflow): RUNNING, then its final status and
      -- its whole state (job table, totals, email) as summary. A pipeline's requires read the latest finished run.
      CREATE TABLE sluice.pipeline_runs (
        id          text        PRIMARY KEY,           -- the Temporal execution (run) id
        pipeline    text        NOT NULL,
        environment text        NOT NULL,
        workflow_id text        NOT NULL,
        run_date    date,                              -- the pipeline run's {date}
        trigger     text        NOT NULL,              -- manual | schedule
        status      text        NOT NULL,              -- RUNNING, SUCCEEDED, PARTIAL_FAILED, FAILED, SKIPPED
        started_at  timestamptz NOT NULL,
        ended_at    timestamptz,
        summary     jsonb       NOT NULL DEFAULT '{}',
        -- set once the email went out, so a retried send does not send it twice
        email       jsonb
      );
      CREATE INDEX pipeline_runs_latest ON sluice.pipeline_runs (pipeline, environment, ended_at DESC);
      CREATE INDEX pipeline_runs_workflow ON sluice.pipeline_runs (workflow_id);
    `,
  },
  {
    version: 4,
    name: 'secrets',
    sql: `
      -- The secrets store (connectors/secret-store.ts): org-level secrets (owner '') set by admins, user-level ones
      -- owned by one user. value is an enc:v1 envelope (AES-256-GCM, the master key): a dump alone reveals nothing.
      CREATE TABLE sluice.secrets (
        scope      text        NOT NULL CHECK (scope IN ('org', 'user')),
        owner      text        NOT NULL,
        name       text        NOT NULL,
        value      text        NOT NULL CHECK (value LIKE 'enc:v1:%'),
        created_at timestamptz NOT NULL DEFAULT now(),
        created_by text        NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        updated_by text        NOT NULL,
        PRIMARY KEY (scope, owner, name),
        CHECK ((scope = 'org') = (owner = ''))
      );
    `,
  },
];

/** Arbitrary constant key of the advisory lock that serialises migrations. */
const MIGRATION_LOCK_KEY = 7_305_114_901;

/**
 * Applies every migration not yet recorded. Idempotent.
 * @returns the versions applied by this call (empty when up to date).
 * @throws TransientError `CONNECTION_LOST` when the database dropped the connection (a migration in progress is rolled back).
 */
export async function migrate(pool: Pool): Promise<number[]> {
  const applied: number[] = [];
  await withPgClient(pool, 'the metadata database', async (client) => {
    try {
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
      await client.query('CREATE SCHEMA IF NOT EXISTS sluice');
      await client.query(`CREATE TABLE IF NOT EXISTS sluice.schema_migrations (
        version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      const done = new Set((await client.query<{ version: number }>('SELECT version FROM sluice.schema_migrations')).rows.map((r) => r.version));
      for (const migration of MIGRATIONS) {
        if (done.has(migration.version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(migration.sql);
          await client.query('INSERT INTO sluice.schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
          await client.query('COMMIT');
          applied.push(migration.version);
        } catch (error) {
          await client.query('ROLLBACK');
          throw error;
        }
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    }
  });
  return applied;
}
