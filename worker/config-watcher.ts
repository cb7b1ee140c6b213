/**
 * A worker's config follows its file: `sluice worker` and `sluice dev` watch `sluice.config.yaml` and, when it
 * changes, reload its connectors (and `notifications`) in place, without a restart, logging one line that says
 * what changed. An edited file that is invalid is logged with every problem and the previous config is kept.
 *
 * What a reload changes: `connectors`, the connectors unavailable for an unset `${env:NAME}`, and `notifications`
 * — what a run reads at its next activity. Everything else (Temporal address, namespace and task queue, the
 * metadata database, staging, the data store) is read once at start: a change there is logged as needing a restart.
 * Pools and clients of a changed or removed connector are closed; the next run opens new ones.
 *
 * @example
 * ```ts
 * const watcher = watchConfigFile({ config, connectors, logger, load: () => loadConfig({ configFile: config.configFile!, environment: config.environment }) });
 * // … later
 * watcher.stop();
 * ```
 */
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import { coerceError } from '../common/errors';
import type { SluiceConfig } from '../config/sluice-config';
import type { ConnectorRegistry } from '../connectors/registry';

/** How long after the last change event the file is read (editors write in several steps). @default 200 ms */
export const CONFIG_RELOAD_DEBOUNCE_MS = 200;

/** What a reload changed in the connectors, by name (sorted). */
export interface ConnectorChanges {
  added: string[];
  removed: string[];
  changed: string[];
}

/** The connectors added, removed and changed between two configs (unavailable ones count as present, with their reason). */
export function connectorChanges(before: SluiceConfig, after: SluiceConfig): ConnectorChanges {
  const view = (config: SluiceConfig): Record<string, unknown> => ({
    ...Object.fromEntries(Object.entries(config.unavailableConnectors ?? {}).map(([name, unavailable]) => [name, { unavailable }])),
    ...config.connectors,
  });
  const old = view(before);
  const next = view(after);
  const sorted = (names: string[]) => names.sort();
  return {
    added: sorted(Object.keys(next).filter((name) => !(name in old))),
    removed: sorted(Object.keys(old).filter((name) => !(name in next))),
    changed: sorted(Object.keys(next).filter((name) => name in old && !isDeepStrictEqual(old[name], next[name]))),
  };
}

/** The one log line of a reload: `config reloaded: connectors added erp; changed warehouse` (or `no connector changed`). */
export function describeChanges(changes: ConnectorChanges): string {
  const parts = (['added', 'removed', 'changed'] as const).filter((kind) => changes[kind].length > 0).map((kind) => `${kind} ${changes[kind].join(', ')}`);
  return parts.length > 0 ? `connectors ${parts.join('; ')}` : 'no connector changed';
}

/** Settings read once at start: a reload that changes them says a restart is needed. */
const restartOnly = (config: SluiceConfig) => ({ temporal: config.temporal, databaseUrl: config.databaseUrl, staging: config.staging, dataStore: config.dataStore });

export interface WatchConfigOptions {
  /** The worker's live config: its `connectors`, `unavailableConnectors` and `notifications` are replaced in place. */
  config: SluiceConfig;
  connectors: ConnectorRegistry;
  logger: Logger;
  /** Reads the file again, for the same environment. @throws ConfigError when the file is invalid. */
  load: () => SluiceConfig;
  /** @default {@link CONFIG_RELOAD_DEBOUNCE_MS} */
  debounceMs?: number;
}

export interface ConfigWatcher {
  /** Applies the file now (what a change event does after the debounce); resolves when done. */
  reload(): Promise<void>;
  stop(): void;
}

/**
 * Watches `config.configFile` (its folder, so an editor that replaces the file is seen too) and reloads on change.
 * Without a config file there is nothing to watch: the watcher does nothing.
 */
export function watchConfigFile(options: WatchConfigOptions): ConfigWatcher {
  const { config, connectors, logger } = options;
  const file = config.configFile;
  let timer: NodeJS.Timeout | undefined;
  let applying: Promise<void> = Promise.resolve();

  const apply = async () => {
    let next: SluiceConfig;
    try {
      next = options.load();
    } catch (error) {
      logger.error({ configFile: file }, `config not reloaded, the previous one is kept: ${coerceError(error).message}`);
      return;
    }
    const changes = connectorChanges(config, next);
    const notificationsChanged = !isDeepStrictEqual(config.notifications, next.notifications);
    const needsRestart = !isDeepStrictEqual(restartOnly(config), restartOnly(next));
    if (changes.added.length + changes.removed.length + changes.changed.length === 0 && !notificationsChanged && !needsRestart) return;
    config.connectors = next.connectors;
    if (next.unavailableConnectors) config.unavailableConnectors = next.unavailableConnectors;
    else delete config.unavailableConnectors;
    if (next.notifications) config.notifications = next.notifications;
    else delete config.notifications;
    await connectors.forget([...changes.removed, ...changes.changed]);
    const extra = [notificationsChanged ? 'notifications changed' : '', needsRestart ? 'temporal, database_url, staging or data_store changed: restart the worker to apply those' : '']
      .filter(Boolean)
      .join('; ');
    const line = `config reloaded from ${file}: ${describeChanges(changes)}${extra ? `; ${extra}` : ''}`;
    if (needsRestart) logger.warn({ configFile: file, ...changes }, line);
    else logger.info({ configFile: file, ...changes }, line);
  };
  const reload = () => (applying = applying.then(apply));

  let watcher: FSWatcher | undefined;
  if (file) {
    const name = path.basename(file);
    try {
      watcher = watch(path.dirname(file), { persistent: false }, (_event, changed) => {
        if (changed !== null && changed.toString() !== name) return;
        clearTimeout(timer);
        timer = setTimeout(() => void reload(), options.debounceMs ?? CONFIG_RELOAD_DEBOUNCE_MS);
      });
      watcher.on('error', (error) => logger.warn({ configFile: file, err: error }, 'config file watch stopped; restart the worker after editing the config'));
    } catch (error) {
      logger.warn({ configFile: file, err: error }, 'cannot watch the config file; restart the worker after editing it');
    }
  }
  return {
    reload,
    stop() {
      clearTimeout(timer);
      watcher?.close();
    },
  };
}
