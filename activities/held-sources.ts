/**
 * Sources held in this worker's memory between a run's `syncSource` and its one-pass `transformAndLoad`
 * (docs/decisions.md, "The source held in memory"): a local file of at most `staging.hold_max_bytes` is read
 * whole by `syncSource` and kept here under the staging key it would have been staged at, so the pass slices
 * it instead of writing and reading back a Parquet copy.
 *
 * A held source is a cache, never the only copy: the file stays where it is, and a pass that finds nothing here
 * (it runs on another worker, or this worker restarted) reads the file again and checks it is the one that was
 * read (same size, modification time and row count). Entries are taken by the pass, and dropped after
 * {@link HELD_SOURCE_TTL_MS} if no pass comes (a cancelled run). At most {@link HELD_SOURCES_MAX} are held at
 * once; a run that finds no room stages its source as before.
 */
import type { DataFrame } from 'nodejs-polars';

/** A held source is dropped this long after `syncSource` read it if no pass took it: 10 minutes. */
export const HELD_SOURCE_TTL_MS = 10 * 60_000;
/** Sources held at once by one worker (each at most `staging.hold_max_bytes` on disk). */
export const HELD_SOURCES_MAX = 2;

export interface HeldSources {
  /** Holds `frame` under `key`; false (nothing held) when {@link HELD_SOURCES_MAX} are held already. */
  put(key: string, frame: DataFrame): boolean;
  /** The frame held under `key`, removed from the cache (the caller now owns it); undefined when none is. */
  take(key: string): DataFrame | undefined;
  /** Keys held right now. */
  keys(): string[];
}

/** A cache of held sources; `ttlMs` and `max` default to {@link HELD_SOURCE_TTL_MS} and {@link HELD_SOURCES_MAX}. */
export function createHeldSources(ttlMs = HELD_SOURCE_TTL_MS, max = HELD_SOURCES_MAX): HeldSources {
  const held = new Map<string, { frame: DataFrame; timer: NodeJS.Timeout }>();
  const drop = (key: string) => {
    const entry = held.get(key);
    if (!entry) return undefined;
    clearTimeout(entry.timer);
    held.delete(key);
    return entry.frame;
  };
  return {
    put(key, frame) {
      drop(key);
      if (held.size >= max) return false;
      const timer = setTimeout(() => drop(key), ttlMs);
      timer.unref();
      held.set(key, { frame, timer });
      return true;
    },
    take: drop,
    keys: () => [...held.keys()],
  };
}
