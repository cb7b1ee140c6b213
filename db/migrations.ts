/**
 * Versioned migrations of Sluice's own tables, all in the `sluice` schema of the metadata database.
 * Each migration runs once, in its own transaction, recorded in `sluice.schema_migrations`.
 * A session-level advisory lock makes concurrent `migrate` calls (two workers starting) safe.
 */
import type { Pool } from 'pg';

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
];

/** Arbitrary constant key of the advisory lock that serialises migrations. */
const MIGRATION_LOCK_KEY = 7_305_114_901;

/**
 * Applies every migration not yet recorded. Idempotent.
 * @returns the versions applied by this call (empty when up to date).
 */
export async function migrate(pool: Pool): Promise<number[]> {
  const client = await pool.connect();
  const applied: number[] = [];
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
    client.release();
  }
  return applied;
}
