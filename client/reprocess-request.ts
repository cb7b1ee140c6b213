/**
 * Validating a reprocess request (`sluice run flow:vN --rejects-of <run-id>`, SDK `rejectsOf`, API `rejects_of`)
 * before its run starts, so a bad one is refused with a clear error instead of a FAILED run.
 *
 * The earlier run must exist, be a run of the same flow (any version) into the same target connector, be a real run
 * (not a dry run) that loaded (SUCCEEDED or PARTIAL_FAILED) with rejects; the flow version must have no custom map
 * (its output may drop the source row numbers a reprocess resolves rejects by), and its target must be able to
 * reprocess (postgres, mysql: the rejects are in a table the load can resolve them in, in its own transaction).
 *
 * @example
 * ```ts
 * const ref = await reprocessRequest({ getRun: (id) => sluice.getRun(id), versions: store, connectorKind: (c) => config.connectors[c]?.kind },
 *   await store.get('movies:v2'), 'movies-v1-8035273603c904cd');
 * // { runId: 'movies-v1-8035273603c904cd', executionId: '01a2…', flowVersion: 'movies:v1', sourcePath: 'movies.json' }
 * ```
 */
import { InvalidRequestError, TargetError } from '../common/errors';
import type { RejectsOfRef, RunMetadata, RunStatus } from '../common/run-model';
import type { FlowVersion } from '../flows/flow-versions';

/** Target connector kinds whose rejects a reprocess can read back and resolve in the load's transaction. */
export const REPROCESS_TARGET_KINDS: readonly string[] = ['postgres', 'mysql'];

/** What the validation reads: the earlier run, flow versions, and (when known) the kind of a connector. */
export interface ReprocessLookups {
  /** @throws InvalidRequestError `RUN_NOT_FOUND`. */
  getRun(id: string): Promise<{ status: RunStatus; metadata: RunMetadata | undefined }>;
  versions: { get(id: string): Promise<FlowVersion> };
  /** The kind of connector `name` in the workers' config; undefined when this client has no config (the worker checks). */
  connectorKind?(name: string): string | undefined;
}

const invalid = (rejectsOf: string, why: string, details: Record<string, unknown> = {}) =>
  new TargetError('REJECTS_OF_INVALID', `cannot reprocess the rejects of run ${rejectsOf}: ${why}`, { details: { rejects_of: rejectsOf, ...details } });

/**
 * Checks a reprocess of `rejectsOf`'s rejects with `version`, and names what it reads.
 * @returns the earlier run's loaded execution and the original source_path of its rows (for a reprocess of a
 *   reprocess: the first run's).
 * @throws TargetError `REJECTS_OF_INVALID` (no such run, still running or not loaded, a dry run, no rejects, another
 *   flow or target connector), `REJECTS_OF_UNSUPPORTED` (a custom map, or a target kind other than postgres/mysql);
 *   InvalidRequestError `INVALID_SOURCE_PATH` (an empty run id).
 */
export async function reprocessRequest(lookups: ReprocessLookups, version: FlowVersion, rejectsOf: string): Promise<RejectsOfRef> {
  if (typeof rejectsOf !== 'string' || rejectsOf.trim() === '' || rejectsOf.length > 512) {
    throw new InvalidRequestError('INVALID_SOURCE_PATH', 'rejects_of must be the id of an earlier run (e.g. movies-v1-8035273603c904cd)');
  }
  const connector = version.spec.target.connector;
  if (version.spec.transform !== undefined) {
    throw new TargetError(
      'REJECTS_OF_UNSUPPORTED',
      `${version.id} has a custom map (${version.spec.transform}), whose output need not keep the source row numbers a reprocess resolves rejects by; reprocess with a version without one`,
      { details: { flow_version: version.id } },
    );
  }
  const kind = lookups.connectorKind?.(connector);
  if (kind !== undefined && !REPROCESS_TARGET_KINDS.includes(kind)) {
    throw new TargetError(
      'REJECTS_OF_UNSUPPORTED',
      `${version.id} loads into connector "${connector}" (kind ${kind}); reprocessing rejects needs a target whose rejects are in a table the load resolves them in (${REPROCESS_TARGET_KINDS.join(', ')}). ` +
        `Read them with \`sluice rejects ${rejectsOf} --out rejects.csv\` and load that file as a new source_path instead`,
      { details: { connector, kind } },
    );
  }
  let earlier;
  try {
    earlier = await lookups.getRun(rejectsOf);
  } catch (error) {
    if ((error as { code?: string }).code === 'RUN_NOT_FOUND') throw invalid(rejectsOf, 'there is no run with that id');
    throw error;
  }
  const metadata = earlier.metadata;
  if (!metadata || (earlier.status !== 'SUCCEEDED' && earlier.status !== 'PARTIAL_FAILED')) {
    throw invalid(rejectsOf, `it is ${earlier.status}; only a run that loaded its target (SUCCEEDED or PARTIAL_FAILED) has rejects to reprocess`, { status: earlier.status });
  }
  if (metadata.dry_run) throw invalid(rejectsOf, 'it is a dry run, which wrote no rejects');
  if (metadata.rows.rejected === 0 || metadata.rejects.location === null) throw invalid(rejectsOf, 'it has no rejects', { status: earlier.status });
  const earlierVersion = await lookups.versions.get(metadata.run.flow_version);
  if (earlierVersion.flow !== version.flow) {
    throw invalid(rejectsOf, `it is a run of ${earlierVersion.id}, not of flow ${version.flow}; reprocess it with a version of ${earlierVersion.flow}`, {
      flow_version: earlierVersion.id,
    });
  }
  if (earlierVersion.spec.target.connector !== connector) {
    throw invalid(
      rejectsOf,
      `it loaded into connector "${earlierVersion.spec.target.connector}", ${version.id} into "${connector}"; the rows and the resolved rejects must commit in one transaction, so both must be the same connector`,
    );
  }
  return {
    runId: rejectsOf,
    executionId: metadata.run.execution_id,
    flowVersion: metadata.run.flow_version,
    sourcePath: metadata.rejects_of?.source_path ?? metadata.run.source_path,
  };
}
