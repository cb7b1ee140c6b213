/**
 * Flow versions: immutable, content-hashed snapshots of a flow, named `flow:vN`, stored in
 * `sluice.flow_versions`. Publishing identical content returns the existing version; changed
 * content makes the next one. Nothing updates or deletes a version (a trigger refuses it).
 *
 * A flow with a custom map (`transform: maps/accounts.ts`) is published with its map: publishing
 * reads the file under the project dir, compiles and loads it (so a broken map is refused now, not
 * at run time), and records `map: { path, sha256 }` in the spec, so the hash covers the map's bytes.
 *
 * @example
 * ```ts
 * const store = new FlowVersionStore(pool, { projectDir: config.projectDir });
 * const { version, created } = await store.publish(parseFlowSpec(text, file), { sourceText: text, sourceFile: file });
 * version.id; // 'movies:v1'
 * ```
 */
import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import stringify from 'safe-stable-stringify';
import { FlowSpecError, InvalidRequestError, UserError } from '../common/errors';
import { FLOW_VERSION_ID } from '../common/run-inputs';
import { DEFAULT_ENVIRONMENT } from '../config/environments';
import { withPgClient } from '../db/pg-pool';
import { loadMap, readMapFile } from './map-module';
import type { FlowSpec } from './flow-spec';

export interface FlowVersion {
  /** `flow:vN`. */
  id: string;
  flow: string;
  version: number;
  /** sha256 (hex) of the normalised spec with sorted keys; field order counts. */
  contentHash: string;
  spec: FlowSpec;
  sourceText: string;
  sourceFile: string | null;
  createdAt: string;
}

/**
 * Splits `flow:vN`.
 * @throws InvalidRequestError when the text is not of that form.
 */
export function parseFlowVersionId(id: string): { flow: string; version: number } {
  const match = FLOW_VERSION_ID.exec(id);
  if (!match) {
    throw new InvalidRequestError('INVALID_FLOW_VERSION', `"${id}" is not a flow version; expected "flow:vN", e.g. "movies:v1"`);
  }
  return { flow: match[1]!, version: Number(match[2]) };
}

/** sha256 hex of the normalised spec (object keys sorted, arrays in order; a custom map's sha256 included). */
export function contentHash(spec: FlowSpec): string {
  return createHash('sha256').update(stringify(spec) ?? '').digest('hex');
}

interface Row {
  flow: string;
  version: number;
  content_hash: string;
  spec: unknown;
  source_text: string;
  source_file: string | null;
  created_at: Date;
}

function toFlowVersion(row: Row): FlowVersion {
  return {
    id: `${row.flow}:v${row.version}`,
    flow: row.flow,
    version: row.version,
    contentHash: row.content_hash,
    // Stored in normalised form, validated when it was published.
    spec: row.spec as FlowSpec,
    sourceText: row.source_text,
    sourceFile: row.source_file,
    createdAt: row.created_at.toISOString(),
  };
}

/**
 * Reads, compiles and loads the spec's custom map and records it as `map: { path, sha256 }`.
 * A spec without `transform` is returned without `map`.
 * @throws FlowSpecError `transform: …` when the file is missing, outside the project dir, does not
 *   compile (each syntax error with its file, line and column), throws while loading or exports no function.
 */
export function withMapHash(spec: FlowSpec, projectDir: string, origin = 'flow spec'): FlowSpec {
  const { map: _stale, ...rest } = spec;
  if (rest.transform === undefined) return rest;
  try {
    const file = readMapFile(projectDir, rest.transform);
    loadMap(file);
    return { ...rest, map: { path: rest.transform, sha256: file.sha256 } };
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    const problems = (error.details?.problems as string[] | undefined) ?? [error.message];
    throw new FlowSpecError(`${origin} is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):`, problems.map((p) => `transform: ${p}`));
  }
}

export interface FlowVersionStoreOptions {
  /** Where `transform` paths of published flows are read from. @default process.cwd() */
  projectDir?: string;
}

export class FlowVersionStore {
  /** Versions never change, so each is read from the database once per store (every activity asks). */
  private readonly cache = new Map<string, FlowVersion>();
  private readonly projectDir: string;

  constructor(
    private readonly pool: Pool,
    options: FlowVersionStoreOptions = {},
  ) {
    this.projectDir = options.projectDir ?? process.cwd();
  }

  /**
   * Stores `spec` as the next version of its flow, or returns the existing version with the same
   * content hash. Concurrent publishes of one flow are serialised with a transaction-level advisory lock.
   * A custom map (`transform`) is read from the project dir and recorded with its sha256 (see {@link withMapHash}).
   * @throws FlowSpecError when the custom map is missing or broken.
   * @throws TransientError `CONNECTION_LOST` when the metadata database dropped the connection mid-transaction (nothing stored).
   */
  async publish(
    input: FlowSpec,
    source: { sourceText: string; sourceFile?: string; projectDir?: string },
  ): Promise<{ version: FlowVersion; created: boolean }> {
    const spec = withMapHash(input, source.projectDir ?? this.projectDir, source.sourceFile ?? 'flow spec');
    const hash = contentHash(spec);
    return withPgClient(this.pool, 'the metadata database', async (client) => {
      try {
        await client.query('BEGIN');
        await client.query(`SELECT pg_advisory_xact_lock(hashtext('sluice.flow:' || $1))`, [spec.name]);
        const existing = await client.query<Row>('SELECT * FROM sluice.flow_versions WHERE flow = $1 AND content_hash = $2', [spec.name, hash]);
        if (existing.rows[0]) {
          await client.query('COMMIT');
          return { version: toFlowVersion(existing.rows[0]), created: false };
        }
        const inserted = await client.query<Row>(
          `INSERT INTO sluice.flow_versions (flow, version, content_hash, spec, source_text, source_file)
           SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5 FROM sluice.flow_versions WHERE flow = $1
           RETURNING *`,
          [spec.name, hash, JSON.stringify(spec), source.sourceText, source.sourceFile ?? null],
        );
        await client.query('COMMIT');
        return { version: toFlowVersion(inserted.rows[0]!), created: true };
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    });
  }

  /**
   * Loads one version.
   * @throws InvalidRequestError `UNKNOWN_FLOW_VERSION` when it does not exist (the message lists the flow's versions).
   */
  async get(id: string): Promise<FlowVersion> {
    const cached = this.cache.get(id);
    if (cached) return cached;
    const { flow, version } = parseFlowVersionId(id);
    const result = await this.pool.query<Row>('SELECT * FROM sluice.flow_versions WHERE flow = $1 AND version = $2', [flow, version]);
    if (!result.rows[0]) {
      const known = await this.pool.query<{ version: number }>('SELECT version FROM sluice.flow_versions WHERE flow = $1 ORDER BY version', [flow]);
      const hint = known.rows.length
        ? `known versions of "${flow}": ${known.rows.map((r) => `${flow}:v${r.version}`).join(', ')}`
        : `no flow "${flow}" has been published; publish it with: sluice flows publish flows/${flow}.yaml`;
      throw new InvalidRequestError('UNKNOWN_FLOW_VERSION', `unknown flow version "${id}"; ${hint}`);
    }
    const found = toFlowVersion(result.rows[0]);
    this.cache.set(id, found);
    return found;
  }

  /** Every version, newest first within each flow; optionally of one flow. */
  async list(flow?: string): Promise<FlowVersion[]> {
    const result = flow
      ? await this.pool.query<Row>('SELECT * FROM sluice.flow_versions WHERE flow = $1 ORDER BY version DESC', [flow])
      : await this.pool.query<Row>('SELECT * FROM sluice.flow_versions ORDER BY flow, version DESC');
    return result.rows.map(toFlowVersion);
  }
}

/**
 * The run id of a (flow version, source_path) in an environment: `<flow>-v<N>-<first 16 hex of sha256(source_path)>`
 * in `dev`, `<flow>-v<N>-<environment>-<16 hex>` elsewhere. Deterministic, so Temporal's workflow-id reuse policy
 * enforces "one successful run per source_path" — per environment: a test run never makes a dev run ALREADY_LOADED.
 * @param environment @default `dev`
 */
export function runIdFor(flowVersion: string, sourcePath: string, environment: string = DEFAULT_ENVIRONMENT): string {
  const { flow, version } = parseFlowVersionId(flowVersion);
  const scope = environment === DEFAULT_ENVIRONMENT ? '' : `${environment}-`;
  return `${flow}-v${version}-${scope}${createHash('sha256').update(sourcePath).digest('hex').slice(0, 16)}`;
}
