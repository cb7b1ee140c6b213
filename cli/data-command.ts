/**
 * `sluice data …`: the data store from the command line. Every command takes exactly one scope:
 * `--user` (the acting user's persistent data: `--user <name>`, else `SLUICE_USER`, else the config's `user:`, else
 * `local`; private to that user) or `--pipeline <run-id>` (one run's data).
 *
 * ```sh
 * sluice data put notes/rates.csv ./rates.csv --user          # stored notes/rates.csv in the user data store (1234 bytes)
 * sluice data get notes/rates.csv /tmp/rates.csv --user
 * sluice data cat notes/rates.csv --user --range 0:100        # bytes [0, 100) to stdout
 * sluice data ls notes/ --pipeline movies-v1-2d8005a1aaecf9bb --json
 * sluice data rm notes --user --recursive
 * sluice data size notes/rates.csv --user                     # 1234
 * ```
 *
 * Refused requests (bad name, missing object, bad range, no scope) exit 2 with `error: <message>`.
 */
import type { Command } from 'commander';
import { createDataStore, type ByteRange, type DataScope } from '../storage/data-store';
import { DataStoreError } from '../storage/data-store-error';
import { actingUser, configFrom } from './cli-config';
import { LOCAL_USER } from '../common/users';

interface ScopeOptions {
  /** `--user` (the acting user's) or `--user <name>` (act as <name>). */
  user?: boolean | string;
  pipeline?: string;
}

const scopeLabel = (scope: DataScope) =>
  scope.scope === 'user' ? `the user data store${scope.user === undefined || scope.user === LOCAL_USER ? '' : ` of user "${scope.user}"`}` : `the pipeline data of run ${scope.runId}`;

/** Opens the data store, runs `body` on the scope the options name, and closes it. */
async function withScope<T>(command: Command, body: (scope: DataScope) => Promise<T>): Promise<T> {
  const options = command.opts<ScopeOptions>();
  if (options.user && options.pipeline !== undefined) {
    throw new DataStoreError('INVALID_DATA_SCOPE', 'give either --user or --pipeline <run-id>, not both');
  }
  if (!options.user && options.pipeline === undefined) {
    throw new DataStoreError('INVALID_DATA_SCOPE', 'give exactly one scope: --user (persistent data) or --pipeline <run-id> (one run\'s data)');
  }
  const config = configFrom(command);
  const store = createDataStore(config, options.pipeline, { user: actingUser(command, config) });
  try {
    return await body(store.pipeline ?? store.user);
  } finally {
    await store.close();
  }
}

/** Parses `--range begin:end` (bytes, half-open). */
function parseRange(text: string): ByteRange {
  const match = /^(\d+):(\d+)$/.exec(text);
  if (!match) {
    throw new DataStoreError('INVALID_BYTE_RANGE', `--range must be begin:end in bytes, half-open (0:100 is the first 100 bytes), not ${JSON.stringify(text)}`);
  }
  return [Number(match[1]), Number(match[2])];
}

function write(bytes: Uint8Array | string): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(bytes, (error) => (error ? reject(error) : resolve())));
}

/** Adds `sluice data put|get|cat|ls|rm|size` to a program. */
export function addDataCommands(program: Command): void {
  const data = program
    .command('data')
    .description('the data store: objects for your own code and for Sluice, per run (--pipeline <run-id>) or persistent (--user)');

  const scoped = (name: string, description: string): Command =>
    data
      .command(name)
      .description(description)
      .option('--user [name]', "the acting user's persistent data store (private to them), or <name>'s: act as <name>")
      .option('--pipeline <run-id>', "one run's pipeline data (deleted with the run's staging)");

  scoped('put', 'store a local file as <name> (replaces an object of that name)')
    .argument('<name>', 'data name, e.g. reports/2024-06.csv')
    .argument('<file>', 'local file to upload')
    .action(async (name: string, file: string, _options: unknown, command: Command) => {
      await withScope(command, async (scope) => {
        const size = await scope.put(name, file);
        await write(`stored ${name} in ${scopeLabel(scope)} (${size} bytes)\n`);
      });
    });

  scoped('get', 'download <name> to a local file')
    .argument('<name>', 'data name')
    .argument('<file>', 'local file to write (replaced when it exists)')
    .action(async (name: string, file: string, _options: unknown, command: Command) => {
      await withScope(command, async (scope) => {
        const size = await scope.get(name, file);
        await write(`wrote ${file} (${size} bytes) from ${name} in ${scopeLabel(scope)}\n`);
      });
    });

  scoped('cat', "write <name>'s bytes to stdout")
    .argument('<name>', 'data name')
    .option('--range <begin:end>', 'only bytes [begin, end), e.g. 0:100')
    .action(async (name: string, options: { range?: string }, command: Command) => {
      const byteRange = options.range === undefined ? undefined : parseRange(options.range);
      await withScope(command, async (scope) => {
        await write(await scope.gets(name, byteRange ? { byteRange } : {}));
      });
    });

  scoped('ls', 'list names under a prefix, sorted')
    .argument('[prefix]', 'name prefix, e.g. reports/ (default: everything)', '')
    .option('--json', 'print a JSON array of names')
    .action(async (prefix: string, options: { json?: boolean }, command: Command) => {
      await withScope(command, async (scope) => {
        const names = await scope.list(prefix);
        if (options.json) await write(`${JSON.stringify(names)}\n`);
        else if (names.length > 0) await write(`${names.join('\n')}\n`);
      });
    });

  scoped('rm', 'delete <name>; with --recursive, everything under <name>/')
    .argument('<name>', 'data name')
    .option('-r, --recursive', 'delete every object under <name>/')
    .action(async (name: string, options: { recursive?: boolean }, command: Command) => {
      await withScope(command, async (scope) => {
        const deleted = await scope.delete(name, { recursive: options.recursive });
        await write(`deleted ${deleted} object${deleted === 1 ? '' : 's'} from ${scopeLabel(scope)}\n`);
      });
    });

  scoped('size', "print <name>'s size in bytes")
    .argument('<name>', 'data name')
    .action(async (name: string, _options: unknown, command: Command) => {
      await withScope(command, async (scope) => {
        await write(`${await scope.size(name)}\n`);
      });
    });
}
