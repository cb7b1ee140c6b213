/**
 * `sluice flows publish`'s lineage notice: a flow that wants lineage columns (the default) whose target table
 * already exists without them keeps loading without them, and the user is told so once, at publish time, with the
 * statement that adds them (docs/rejects.md "Lineage").
 *
 * @example
 * ```ts
 * const notice = await lineageNotice(config, spec); // null, or "notice: public.movies has no lineage columns …"
 * ```
 */
import type { SluiceConfig } from '../config/sluice-config';
import type { FlowSpec } from '../flows/flow-spec';
import { ConnectorRegistry } from '../connectors/registry';
import { createLogger } from '../common/logger';
import { LINEAGE_COLUMNS, lineageWanted } from '../transform/lineage';

/** How long publish waits for the target to answer before it skips the notice. */
export const LINEAGE_NOTICE_TIMEOUT_MS = 5_000;

/**
 * The notice for `spec`'s target table, or null: lineage off, not a database target, a table that does not exist yet
 * (Sluice creates it with the columns) or already has both, or a target that cannot be reached within
 * {@link LINEAGE_NOTICE_TIMEOUT_MS} (publishing never fails because of the notice).
 */
export async function lineageNotice(config: SluiceConfig, spec: FlowSpec): Promise<string | null> {
  if (!lineageWanted(spec) || !spec.target.table || !config.connectors[spec.target.connector]) return null;
  const registry = new ConnectorRegistry(config, createLogger('sluice-cli', 'error'));
  try {
    const target = registry.target(spec.target.connector);
    if (!target.lineageOf) return null;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), LINEAGE_NOTICE_TIMEOUT_MS)));
    const state = await Promise.race([target.lineageOf(spec).catch(() => null), timeout]);
    clearTimeout(timer);
    if (state === null || state === 'present' || state === 'no-table') return null;
    const kind = config.connectors[spec.target.connector]!.kind;
    const types = kind === 'mysql' ? ['varchar(255)', 'bigint'] : ['text', 'bigint'];
    const add = LINEAGE_COLUMNS.map((c, i) => `ADD COLUMN ${c} ${types[i]}`).join(', ');
    return (
      `notice: ${spec.target.table} exists without the lineage columns ${LINEAGE_COLUMNS.join(', ')}${state === 'partial' ? ' (it has only one of them)' : ''}; ` +
      `runs keep loading it without them. To trace rows to their run and source line, add them: ALTER TABLE ${spec.target.table} ${add}; ` +
      `or set target.lineage: false to silence this notice`
    );
  } catch {
    return null;
  } finally {
    await registry.close().catch(() => undefined);
  }
}
