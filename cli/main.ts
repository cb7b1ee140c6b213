#!/usr/bin/env -S node --max-semi-space-size=64
/**
 * The `sluice` command line.
 *
 * ```sh
 * sluice dev --example                                  # local stack + the movies example
 * sluice flows publish flows/movies.yaml                # → movies:v1
 * sluice run movies:v1 --source data/movies.json --wait # live status, then the summary
 * sluice run flows/movies.yaml --source data/movies.json --wait --json
 * sluice status movies-v1-3f9a… --json
 * ```
 *
 * Exit codes: 0 SUCCEEDED or PARTIAL_FAILED (or a command that worked), 1 FAILED or CRASHED (or an
 * unexpected error), 2 a refused request (bad flow spec, unknown version, repeated source_path,
 * bad config).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { RunFailedError, RunTimeoutError, Sluice, type SluiceRun } from '../client/sluice';
import type { ErrorCode } from '../common/error-codes';
import { UserError } from '../common/errors';
import { readEnv } from '../common/env';
import { createLogger } from '../common/logger';
import { RUN_STATUSES, type RunMetadata, type RunStatus } from '../common/run-model';
import { maskSecret } from '../config/secrets';
import { gatewaySettings, requireDatabaseUrl, type GatewayToken, type SluiceConfig } from '../config/sluice-config';
import { parseFlowSpec } from '../flows/flow-spec';
import { migrate } from '../db/migrations';
import { createPool } from '../db/pg-pool';
import { FlowVersionStore } from '../flows/flow-versions';
import { actingUser, configFrom, ExitError } from './cli-config';
import { parseUserName } from '../common/users';
import { addSecretsCommands } from './secrets-command';
import { startLocalStack } from '../local-stack/local-stack';
import { createSluiceWorker } from '../worker/sluice-worker';
import { addDataCommands } from './data-command';
import { addGatewayCommands } from './gateway-command';
import { addWebhooksCommands } from './webhooks-command';
import { hashToken } from '../webhook-gateway/auth';
import { startGateway, type Gateway } from '../webhook-gateway/gateway';
import { addConfigCommands } from './config-command';
import { lineageNotice } from './lineage-notice';
import { addPipelineCommands } from './pipeline-command';
import { addSchedulesCommands } from './schedules-command';
import { addInitCommand } from './init-command';
import { addTestConnectionsCommand } from './test-connections-command';
import { addHousekeepingCommands } from './housekeeping-command';
import { addMailCommands } from './mail-command';
import { addFlowsCommands } from './flows-command';
import { addFlowsDiffCommand } from './diff-command';
import { addRejectsCommand } from './rejects-command';
import { assertFlowCanRun } from '../transform/flow-check';
import { portNumber, seconds, wholeNumber } from './number-options';
import { runJson, runSummaryJson } from '../client/run-json';
import { progressLine, runsTable, warningLines } from './run-output';
import { dryRunReportText } from './dry-run-output';

function clientFor(config: SluiceConfig, user?: string): Sluice {
  return new Sluice({
    ...(user !== undefined ? { user } : {}),
    address: config.temporal.address,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    environment: config.environment,
    databaseUrl: config.databaseUrl,
    config,
  });
}

async function withStore<T>(config: SluiceConfig, body: (store: FlowVersionStore) => Promise<T>): Promise<T> {
  const pool = createPool({ connectionString: requireDatabaseUrl(config), max: 1 }, { label: 'the metadata database', logger: createLogger('sluice-cli', 'warn') });
  try {
    await migrate(pool);
    return await body(new FlowVersionStore(pool));
  } finally {
    await pool.end();
  }
}

const isFlowFile = (ref: string) => /\.ya?ml$/i.test(ref) || (existsSync(ref) && !/^[a-z][a-z0-9_-]*:v\d+$/.test(ref));

/** Publishes a flow file (or finds its identical version); returns `flow:vN`. */
async function publishFile(store: FlowVersionStore, file: string): Promise<{ id: string; created: boolean }> {
  if (!existsSync(file)) throw new UserError('FLOW_FILE_NOT_FOUND', `flow file ${file} does not exist`);
  const text = readFileSync(file, 'utf8');
  // What cannot run is refused before it becomes an (immutable) version.
  const spec = parseFlowSpec(text, file);
  assertFlowCanRun(spec, file);
  const { version, created } = await store.publish(spec, { sourceText: text, sourceFile: path.relative(process.cwd(), path.resolve(file)) });
  return { id: version.id, created };
}

function uiLink(config: SluiceConfig, runId: string): string {
  return `${config.temporal.uiUrl}/namespaces/${config.temporal.namespace}/workflows/${encodeURIComponent(runId)}`;
}

function printSummary(config: SluiceConfig, id: string, status: RunStatus, metadata: RunMetadata | undefined): void {
  const out = process.stdout;
  out.write(`run ${id}: ${status}\n`);
  if (metadata) {
    const { rows } = metadata;
    out.write(`  flow version: ${metadata.run.flow_version}   source_path: ${metadata.run.source_path}\n`);
    out.write(`  rows: read ${rows.read}, mapped ${rows.mapped}, rejected ${rows.rejected}, written ${rows.written}\n`);
    if (rows.rejected > 0) {
      const rules = Object.entries(metadata.rejects.by_rule)
        .sort((a, b) => b[1] - a[1])
        .map(([rule, n]) => `${rule} ${n}`)
        .join(', ');
      out.write(`  rejects: ${metadata.rejects.location ?? '(not written)'}  (${rules})\n`);
    }
    if (metadata.rejects_of) {
      const of = metadata.rejects_of;
      out.write(`  reprocess of the rejects of ${of.run_id} (${of.flow_version} on ${of.source_path})`);
      out.write(of.recovered === undefined ? '\n' : `: recovered ${of.recovered}, still rejected ${of.still_rejected}\n`);
    }
    if (metadata.error) out.write(`  error: ${metadata.error.code} in ${metadata.error.step}: ${metadata.error.message}\n`);
    out.write(warningLines(metadata));
    out.write(dryRunReportText(metadata));
  }
  out.write(`  Temporal UI: ${uiLink(config, id)}\n`);
}

/** Waits for a run, with a live line on a terminal; returns the exit code. */
async function waitAndReport(config: SluiceConfig, run: SluiceRun, options: { json?: boolean; timeoutMs?: number }): Promise<number> {
  const live = !options.json && process.stderr.isTTY;
  const waitStartedAt = Date.now();
  let metadata: RunMetadata | undefined;
  let code = 0;
  try {
    metadata = await run.wait({
      timeoutMs: options.timeoutMs,
      pollIntervalMs: 500,
      // Only a terminal gets the live line: progress costs queries the worker must answer.
      ...(live ? { onProgress: (r: SluiceRun) => process.stderr.write(`\r\x1b[2K${progressLine(r, Date.now(), waitStartedAt)}`) } : {}),
    });
  } catch (error) {
    if (error instanceof RunFailedError) {
      metadata = error.metadata;
      code = 1;
    } else if (error instanceof RunTimeoutError) {
      metadata = run.metadata;
      code = 1;
      if (!options.json) process.stderr.write(`\n${error.message}\n`);
    } else throw error;
  }
  if (live) process.stderr.write('\n');
  if (options.json) process.stdout.write(`${JSON.stringify(runJson(run, metadata))}\n`);
  else printSummary(config, run.id, run.status, metadata);
  return code;
}

function parseMetadata(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new UserError('INVALID_RUN_METADATA', `--metadata must be a JSON object, e.g. '{"ticket":"OPS-12"}'`);
}

/** This package's version (its package.json, two levels above dist/cli). */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

export function buildProgram(): Command {
  const program = new Command('sluice')
    .description('Sluice: sync-transform-sync data pipelines on Temporal')
    .version(packageVersion(), '-V, --version', 'print the version of sluice')
    .option('-c, --config <file>', 'config file (default: ./sluice.config.yaml when present)')
    .option('-e, --env <name>', 'environment name (also SLUICE_ENV)', readEnv('SLUICE_ENV'))
    .showHelpAfterError();

  program
    .command('run')
    .description('start a run of a flow version (or a flow file, published first) against a source_path')
    .argument('<flow>', 'flow version "flow:vN", or a flow YAML file')
    .option('-s, --source <source_path>', 'file path or URI, or batch id for database sources (or --rejects-of)')
    .option('--rejects-of <run-id>', 'reprocess: the source is the unresolved rejects of this earlier run of the same flow')
    .option('-w, --wait', 'wait for the run to finish, showing live status')
    .option('--json', 'print exactly one JSON object on stdout')
    .option('--force-rerun', 'run even if this flow version already ran on this source_path (or reprocessed these rejects)')
    .option('--dry-run', 'sync and transform, write nothing to the target, and report what a real run would write (waits)')
    .option('-m, --metadata <json>', 'run metadata as a JSON object')
    .option('--timeout <seconds>', 'with --wait, give up after this many seconds', seconds({ above: 0 }))
    .option('--user <name>', 'start the run as this user (whose ${secret:NAME} it resolves; default SLUICE_USER, the config\'s user:, else local)')
    .action(async (flow: string, options: { source?: string; rejectsOf?: string; wait?: boolean; json?: boolean; forceRerun?: boolean; dryRun?: boolean; metadata?: string; timeout?: number }, command: Command) => {
      if ((options.source === undefined) === (options.rejectsOf === undefined)) command.error('error: give exactly one of --source <source_path> and --rejects-of <run-id>');
      const config = configFrom(command);
      const user = actingUser(command, config);
      const runMetadata = parseMetadata(options.metadata);
      const flowVersion = isFlowFile(flow) ? (await withStore(config, (store) => publishFile(store, flow))).id : flow;
      const sluice = clientFor(config, user);
      try {
        const run = await sluice.run({
          flowVersion,
          ...(options.rejectsOf !== undefined ? { rejectsOf: options.rejectsOf } : { sourcePath: options.source }),
          runMetadata,
          forceRerun: options.forceRerun,
          dryRun: options.dryRun,
        });
        // A dry run is for its report: it always waits.
        if (!options.wait && !options.dryRun) {
          await run.refresh().catch(() => undefined);
          if (options.json) process.stdout.write(`${JSON.stringify(runJson(run, run.metadata))}\n`);
          else process.stdout.write(`started run ${run.id} (${flowVersion} on ${options.source ?? `rejects-of:${options.rejectsOf}`})\n  Temporal UI: ${uiLink(config, run.id)}\n`);
          return;
        }
        const code = await waitAndReport(config, run, { json: options.json, timeoutMs: options.timeout ? options.timeout * 1000 : undefined });
        if (code !== 0) throw new ExitError(code);
      } finally {
        await sluice.close();
      }
    });

  program
    .command('status')
    .description('show the status and metadata of a run')
    .argument('<run-id>')
    .option('--json', 'print exactly one JSON object on stdout')
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      const config = configFrom(command);
      const sluice = clientFor(config);
      try {
        const run = await sluice.getRun(id);
        if (options.json) process.stdout.write(`${JSON.stringify(runJson(run, run.metadata))}\n`);
        else printSummary(config, run.id, run.status, run.metadata);
      } finally {
        await sluice.close();
      }
    });

  const runs = program.command('runs').description('list runs');
  runs
    .command('list')
    .description('list runs, newest first (Temporal visibility)')
    .option('--flow <name>', 'only runs of this flow')
    .option('--flow-version <flow:vN>', 'only runs of this flow version')
    .addOption(new Option('--status <status>', 'only runs in this status').choices([...RUN_STATUSES]))
    .option('--started-by <user>', 'only runs this user started')
    .option('--limit <n>', 'at most this many', wholeNumber({ min: 1 }), 20)
    .option('--json', 'print a JSON array')
    .action(async (options: { flow?: string; flowVersion?: string; status?: RunStatus; startedBy?: string; limit: number; json?: boolean }, command: Command) => {
      if (options.startedBy !== undefined) parseUserName(options.startedBy, '--started-by');
      const config = configFrom(command);
      const sluice = clientFor(config);
      try {
        const list = await sluice.listRuns(options);
        if (options.json) {
          process.stdout.write(`${JSON.stringify(list.map(runSummaryJson))}\n`);
          return;
        }
        process.stdout.write(list.length === 0 ? 'no runs\n' : runsTable(list));
      } finally {
        await sluice.close();
      }
    });

  const flows = program.command('flows').description('publish and inspect flow versions');
  flows
    .command('publish')
    .description('publish a flow file as an immutable version (identical content returns the existing version)')
    .argument('<file>', 'flow YAML file')
    .option('--json', 'print a JSON object')
    .action(async (file: string, options: { json?: boolean }, command: Command) => {
      const config = configFrom(command);
      const { id, created } = await withStore(config, (store) => publishFile(store, file));
      // An existing target table without the lineage columns keeps loading without them: say so (cli/lineage-notice.ts).
      const notice = await lineageNotice(config, parseFlowSpec(readFileSync(file, 'utf8'), file));
      if (options.json) process.stdout.write(`${JSON.stringify({ flow_version: id, created, ...(notice ? { notice } : {}) })}\n`);
      else process.stdout.write(created ? `published ${id}\n` : `unchanged: ${id} has identical content\n`);
      if (notice && !options.json) process.stderr.write(`${notice}\n`);
    });
  flows
    .command('list')
    .description('list flow versions')
    .argument('[flow]', 'only this flow')
    .option('--json', 'print a JSON array')
    .action(async (flow: string | undefined, options: { json?: boolean }, command: Command) => {
      const config = configFrom(command);
      const versions = await withStore(config, (store) => store.list(flow));
      if (options.json) {
        process.stdout.write(`${JSON.stringify(versions.map((v) => ({ flow_version: v.id, content_hash: v.contentHash, created_at: v.createdAt, source_file: v.sourceFile })))}\n`);
        return;
      }
      if (versions.length === 0) process.stdout.write('no flow versions; publish one with: sluice flows publish flows/<name>.yaml\n');
      for (const v of versions) process.stdout.write(`${v.id.padEnd(24)} ${v.contentHash.slice(0, 12)}  ${v.createdAt}  ${v.sourceFile ?? ''}\n`);
    });
  flows
    .command('show')
    .description('show one flow version: its YAML as published, and its content hash')
    .argument('<flow-version>', 'flow:vN')
    .option('--json', 'print a JSON object with the normalised spec')
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      const config = configFrom(command);
      const version = await withStore(config, (store) => store.get(id));
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ flow_version: version.id, content_hash: version.contentHash, created_at: version.createdAt, spec: version.spec })}\n`);
        return;
      }
      process.stdout.write(`# ${version.id}  sha256:${version.contentHash}  published ${version.createdAt}\n${version.sourceText.trimEnd()}\n`);
    });
  addFlowsCommands(flows);
  addFlowsDiffCommand(flows);

  program
    .command('worker')
    .description('run a worker: executes runs from the task queue until SIGINT/SIGTERM (drains in-flight work first)')
    .action(async (_options: unknown, command: Command) => {
      const config = configFrom(command);
      const logger = createLogger('sluice-worker');
      const worker = await createSluiceWorker({ config, logger });
      const stop = () => void worker.shutdown();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      logger.info({ environment: config.environment, taskQueue: config.temporal.taskQueue, namespace: config.temporal.namespace, address: config.temporal.address }, 'worker started');
      await worker.run();
    });

  program
    .command('dev')
    .description('start the local stack (Temporal dev server + UI, Postgres, a worker, the gateway); Ctrl-C stops it')
    .option('--example', 'publish flows/movies.yaml and run it on vega-datasets movies.json')
    .option('--exit', 'with --example, stop the stack when the example run ends (for scripts)')
    .option('--temporal-port <port>', 'Temporal dev server gRPC port', portNumber, 7233)
    .option('--ui-port <port>', 'Temporal UI port', portNumber, 8233)
    .option('--postgres-port <port>', 'embedded PostgreSQL port (when DATABASE_URL is not set)', portNumber, 54329)
    .option('--gateway-port <port>', 'gateway port (default: gateway.port, else 8700)', portNumber)
    .option('--no-gateway', 'do not start the gateway (API and webhook deliveries) in this process')
    .action(async (options: { example?: boolean; exit?: boolean; temporalPort: number; uiPort: number; postgresPort: number; gatewayPort?: number; gateway: boolean }, command: Command) => {
      // A stale stack.json is what this command replaces (after stopping the servers it names).
      const config = configFrom(command, { staleStack: 'ignore' });
      const logger = createLogger('sluice', readEnv('SLUICE_LOG_LEVEL') ?? 'warn');
      process.stdout.write('starting the local stack (Temporal dev server, PostgreSQL, worker)…\n');
      // A signal during the start exits at once: the stack's exit hook kills the servers already started.
      const early = () => process.exit(130);
      process.once('SIGINT', early);
      process.once('SIGTERM', early);
      const stack = await startLocalStack(config, logger, { temporalPort: options.temporalPort, uiPort: options.uiPort, postgresPort: options.postgresPort });
      for (const note of stack.notes) process.stdout.write(`${note}\n`);
      // The gateway in-process (as the embedded default's design has it): the API, and webhook deliveries.
      let gateway: Gateway | undefined;
      let consoleLine = '';
      if (options.gateway) {
        try {
          const { config: gatewayConfig, devToken } = withDevToken(stack.config);
          gateway = await startGateway({ config: gatewayConfig, logger, port: options.gatewayPort });
          process.stdout.write(`gateway: ${gateway.url}\n`);
          consoleLine = `console: ${gateway.url}/ui${devToken ? `  (sign in with the dev token ${devToken}; it lasts until this sluice dev stops)` : '  (sign in with an API token of gateway.tokens)'}\n`;
        } catch (error) {
          const reason = (error as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'its port is in use (--gateway-port picks another)' : (error as Error).message;
          process.stderr.write(`warning: the gateway did not start: ${reason}; webhook deliveries wait until one runs (sluice gateway)\n`);
        }
      }
      // Worker, gateway, mail sink, Postgres, Temporal, in that order; stack.json removed last.
      const stopStack = () =>
        stack.stop({ ...(gateway ? { afterWorker: () => gateway!.close() } : {}), onStep: (line) => process.stdout.write(`  ${line}\n`) });
      let stopping = false;
      const stop = async (signal: NodeJS.Signals) => {
        if (stopping) {
          process.stdout.write(`${signal} again: stopping now\n`);
          process.exit(130); // the stack's exit hook kills the servers still running
        }
        stopping = true;
        process.stdout.write(`\n${signal}: stopping the local stack…\n`);
        await stopStack();
        process.stdout.write('the local stack stopped\n');
        process.exit(0);
      };
      process.off('SIGINT', early);
      process.off('SIGTERM', early);
      process.on('SIGINT', (signal) => void stop(signal));
      process.on('SIGTERM', (signal) => void stop(signal));
      process.stdout.write(`Temporal UI: ${stack.uiUrl}\n${consoleLine}DATABASE_URL=${maskSecret(stack.config.databaseUrl!, 'url')}\n`);
      let code = 0;
      if (options.example) code = await runExample(stack.config);
      if (options.exit) {
        await stopStack();
        throw new ExitError(code);
      }
      process.stdout.write('the stack is up; press Ctrl-C to stop it\n');
      await new Promise(() => undefined);
    });

  addDataCommands(program);
  addSecretsCommands(program);
  addGatewayCommands(program);
  addWebhooksCommands(program);
  addConfigCommands(program);
  addPipelineCommands(program);
  addSchedulesCommands(program);
  addInitCommand(program);
  addTestConnectionsCommand(program);
  addHousekeepingCommands(program);
  addMailCommands(program);
  addRejectsCommand(program, clientFor);
  return program;
}

/**
 * `sluice dev` without `gateway.tokens`: a random token with every scope, for this process only (its hash is
 * added to the gateway's settings, nothing is written), so the console and the API can be used at once. With
 * configured tokens, the config is returned as is.
 */
function withDevToken(config: SluiceConfig): { config: SluiceConfig; devToken?: string } {
  const settings = gatewaySettings(config);
  if (settings.tokens.length > 0) return { config };
  const devToken = `sluice_dev_${randomBytes(24).toString('base64url')}`;
  const tokens = [{ name: 'dev', sha256: hashToken(devToken), scopes: ['runs:read', 'runs:write', 'webhooks:read', 'webhooks:write'] as GatewayToken['scopes'] }];
  return { config: { ...config, gateway: { ...settings, tokens } }, devToken };
}

/** The `npm start` example: movies.json from vega-datasets through flows/movies.yaml. */
async function runExample(config: SluiceConfig): Promise<number> {
  const flowFile = path.join(config.projectDir, 'flows', 'movies.yaml');
  const sourcePath = 'node_modules/vega-datasets/data/movies.json';
  if (!existsSync(path.join(config.projectDir, sourcePath))) {
    throw new UserError('EXAMPLE_DATA_MISSING', `${sourcePath} is missing; run npm install first`);
  }
  const { id: flowVersion, created } = await withStore(config, (store) => publishFile(store, flowFile));
  process.stdout.write(`${created ? 'published' : 'using'} ${flowVersion} (flows/movies.yaml)\n`);
  const sluice = clientFor(config);
  try {
    let run: SluiceRun;
    try {
      run = await sluice.run({ flowVersion, sourcePath, runMetadata: { example: true } });
      process.stdout.write(`started run ${run.id} on ${sourcePath}\n`);
    } catch (error) {
      if (!(error instanceof UserError && error.code === 'REPEATED_SOURCE_PATH')) throw error;
      process.stdout.write(`${error.message}\nshowing that run:\n`);
      run = await sluice.getRun(String(error.details?.run_id));
    }
    return await waitAndReport(config, run, {});
  } finally {
    await sluice.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof ExitError) return error.exitCode;
    const json = argv.includes('--json');
    if (error instanceof UserError) {
      if (json) process.stdout.write(`${JSON.stringify({ error: { code: error.code, message: error.message } })}\n`);
      else process.stderr.write(`error: ${error.message}\n`);
      return 2;
    }
    const message = (error as Error).message ?? String(error);
    const unreachable = /connect|ECONNREFUSED|UNAVAILABLE|deadline/i.test(message);
    const text = unreachable
      ? `cannot reach a service (${message}); is the local stack running? Start it with \`sluice dev\`, or set TEMPORAL_ADDRESS and DATABASE_URL`
      : `unexpected error: ${message}`;
    if (json) process.stdout.write(`${JSON.stringify({ error: { code: (unreachable ? 'UNREACHABLE' : 'INTERNAL_ERROR') satisfies ErrorCode, message: text } })}\n`);
    else process.stderr.write(`error: ${text}\n`);
    if (readEnv('SLUICE_DEBUG') && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv).then((code) => {
    process.exitCode = code;
    // Temporal's native runtime may keep the event loop alive; commands are done here.
    setTimeout(() => process.exit(code), 100).unref();
  });
}
