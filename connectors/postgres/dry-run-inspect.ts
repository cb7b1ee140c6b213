/**
 * What a dry run asks a postgres target, in a READ ONLY transaction (nothing is created, written or locked for
 * writing): does the target table exist, how many rows does it hold (for `write: replace`), and how many of the
 * run's mapped keys are already in it (for `write: upsert`: those rows would be updated, the others inserted).
 *
 * Keys travel in batches of {@link KEY_BATCH_ROWS} as one JSON parameter (`json_to_recordset`), cast to the key
 * fields' column types in SQL, so a key matches exactly as `INSERT … ON CONFLICT (key)` would match it.
 */
import pl from 'nodejs-polars';
import type { Pool } from 'pg';
import { TargetError } from '../../common/errors';
import { withPgClient } from '../../db/pg-pool';
import type { FlowSpec } from '../../flows/flow-spec';
import { POSTGRES_TYPES } from '../../transform/field-types';
import { quoteIdent } from '../../transform/polars-sql';

/** Keys sent to Postgres per query. */
export const KEY_BATCH_ROWS = 20_000;

/** The answer of {@link inspectPostgresTarget}. */
export interface TargetInspection {
  tableExists: boolean;
  /** Rows in the table now; null unless asked (`countRows`). */
  existingRows: number | null;
  /** Mapped rows whose key is in the table now; null unless the flow upserts on a key. */
  existingKeys: number | null;
}

/**
 * @param table the quoted, qualified table (`"public"."orders"`).
 * @param mappedFiles local Parquet files of mapped rows (target fields), read one key batch at a time.
 * @param countRows whether to count the table's rows (a `replace` deletes them).
 * @throws TargetError `TARGET_SCHEMA_MISMATCH` (the table lacks a key column) or `TARGET_REJECTED_LOAD` (a key does not
 *   cast to the column's type, …): what the real load would also fail on.
 */
export async function inspectPostgresTarget(
  pool: Pool,
  label: string,
  spec: FlowSpec,
  table: string,
  mappedFiles: string[],
  countRows: boolean,
): Promise<TargetInspection> {
  return withPgClient(pool, label, async (client) => {
    await client.query('BEGIN READ ONLY');
    try {
      const found = await client.query<{ exists: boolean }>('SELECT to_regclass($1) IS NOT NULL AS exists', [table]);
      if (!found.rows[0]?.exists) return { tableExists: false, existingRows: countRows ? 0 : null, existingKeys: spec.target.write === 'upsert' ? 0 : null };
      let existingRows: number | null = null;
      if (countRows) existingRows = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);
      let existingKeys: number | null = null;
      const key = spec.target.write === 'upsert' ? spec.target.key : undefined;
      if (key && key.length > 0) {
        existingKeys = 0;
        const types = new Map(spec.fields.map((f) => [f.name, POSTGRES_TYPES[f.type]]));
        const record = key.map((k) => `${quoteIdent(k)} text`).join(', ');
        const match = key.map((k) => `t.${quoteIdent(k)} = k.${quoteIdent(k)}::${types.get(k) ?? 'text'}`).join(' AND ');
        const sql = `SELECT count(*) AS n FROM json_to_recordset($1::json) AS k(${record}) WHERE EXISTS (SELECT 1 FROM ${table} t WHERE ${match})`;
        for (const file of mappedFiles) {
          // Keys as text, cast back in SQL: the same text the load's COPY sends.
          const keys = pl.scanParquet(file).select(...key.map((k) => pl.col(k).cast(pl.Utf8))).collectSync();
          for (let offset = 0; offset < keys.height; offset += KEY_BATCH_ROWS) {
            const batch = keys.slice(offset, KEY_BATCH_ROWS);
            const json = batch.writeJSON({ format: 'json' }).toString('utf8');
            existingKeys += Number((await client.query<{ n: string }>(sql, [json])).rows[0]!.n);
          }
        }
      }
      return { tableExists: true, existingRows, existingKeys };
    } catch (error) {
      const code = (error as { code?: string }).code;
      // Privileges (42501) are the connector's PERMISSION_DENIED (access-errors.ts); other data and schema errors are the user's.
      if (typeof code === 'string' && /^(22|42)/.test(code) && code !== '42501') {
        throw new TargetError(
          code === '42703' ? 'TARGET_SCHEMA_MISMATCH' : 'TARGET_REJECTED_LOAD',
          `a dry run could not compare the flow's keys (${(spec.target.key ?? []).join(', ')}) with ${table}: ${(error as Error).message}; ` +
            `a real run would fail the same way: make the table's key columns the flow's fields and types`,
          { cause: error },
        );
      }
      throw error;
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
    }
  });
}
