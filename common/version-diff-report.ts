/**
 * The report of `sluice flows diff` / `POST /v1/flows/diff` (workflows/diff-flow-versions.ts): two versions of one
 * flow run on ONE staged copy of a source_path, nothing written to the target.
 *
 * Imported by workflow code: no imports.
 */

/** Samples kept per section (newly rejected, newly accepted). */
export const DIFF_SAMPLE_SIZE = 20;
/** Samples kept per changed field. */
export const DIFF_FIELD_SAMPLE_SIZE = 5;

/** A row one version accepts and the other rejects, with the rejecting version's reasons. */
export interface DiffRowSample {
  /** 1-based source row number. */
  row: number;
  /** The source row's values as read. */
  record: Record<string, unknown>;
  /** Why the rejecting version rejected it. */
  errors: { field: string | null; rule: string; message: string }[];
}

/** One changed value of a row both versions accept: the match (key values or `{ row }`), A's value, B's value (as text). */
export interface DiffValueSample {
  match: Record<string, string | null>;
  old: string | null;
  new: string | null;
}

/** One spec change between the versions. */
export interface DiffSpecChange {
  /** `field_added`, `field_removed`, `type_changed`, `format_changed`, `from_changed`, `expr_changed`, `rule_added`, `rule_removed`, `rule_changed`, `check_added`, `check_removed`, `check_changed`, `dedupe_changed`, `target_changed`, `max_reject_ratio_changed`. */
  change: string;
  /** The target field, or null for flow-level changes. */
  field: string | null;
  /** For rule changes: `required`, `in`, `check`; for flow checks: the check's name; for the target: the key changed. */
  rule?: string;
  before?: unknown;
  after?: unknown;
}

export interface VersionDiffReport {
  flow: string;
  version_a: string;
  version_b: string;
  source_path: string;
  /** The workflow that computed it. */
  diff_id: string;
  rows: {
    read: number;
    a: { mapped: number; rejected: number };
    b: { mapped: number; rejected: number };
  };
  /** Rows A accepts and B rejects (B's reasons). */
  newly_rejected: { count: number; samples: DiffRowSample[] };
  /** Rows A rejects and B accepts (A's reasons). */
  newly_accepted: { count: number; samples: DiffRowSample[] };
  /** Rows both accept, matched by the flow's key (target.key or dedupe) when it is unique in both, else by source row number. */
  changed: {
    matched_by: 'key' | 'row';
    /** The key fields, or `['row']`. */
    match: string[];
    /** Why rows were matched by row number although the flow has a key (e.g. the key repeats); absent otherwise. */
    note?: string;
    /** Rows matched in both. */
    matched: number;
    /**
     * Accepted rows of A with no match among B's accepted rows (the newly rejected ones, plus any whose key changed),
     * and the reverse (the newly accepted ones, plus …).
     */
    only_in_a: number;
    only_in_b: number;
    /** Rows with at least one changed value. */
    rows_changed: number;
    /** Per field present in both versions, in B's field order. */
    fields: { field: string; changed: number; samples: DiffValueSample[] }[];
  };
  spec: DiffSpecChange[];
}
