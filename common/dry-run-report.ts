/**
 * The report of a dry run (`metadata.dry_run_report`): what a real run of the same flow version on the same
 * source_path would do, computed by `activities/dry-run.ts` without writing anything to the target.
 *
 * ```json
 * { "rows": { "read": 1000, "mapped": 990, "rejected": 10 },
 *   "by_rule": [{ "field": "amount", "rule": "type", "count": 7 }, { "field": null, "rule": "dedupe", "count": 3 }],
 *   "samples": [{ "row": 12, "record": { "id": "12", "amount": "x" }, "errors": [{ "field": "amount", "rule": "type", "message": "…" }] }],
 *   "target": { "location": "warehouse:public.orders", "write": "upsert", "table_exists": true,
 *               "would_insert": 900, "would_update": 90, "existing_rows": 5000, "note": null } }
 * ```
 *
 * Imported by workflow code: no imports.
 */

/** Rejects of a dry run kept as samples (the first ones, by source row number). */
export const DRY_RUN_SAMPLE_SIZE = 20;

/** One reject error as stored with a reject. */
export interface DryRunRejectError {
  field: string | null;
  rule: string;
  message: string;
}

/** One sampled reject: its 1-based source row number, its original values and every reason. */
export interface DryRunSample {
  row: number;
  /** The source row's values as read (JSON object). */
  record: Record<string, unknown>;
  errors: DryRunRejectError[];
}

/** What the load would do to the target. */
export interface DryRunTargetPlan {
  /** `connector:table` (or the object path) the run would write to. */
  location: string;
  write: 'append' | 'upsert' | 'replace';
  /** Whether the target table exists now (a real run would create it); null when not a database target. */
  table_exists: boolean | null;
  /** Mapped rows a real run would insert as new rows. */
  would_insert: number;
  /** `upsert`: mapped rows whose key is already in the target (a real run updates them); 0 for append and replace; null when not computed. */
  would_update: number | null;
  /** `replace`: rows in the target now, which a real run would delete first; null otherwise or when unknown. */
  existing_rows: number | null;
  /**
   * `upsert`: mapped rows whose key another mapped row of the batch also has (nulls aside). Above 0 a real run fails
   * (`TARGET_REJECTED_LOAD`: Postgres cannot update a row twice in one statement); add `dedupe` on the key. Absent otherwise.
   */
  duplicate_keys?: number;
  /** How to read the numbers, e.g. "replace: the table's 500 rows would be deleted, then 990 inserted". */
  note: string;
}

export interface DryRunReport {
  rows: { read: number; mapped: number; rejected: number };
  /** Reject errors by (field, rule), most frequent first; `field` is null for flow-level checks, dedupe and a custom map. */
  by_rule: { field: string | null; rule: string; count: number }[];
  /** The first {@link DRY_RUN_SAMPLE_SIZE} rejects by source row number. */
  samples: DryRunSample[];
  target: DryRunTargetPlan;
}
