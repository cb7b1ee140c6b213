/**
 * Benchmark: webhook deliveries under load — events published, delivered by the gateway's delivery
 * worker (one `deliverWebhook` workflow per delivery), and received by local HTTP receivers that
 * verify every signature.
 *
 * Everything is real: the Temporal dev server (official CLI, `startTemporal()`), a fresh PostgreSQL
 * database (`createTestDatabase()`: `DATABASE_URL` as an admin URL, else the embedded server), the
 * gateway (`startGateway`: HTTP API + delivery worker, with its own metadata pool), and `--receivers`
 * node:http servers on 127.0.0.1 in this process. Each receiver verifies each request with
 * `new Webhook(secret).verify` from `standardwebhooks` and records its `webhook-id` and receive time.
 * The webhooks are created through the gateway's API (`POST /v1/webhooks`).
 *
 * Modes:
 * - default: `--events` events (@default 10000), each delivered to ONE receiver, round robin
 *   (event i → webhook i % receivers). Subscriptions filter by event type only, so each event is
 *   published by hand with the publisher's own steps: `insertEvent`, `webhooks.addDelivery`
 *   (`deterministicId('dlv', event, webhook)`), `publisher.startDelivery`.
 * - `--fanout`: `--events` events, each to ALL receivers, through `publisher.publish(event)`
 *   (`--events 1000` = 10,000 deliveries with 10 receivers).
 *
 * Publishing runs `--concurrency` events at a time (@default 50) from a pool of its own (as the run
 * worker's event activity does in production), so the publish rate (events accepted per second) is
 * reported apart from the delivery rate. By default that is a burst (everything published as fast as
 * it is accepted); `--rate N` publishes at most N events per second instead, to measure latency
 * below saturation.
 *
 * Figures: wall time from the first publish to the last delivery received; deliveries per second;
 * end-to-end latency per delivery (publish call start → first receipt) p50/p95/p99/max; HTTP attempt
 * latency from the delivery log (`sluice.webhook_attempts.latency_ms`) p50/p99; duplicates (a
 * webhook-id received more than once by the same receiver); LOST = expected − distinct (receiver,
 * webhook-id) received, after quiescence (every delivery succeeded and no delivery workflow is
 * running, or `--timeout` seconds after the last publish, @default 600); peak RSS of this process
 * (gateway, delivery worker, receivers, publisher) and of the Temporal dev server; CPU seconds of
 * this process, the dev server, the database's PostgreSQL backends and the whole host, and from them
 * the CPU per delivery (what caps the rate when the cores are busy). Then where the time went:
 * `--histories` delivery workflows (@default 200, evenly spaced, plus the 3 slowest) are split from
 * their Temporal histories into queue waits and run times of each workflow task and activity.
 * A human-readable table, then one JSON line. Exits 1 when anything is lost, a signature fails to
 * verify, a publish fails, or a delivery did not succeed.
 *
 * ```sh
 * npm run bench:webhooks                                   # 10,000 events → 10 receivers, round robin
 * npm run bench:webhooks -- --fanout --events 1000         # 1,000 events × 10 receivers = 10,000 deliveries
 * npm run bench:webhooks -- --events 1000 --rate 10        # latency below saturation
 * DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node dist/bench/run-webhook-bench.js --events 2000 --receivers 4
 * ```
 *
 * Tuning:
 * - `SLUICE_MAX_CONCURRENT_DELIVERIES` the delivery worker's activity concurrency (@default 100).
 * - `--worker-options '<json>'` runs the delivery worker built here instead of the gateway's, with
 *   these `Worker.create` options on top of the gateway's (e.g.
 *   `{"maxConcurrentWorkflowTaskExecutions":100,"maxConcurrentWorkflowTaskPolls":20}`), to measure
 *   what other worker settings would do without changing `worker/delivery-worker.ts`.
 * - `--workflows-path <file>` that worker bundles these workflows instead of `workflows/` (a changed
 *   `deliverWebhook`, e.g. with local activities), to measure a workflow change before making it.
 * - `--retry-schedule 0,1000,5000` the delivery retry schedule in ms (@default 0,1000,2000,5000,10000);
 *   `--attempt-timeout ms` (@default 10000).
 * - `SLUICE_LOG_LEVEL` (@default warn).
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time';
import { bundleWorkflowCode, Worker, type WorkerOptions } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Pool } from 'pg';
import { Webhook } from 'standardwebhooks';
import { createLogger } from '../common/logger';
import { DEFAULT_WEBHOOK_SETTINGS, type SluiceConfig, type WebhookSettings } from '../config/sluice-config';
import { hashToken } from '../webhook-gateway/auth';
import { startGateway, type Gateway } from '../webhook-gateway/gateway';
import { NO_DELIVERY_METRICS } from '../webhooks/delivery-metrics';
import { childProcesses, percentile } from './run-bench';
import { closeWebhookAgents } from '../webhooks/send-webhook';
import { createDeliveryActivities } from '../activities/delivery-activities';
import { deliveryWorkflowId, EventPublisher, webhooksTaskQueue } from '../webhooks/event-publisher';
import { deterministicId, insertEvent, type EventPayload, type RunEventData } from '../webhooks/events';
import { workflowBundle } from '../worker/sluice-worker';
import { createTestDatabase, startTemporal, tempProject, testConfig } from '../tests/helpers/services';
import { fmt, hostCpu, processCpuSeconds, procStatus, secs } from './run-bench';

const logger = createLogger('sluice-bench', process.env.SLUICE_LOG_LEVEL ?? 'warn');
const TOKEN = `bench-${randomUUID()}`;

/* ------------------------------------------------------------------ options ------------------- */

interface BenchOptions {
  events: number;
  receivers: number;
  fanout: boolean;
  concurrency: number;
  timeoutMs: number;
  retryScheduleMs: number[];
  attemptTimeoutMs: number;
  /** Worker.create options for a delivery worker built here; null = the gateway's own worker. */
  workerOptions: Partial<WorkerOptions> | null;
  /** Workflows the delivery worker built here bundles instead of the project's (`--workflows-path`). */
  workflowsPath: string | null;
  /** Delivery workflow histories sampled for the time breakdown. */
  histories: number;
  /** Events published per second at most; null = as fast as `concurrency` allows (a burst). */
  rate: number | null;
}

/** Worker options `--worker-options` may set (numbers only). */
const TUNABLE_WORKER_OPTIONS = [
  'maxConcurrentWorkflowTaskExecutions',
  'maxConcurrentWorkflowTaskPolls',
  'maxConcurrentActivityTaskExecutions',
  'maxConcurrentActivityTaskPolls',
  'maxCachedWorkflows',
  'nonStickyToStickyPollRatio',
  'maxEagerActivityReservationsPerWorkflowTask',
] as const;

/** Parses the command line; every problem is reported at once. */
function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      events: { type: 'string', default: '10000' },
      receivers: { type: 'string', default: '10' },
      fanout: { type: 'boolean', default: false },
      concurrency: { type: 'string', default: '50' },
      timeout: { type: 'string', default: '600' },
      'retry-schedule': { type: 'string', default: '0,1000,2000,5000,10000' },
      'attempt-timeout': { type: 'string', default: '10000' },
      'worker-options': { type: 'string' },
      histories: { type: 'string', default: '200' },
      'workflows-path': { type: 'string' },
      rate: { type: 'string' },
    },
    strict: true,
  });
  const problems: string[] = [];
  const whole = (name: string, text: string, min: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) problems.push(`--${name}: expected a whole number ≥ ${min}, got "${text}"`);
    return n;
  };
  const events = whole('events', values.events, 1);
  const receivers = whole('receivers', values.receivers, 1);
  const concurrency = whole('concurrency', values.concurrency, 1);
  const timeoutS = whole('timeout', values.timeout, 1);
  const attemptTimeoutMs = whole('attempt-timeout', values['attempt-timeout'], 1);
  const histories = whole('histories', values.histories, 0);
  const rate = values.rate === undefined ? null : Number(values.rate);
  if (rate !== null && !(rate > 0)) problems.push(`--rate: expected events per second > 0, got "${values.rate}"`);
  const retryScheduleMs = values['retry-schedule'].split(',').map((part, i) => whole(`retry-schedule[${i}]`, part.trim(), 0));
  let workerOptions: Partial<WorkerOptions> | null = null;
  if (values['worker-options'] !== undefined) {
    try {
      const parsed = JSON.parse(values['worker-options']) as Record<string, unknown>;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
      for (const [key, value] of Object.entries(parsed)) {
        if (!(TUNABLE_WORKER_OPTIONS as readonly string[]).includes(key)) problems.push(`--worker-options.${key}: expected one of ${TUNABLE_WORKER_OPTIONS.join(', ')}`);
        else if (typeof value !== 'number' || !(value >= 0)) problems.push(`--worker-options.${key}: expected a number ≥ 0, got ${JSON.stringify(value)}`);
      }
      workerOptions = parsed as Partial<WorkerOptions>;
    } catch (error) {
      problems.push(`--worker-options: expected a JSON object (${(error as Error).message})`);
    }
  }
  const workflowsPath = values['workflows-path'] === undefined ? null : path.resolve(values['workflows-path']);
  if (workflowsPath !== null && !existsSync(workflowsPath)) problems.push(`--workflows-path: no file ${workflowsPath}`);
  if (workflowsPath !== null) workerOptions ??= {};
  if (problems.length) throw new Error(`invalid options:\n  ${problems.join('\n  ')}`);
  return { events, receivers, fanout: values.fanout, concurrency, timeoutMs: timeoutS * 1000, retryScheduleMs, attemptTimeoutMs, workerOptions, histories, workflowsPath, rate };
}

/* ------------------------------------------------------------------ receivers ----------------- */

/** One webhook endpoint: verifies every request and records the first receive time of each webhook-id. */
class Receiver {
  private server!: Server;
  url = '';
  private hook: Webhook | undefined;
  /** webhook-id → performance.now() of its first receipt. */
  readonly firstReceipt = new Map<string, number>();
  requests = 0;
  duplicates = 0;
  badSignatures = 0;
  lastReceiptAt = 0;

  constructor(readonly index: number) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const at = performance.now();
        this.requests++;
        const id = String(req.headers['webhook-id'] ?? '');
        try {
          if (!this.hook) throw new Error('no secret yet');
          this.hook.verify(Buffer.concat(chunks).toString('utf8'), {
            'webhook-id': id,
            'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
            'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
          });
        } catch (error) {
          this.badSignatures++;
          if (this.badSignatures <= 3) console.error(`receiver ${this.index}: signature of ${id} does not verify: ${(error as Error).message}`);
          res.writeHead(400, { 'content-type': 'text/plain' }).end('bad signature');
          return;
        }
        if (this.firstReceipt.has(id)) this.duplicates++;
        else this.firstReceipt.set(id, at);
        this.lastReceiptAt = Math.max(this.lastReceiptAt, at);
        res.writeHead(204).end();
      });
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook-${this.index}`;
  }

  /** The secret the gateway returned when the webhook was created. */
  setSecret(secret: string): void {
    this.hook = new Webhook(secret);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/* ------------------------------------------------------------------ figures ------------------- */


/** PostgreSQL backend processes serving a database (title `postgres: [cluster: ]user db host(port) …`), by pid. */
function postgresBackends(database: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const title = /^postgres: (?:\S+: )?\S+ (\S+) /.exec(readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' '));
      if (title?.[1] === database) pids.push(Number(entry));
    } catch {
      // the process ended meanwhile
    }
  }
  return pids;
}

/**
 * Samples every 200 ms: RSS of this process and of the Temporal server; every second: CPU time of
 * the database's PostgreSQL backends (kept per pid, so a backend that exits still counts up to its
 * last sample).
 */
class ResourceSampler {
  selfPeakKiB = 0;
  temporalPeakKiB = 0;
  private readonly backendCpu = new Map<number, { first: number; last: number }>();
  private readonly timer: NodeJS.Timeout;
  private ticks = 0;
  constructor(
    private readonly temporalPid: number | undefined,
    private readonly database: string,
  ) {
    for (const pid of postgresBackends(database)) {
      const cpu = processCpuSeconds(pid);
      this.backendCpu.set(pid, { first: cpu, last: cpu });
    }
    this.timer = setInterval(() => this.sample(), 200);
    this.timer.unref();
  }
  sample(backends = ++this.ticks % 5 === 0): void {
    this.selfPeakKiB = Math.max(this.selfPeakKiB, process.memoryUsage.rss() / 1024);
    if (this.temporalPid) this.temporalPeakKiB = Math.max(this.temporalPeakKiB, procStatus(this.temporalPid)?.rssKiB ?? 0);
    if (!backends) return;
    for (const pid of postgresBackends(this.database)) {
      const cpu = processCpuSeconds(pid);
      if (!Number.isFinite(cpu)) continue;
      const known = this.backendCpu.get(pid);
      if (known) known.last = cpu;
      else this.backendCpu.set(pid, { first: 0, last: cpu });
    }
  }
  /** CPU seconds the database's backends used since the sampler started. */
  postgresCpuSeconds(): number {
    let total = 0;
    for (const { first, last } of this.backendCpu.values()) total += last - first;
    return total;
  }
  stop(): void {
    clearInterval(this.timer);
    this.sample(true);
  }
}

/* ------------------------------------------------------------------ histories ----------------- */

/** Where one delivery workflow's time went, from its Temporal history (server clock, ms). */
interface HistoryTimes {
  /** Workflow started (server time, epoch ms). */
  startedAt: number;
  /**
   * phase label → ms: `<activity> wait|run` (schedule → start, start → completion), and
   * `workflow task <why> wait|run`, where why is `at start`, `after <activity>`, `after a timer`,
   * or `retried after a timeout` (a workflow task that timed out is scheduled again).
   */
  phases: Map<string, number>;
  totalMs: number;
  workflowTaskTimeouts: number;
  activityRetries: number;
}

type HistoryEvent = NonNullable<Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>['events']>[number];

/** Splits a finished delivery workflow's history into queue waits and run times. */
async function historyTimes(client: Client, workflowId: string): Promise<HistoryTimes | undefined> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const events: HistoryEvent[] = history.events ?? [];
  const at = (e: HistoryEvent) => tsToMs(e.eventTime);
  const byId = new Map(events.map((e) => [Number(e.eventId), e]));
  const phases = new Map<string, number>();
  const add = (label: string, ms: number) => phases.set(label, (phases.get(label) ?? 0) + ms);
  let startedAt: number | undefined;
  let closedAt: number | undefined;
  let cause = 'at start';
  /** workflow task scheduled event id → its label. */
  const workflowTaskLabel = new Map<number, string>();
  const labelOfStarted = (startedEventId: unknown) => {
    const started = byId.get(Number(startedEventId));
    return started ? workflowTaskLabel.get(Number(started.workflowTaskStartedEventAttributes?.scheduledEventId)) : undefined;
  };
  let workflowTaskTimeouts = 0;
  let activityRetries = 0;
  for (const e of events) {
    if (e.workflowExecutionStartedEventAttributes) startedAt = at(e);
    else if (e.workflowExecutionCompletedEventAttributes || e.workflowExecutionFailedEventAttributes) closedAt = at(e);
    else if (e.workflowTaskScheduledEventAttributes) workflowTaskLabel.set(Number(e.eventId), `workflow task ${cause}`);
    else if (e.workflowTaskStartedEventAttributes) {
      const scheduled = byId.get(Number(e.workflowTaskStartedEventAttributes.scheduledEventId));
      const label = workflowTaskLabel.get(Number(e.workflowTaskStartedEventAttributes.scheduledEventId));
      if (scheduled && label) add(`${label} wait`, at(e) - at(scheduled));
    } else if (e.workflowTaskCompletedEventAttributes) {
      const started = byId.get(Number(e.workflowTaskCompletedEventAttributes.startedEventId));
      const label = labelOfStarted(e.workflowTaskCompletedEventAttributes.startedEventId);
      if (started && label) add(`${label} run`, at(e) - at(started));
    } else if (e.workflowTaskTimedOutEventAttributes) {
      workflowTaskTimeouts++;
      const started = byId.get(Number(e.workflowTaskTimedOutEventAttributes.startedEventId));
      const label = labelOfStarted(e.workflowTaskTimedOutEventAttributes.startedEventId);
      if (started && label) add(`${label} run`, at(e) - at(started));
      cause = 'retried after a timeout';
    } else if (e.timerFiredEventAttributes) {
      cause = 'after a timer';
    } else if (e.activityTaskCompletedEventAttributes) {
      const a = e.activityTaskCompletedEventAttributes;
      const scheduled = byId.get(Number(a.scheduledEventId));
      const started = byId.get(Number(a.startedEventId));
      const name = scheduled?.activityTaskScheduledEventAttributes?.activityType?.name ?? 'activity';
      activityRetries += Math.max(0, (started?.activityTaskStartedEventAttributes?.attempt ?? 1) - 1);
      if (scheduled && started) {
        add(`${name} wait`, at(started) - at(scheduled));
        add(`${name} run`, at(e) - at(started));
      }
      cause = `after ${name}`;
    }
  }
  if (startedAt === undefined || closedAt === undefined) return undefined;
  return { startedAt, phases, totalMs: closedAt - startedAt, workflowTaskTimeouts, activityRetries };
}

/** Runs `fn` over `items`, `limit` at a time. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]!);
      }
    }),
  );
  return results;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/* ------------------------------------------------------------------ main ---------------------- */

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const expected = options.fanout ? options.events * options.receivers : options.events;
  const cleanups: (() => Promise<void>)[] = [];
  const tempDirs: string[] = [];
  const loadAtStart = os.loadavg();
  console.log(
    `sluice webhook bench: ${options.fanout ? `fan-out, ${fmt(options.events)} events × ${options.receivers} receivers = ${fmt(expected)} deliveries` : `${fmt(options.events)} events round robin over ${options.receivers} receivers = ${fmt(expected)} deliveries`}; ` +
      `publish concurrency ${options.concurrency}${options.rate === null ? '' : `, at most ${options.rate} events/s`}; delivery worker: ${options.workerOptions ? `built here with ${JSON.stringify(options.workerOptions)}${options.workflowsPath ? ` and the workflows of ${options.workflowsPath}` : ''}` : "the gateway's"}, ` +
      `SLUICE_MAX_CONCURRENT_DELIVERIES=${process.env.SLUICE_MAX_CONCURRENT_DELIVERIES ?? '100 (default)'}; ` +
      `node ${process.version}, ${os.cpus().length} CPUs, load average ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}`,
  );
  let failed = false;
  try {
    /* -------------------------------------------------------- services ------------------------ */
    let t = performance.now();
    const [env, db] = await Promise.all([startTemporal(), createTestDatabase()]);
    cleanups.unshift(() => db.drop());
    cleanups.unshift(() => env.teardown());
    const temporalPid = childProcesses().find((c) => /temporal/i.test(c.comm))?.pid;
    console.log(`Temporal dev server at ${env.address} (pid ${temporalPid ?? '?'}), database ${new URL(db.url).pathname.slice(1)}: ${secs(performance.now() - t)}`);

    const receivers = Array.from({ length: options.receivers }, (_, i) => new Receiver(i));
    await Promise.all(receivers.map((r) => r.start()));
    cleanups.unshift(async () => {
      await Promise.all(receivers.map((r) => r.close()));
    });

    const dir = tempProject();
    tempDirs.push(dir);
    const base = testConfig({ dir, databaseUrl: db.url, address: env.address });
    tempDirs.push(base.staging.dir);
    const settings: WebhookSettings = {
      ...DEFAULT_WEBHOOK_SETTINGS,
      retryScheduleMs: options.retryScheduleMs,
      timeoutMs: options.attemptTimeoutMs,
      allowHttp: true,
      allowlist: ['127.0.0.1'],
    };
    const config: SluiceConfig = {
      ...base,
      gateway: {
        port: 0,
        host: '127.0.0.1',
        tokens: [{ name: 'bench', sha256: hashToken(TOKEN), scopes: ['webhooks:read', 'webhooks:write'] }],
        webhooks: settings,
      },
    };
    t = performance.now();
    const gateway = await startGateway({
      config,
      logger,
      port: 0,
      connection: env.connection,
      workerConnection: env.nativeConnection,
      deliveries: options.workerOptions === null,
    });
    cleanups.unshift(async () => {
      await gateway.close();
      closeWebhookAgents();
    });
    if (options.workerOptions) cleanups.unshift(await startOwnDeliveryWorker(env, gateway, config, settings, options.workerOptions, options.workflowsPath));
    console.log(`gateway at ${gateway.url} with the delivery worker on ${webhooksTaskQueue(config.temporal.taskQueue)}: ${secs(performance.now() - t)}`);

    // The webhooks, through the API.
    const webhookIds: string[] = [];
    for (const receiver of receivers) {
      const response = await fetch(`${gateway.url}/v1/webhooks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ url: receiver.url, description: `bench receiver ${receiver.index}` }),
      });
      const body = (await response.json()) as { id: string; secret: string };
      if (response.status !== 201) throw new Error(`POST /v1/webhooks answered ${response.status}: ${JSON.stringify(body)}`);
      receiver.setSecret(body.secret);
      webhookIds.push(body.id);
    }

    // The publishing side: its own pool and publisher, as the run worker's event activity has.
    const publishPool = new Pool({ connectionString: db.url, max: Math.min(options.concurrency, 20), application_name: 'sluice:bench-publisher' });
    publishPool.on('error', () => undefined);
    cleanups.unshift(() => publishPool.end());
    const publisher = new EventPublisher(publishPool, gateway.sluice.client, webhooksTaskQueue(config.temporal.taskQueue), logger);

    /* -------------------------------------------------------- publish ------------------------- */
    const tag = randomUUID();
    /** event id → performance.now() when its publish call started. */
    const publishedAt = new Map<string, number>();
    /** `${receiver}|${event id}` of every expected delivery. */
    const expectedKeys = new Set<string>();
    const deliveries: { deliveryId: string; eventId: string; receiver: number }[] = [];
    const eventOf = (i: number) => {
      const runId = `bench-run-${i}`;
      const data: RunEventData = {
        run_id: runId,
        status: 'SUCCEEDED',
        flow_version: 'bench:v1',
        source_path: `bench/batch-${i}.csv`,
        run_metadata: { bench: tag },
        rows: { read: 1000, mapped: 1000, rejected: 0, written: 1000 },
      };
      const payload: EventPayload = { type: 'run.succeeded', timestamp: new Date().toISOString(), data };
      return { id: deterministicId('evt', 'bench', tag, String(i)), runId, executionId: null, payload };
    };

    const cpuBefore = { self: process.cpuUsage(), temporal: temporalPid ? processCpuSeconds(temporalPid) : NaN, host: hostCpu() };
    const resources = new ResourceSampler(temporalPid, new URL(db.url).pathname.slice(1));
    const publishErrors: string[] = [];
    let next = 0;
    let publishedCount = 0;
    const publishStart = performance.now();
    const publishOne = async (i: number) => {
      const event = eventOf(i);
      publishedAt.set(event.id, performance.now());
      if (options.fanout) {
        for (let r = 0; r < options.receivers; r++) {
          expectedKeys.add(`${r}|${event.id}`);
          deliveries.push({ deliveryId: deterministicId('dlv', event.id, webhookIds[r]!), eventId: event.id, receiver: r });
        }
        await publisher.publish(event);
      } else {
        const r = i % options.receivers;
        expectedKeys.add(`${r}|${event.id}`);
        const webhookId = webhookIds[r]!;
        const deliveryId = deterministicId('dlv', event.id, webhookId);
        deliveries.push({ deliveryId, eventId: event.id, receiver: r });
        await insertEvent(publishPool, event);
        await publisher.webhooks.addDelivery({ id: deliveryId, webhookId, eventId: event.id, trigger: 'event' });
        await publisher.startDelivery(deliveryId);
      }
      publishedCount++;
    };
    const publishing = Promise.all(
      Array.from({ length: Math.min(options.concurrency, options.events) }, async () => {
        while (next < options.events) {
          const i = next++;
          if (options.rate !== null) {
            const due = publishStart + (i * 1000) / options.rate;
            if (due > performance.now()) await sleep(due - performance.now());
          }
          try {
            await publishOne(i);
          } catch (error) {
            publishErrors.push(`event ${i}: ${(error as Error).message}`);
          }
        }
      }),
    ).then(() => performance.now());

    /* -------------------------------------------------------- wait for quiescence ------------- */
    const received = () => receivers.reduce((n, r) => n + r.firstReceipt.size, 0);
    // Quiescence is awaited for `timeoutMs` after the last publish (and publishing itself gets as long).
    const deadline = () => (publishEnd ?? publishStart + options.timeoutMs) + options.timeoutMs;
    let publishEnd: number | undefined;
    void publishing.then((end) => (publishEnd = end));
    let lastProgress = performance.now();
    let lastCheck = 0;
    let quiescent = false;
    const statusCounts = async () => {
      const { rows } = await db.pool.query<{ status: string; n: string }>('SELECT status, count(*) AS n FROM sluice.webhook_deliveries GROUP BY status');
      return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)])) as Record<string, number>;
    };
    for (;;) {
      await sleep(250);
      const now = performance.now();
      if (now - lastProgress >= 10_000) {
        lastProgress = now;
        const counts = await statusCounts();
        console.log(
          `  ${secs(now - publishStart)}: published ${fmt(publishedCount)}/${fmt(options.events)} events, received ${fmt(received())}/${fmt(expected)} ` +
            `(${fmt(received() / ((now - publishStart) / 1000))}/s), delivery log ${JSON.stringify(counts)}`,
        );
      }
      // Done when the delivery log says every delivery ended and Temporal runs none of them any more
      // (checked at once when everything arrived, else every 5 s: a delivery lost on the way ends too).
      if (publishEnd !== undefined && (received() >= expected || now - lastCheck >= 5_000)) {
        lastCheck = now;
        const counts = await statusCounts();
        if ((counts.succeeded ?? 0) + (counts.failed ?? 0) >= expected) {
          const running = await gateway.sluice.client.workflow.count(`TaskQueue = "${webhooksTaskQueue(config.temporal.taskQueue)}" AND ExecutionStatus = "Running"`);
          if (running.count === 0) {
            quiescent = true;
            break;
          }
        }
      }
      if (now > deadline()) break;
    }
    await publishing;
    // Anything still in flight (a retried attempt) would arrive now.
    await sleep(1_000);
    resources.stop();
    const cpuAfter = { self: process.cpuUsage(cpuBefore.self), temporal: temporalPid ? processCpuSeconds(temporalPid) : NaN, host: hostCpu() };

    /* -------------------------------------------------------- figures ------------------------- */
    const latencies: number[] = [];
    let lost = 0;
    let unexpected = 0;
    let lastReceipt = 0;
    for (const key of expectedKeys) {
      const [r, eventId] = key.split('|') as [string, string];
      const at = receivers[Number(r)]!.firstReceipt.get(eventId);
      if (at === undefined) lost++;
      else {
        latencies.push(at - publishedAt.get(eventId)!);
        lastReceipt = Math.max(lastReceipt, at);
      }
    }
    for (const receiver of receivers) for (const id of receiver.firstReceipt.keys()) if (!expectedKeys.has(`${receiver.index}|${id}`)) unexpected++;
    lost += expected - expectedKeys.size; // events whose publish never started (none unless it threw early)
    latencies.sort((a, b) => a - b);
    const duplicates = receivers.reduce((n, r) => n + r.duplicates, 0);
    const badSignatures = receivers.reduce((n, r) => n + r.badSignatures, 0);
    const requests = receivers.reduce((n, r) => n + r.requests, 0);
    const wallMs = lastReceipt - publishStart;
    const publishMs = (publishEnd ?? performance.now()) - publishStart;
    const attemptsRow = (
      await db.pool.query<{ attempts: string; p50: number | null; p99: number | null; max: number | null; failed_attempts: string }>(
        `SELECT count(*) AS attempts,
                percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50,
                percentile_disc(0.99) WITHIN GROUP (ORDER BY latency_ms) AS p99,
                max(latency_ms) AS max,
                count(*) FILTER (WHERE http_status IS NULL OR http_status >= 300) AS failed_attempts
         FROM sluice.webhook_attempts`,
      )
    ).rows[0]!;
    const counts = await statusCounts();
    const hostBusyPct = (100 * (cpuAfter.host.busy - cpuBefore.host.busy)) / Math.max(1, cpuAfter.host.total - cpuBefore.host.total);
    const selfCpuS = (cpuAfter.self.user + cpuAfter.self.system) / 1e6;
    const temporalCpuS = cpuAfter.temporal - cpuBefore.temporal;
    const postgresCpuS = resources.postgresCpuSeconds();
    const stackCpuS = selfCpuS + temporalCpuS + postgresCpuS;
    const windowS = (performance.now() - publishStart) / 1000;
    const hostCpuS = (cpuAfter.host.busy - cpuBefore.host.busy) / 100;
    const figures = {
      bench: 'webhooks',
      mode: options.fanout ? 'fanout' : 'round-robin',
      events: options.events,
      receivers: options.receivers,
      expectedDeliveries: expected,
      publishConcurrency: options.concurrency,
      publishRateLimit: options.rate,
      maxConcurrentDeliveries: Number(process.env.SLUICE_MAX_CONCURRENT_DELIVERIES ?? 100),
      workerOptions: options.workerOptions,
      workflowsPath: options.workflowsPath,
      quiescent,
      wallMs: Math.round(wallMs),
      deliveriesPerSecond: Math.round((latencies.length / (wallMs / 1000)) * 10) / 10,
      publishMs: Math.round(publishMs),
      eventsPublishedPerSecond: Math.round((publishedCount / (publishMs / 1000)) * 10) / 10,
      publishErrors: publishErrors.length,
      endToEndMs: {
        p50: Math.round(percentile(latencies, 50)),
        p95: Math.round(percentile(latencies, 95)),
        p99: Math.round(percentile(latencies, 99)),
        max: Math.round(latencies.at(-1) ?? NaN),
      },
      attemptLatencyMs: { p50: attemptsRow.p50, p99: attemptsRow.p99, max: attemptsRow.max },
      attempts: Number(attemptsRow.attempts),
      failedAttempts: Number(attemptsRow.failed_attempts),
      deliveryLog: counts,
      requests,
      received: latencies.length,
      duplicates,
      unexpected,
      badSignatures,
      lost,
      peakRssMiB: { bench: Math.round(Math.max(resources.selfPeakKiB, process.resourceUsage().maxRSS) / 1024), temporal: Math.round(resources.temporalPeakKiB / 1024) },
      cpuSeconds: { bench: Math.round(selfCpuS * 10) / 10, temporal: Math.round(temporalCpuS * 10) / 10, postgres: Math.round(postgresCpuS * 10) / 10, host: Math.round(hostCpuS * 10) / 10, windowS: Math.round(windowS * 10) / 10 },
      hostBusyPct: Math.round(hostBusyPct),
      /** CPU of this process + Temporal + the database's backends per delivery received, and what that allows on the host's cores. */
      stackCpuMsPerDelivery: Math.round((stackCpuS * 1000) / Math.max(1, latencies.length)),
      cpuBoundDeliveriesPerSecond: Math.round(os.cpus().length / (stackCpuS / Math.max(1, latencies.length))),
      otherProcessesCpuS: Math.round((hostCpuS - stackCpuS) * 10) / 10,
      loadAverageAtStart: loadAtStart.map((l) => Math.round(l * 100) / 100),
      cpus: os.cpus().length,
      node: process.version,
    };

    const line = (label: string, value: string) => console.log(`  ${label.padEnd(44)} ${value}`);
    console.log('');
    console.log(`RESULTS (${figures.mode}: ${fmt(options.events)} events, ${options.receivers} receivers, ${fmt(expected)} deliveries)`);
    line('wall time (first publish → last receipt)', secs(wallMs));
    line('deliveries per second', fmt(figures.deliveriesPerSecond, 1));
    line('publish', `${secs(publishMs)}: ${fmt(figures.eventsPublishedPerSecond, 1)} events/s accepted (${options.concurrency} in flight)${publishErrors.length ? `, ${publishErrors.length} FAILED` : ''}`);
    line('end-to-end latency p50 / p95 / p99 / max', `${fmt(figures.endToEndMs.p50)} / ${fmt(figures.endToEndMs.p95)} / ${fmt(figures.endToEndMs.p99)} / ${fmt(figures.endToEndMs.max)} ms`);
    line('HTTP attempt latency p50 / p99 / max', `${attemptsRow.p50} / ${attemptsRow.p99} / ${attemptsRow.max} ms (delivery log, ${fmt(figures.attempts)} attempts, ${figures.failedAttempts} failed)`);
    line('delivery log', JSON.stringify(counts));
    line('received (distinct) / requests', `${fmt(latencies.length)} / ${fmt(requests)}`);
    line('duplicates / unexpected', `${duplicates} / ${unexpected}`);
    line('bad signatures', String(badSignatures));
    line('LOST', `${lost}${quiescent ? '' : ` (NOT quiescent ${secs(options.timeoutMs)} after the last publish)`}`);
    line('peak RSS: bench process / Temporal', `${fmt(figures.peakRssMiB.bench)} MiB / ${fmt(figures.peakRssMiB.temporal)} MiB`);
    line('CPU s: bench / Temporal / Postgres / host', `${fmt(selfCpuS, 1)} / ${fmt(temporalCpuS, 1)} / ${fmt(postgresCpuS, 1)} / ${fmt(hostCpuS, 1)} over ${fmt(windowS, 1)} s (host ${fmt(hostBusyPct)}% busy, ${os.cpus().length} CPUs)`);
    line('CPU per delivery (bench+Temporal+PG)', `${fmt(figures.stackCpuMsPerDelivery)} ms: at most ~${fmt(figures.cpuBoundDeliveriesPerSecond)} deliveries/s on ${os.cpus().length} idle cores; other processes used ${fmt(figures.otherProcessesCpuS, 1)} CPU s`);

    /* -------------------------------------------------------- where the time went ------------- */
    // A sample of delivery workflows (evenly spaced in publish order, plus the 3 slowest), split
    // into Temporal queue waits and run times from their histories (server clock).
    const e2eOf = (d: (typeof deliveries)[number]) => {
      const at = receivers[d.receiver]!.firstReceipt.get(d.eventId);
      return at === undefined ? Infinity : at - publishedAt.get(d.eventId)!;
    };
    const step = Math.max(1, Math.floor(deliveries.length / Math.max(1, options.histories)));
    const sample = options.histories > 0 ? deliveries.filter((_, i) => i % step === 0).slice(0, options.histories) : [];
    const slowest = options.histories > 0 ? [...deliveries].sort((a, b) => e2eOf(b) - e2eOf(a)).slice(0, 3) : [];
    const timesOf = (d: (typeof deliveries)[number]) => historyTimes(gateway.sluice.client, deliveryWorkflowId(d.deliveryId)).catch(() => undefined);
    const sampled = (await mapLimit(sample, 10, async (d) => ({ d, times: await timesOf(d) }))).filter((x) => x.times !== undefined) as {
      d: (typeof deliveries)[number];
      times: HistoryTimes;
    }[];
    const breakdown: Record<string, { n: number; mean: number; p50: number; p99: number }> = {};
    if (sampled.length > 0) {
      const labels: string[] = [];
      for (const { times } of sampled) for (const label of times.phases.keys()) if (!labels.includes(label)) labels.push(label);
      const summary = (values: number[]) => {
        const sorted = [...values].sort((a, b) => a - b);
        return { n: sorted.length, mean: Math.round(sorted.reduce((a, b) => a + b, 0) / sorted.length), p50: Math.round(percentile(sorted, 50)), p99: Math.round(percentile(sorted, 99)) };
      };
      breakdown['publish start → workflow started'] = summary(sampled.map(({ d, times }) => times.startedAt - (performance.timeOrigin + publishedAt.get(d.eventId)!)));
      // Over the workflows that have the phase (a retried workflow task is in few of them: see n).
      for (const label of labels) breakdown[label] = summary(sampled.flatMap(({ times }) => (times.phases.has(label) ? [times.phases.get(label)!] : [])));
      breakdown['workflow started → closed'] = summary(sampled.map(({ times }) => times.totalMs));
      breakdown['end to end (publish → receipt)'] = summary(sampled.map(({ d }) => e2eOf(d)));
      const timeouts = sampled.reduce((n, { times }) => n + times.workflowTaskTimeouts, 0);
      const retries = sampled.reduce((n, { times }) => n + times.activityRetries, 0);
      console.log('');
      console.log(`WHERE THE TIME GOES (${sampled.length} sampled delivery workflows; ms mean / p50 / p99 (n); workflow task timeouts ${timeouts}, activity retries ${retries})`);
      for (const [label, v] of Object.entries(breakdown)) line(label, `${fmt(v.mean)} / ${fmt(v.p50)} / ${fmt(v.p99)}${v.n === sampled.length ? '' : `  (n = ${v.n})`}`);
      for (const d of slowest) {
        const times = await timesOf(d);
        if (!times) continue;
        const phases = [...times.phases.entries()].map(([label, ms]) => `${label} ${fmt(ms)}`).join(', ');
        console.log(
          `  slow: ${d.deliveryId} end to end ${fmt(e2eOf(d))} ms; publish → started ${fmt(times.startedAt - (performance.timeOrigin + publishedAt.get(d.eventId)!))}; ${phases}` +
            `${times.workflowTaskTimeouts ? `; ${times.workflowTaskTimeouts} workflow task timeout(s)` : ''}${times.activityRetries ? `; ${times.activityRetries} activity retries` : ''}`,
        );
      }
    }
    console.log(JSON.stringify({ ...figures, breakdown }));
    for (const error of publishErrors.slice(0, 5)) console.error(`publish error: ${error}`);
    if (lost > 0 || badSignatures > 0 || publishErrors.length > 0 || !quiescent || (counts.succeeded ?? 0) !== expected) {
      failed = true;
      console.error(`CHECK FAILED: lost ${lost}, bad signatures ${badSignatures}, publish errors ${publishErrors.length}, quiescent ${quiescent}, succeeded ${counts.succeeded ?? 0}/${expected}`);
    }
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((error: unknown) => console.error(`cleanup: ${(error as Error).message}`));
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  }
  if (failed) process.exitCode = 1;
}

/**
 * A delivery worker like the gateway's (`worker/delivery-worker.ts`: same task queue, activities,
 * pool, activity concurrency and grace time) with extra `Worker.create` options.
 * @returns its shutdown.
 */
async function startOwnDeliveryWorker(
  env: TestWorkflowEnvironment,
  gateway: Gateway,
  config: SluiceConfig,
  settings: WebhookSettings,
  extra: Partial<WorkerOptions>,
  workflowsPath: string | null,
): Promise<() => Promise<void>> {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: config.temporal.namespace,
    taskQueue: webhooksTaskQueue(config.temporal.taskQueue),
    workflowBundle: workflowsPath ? await bundleWorkflowCode({ workflowsPath, logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} } }) : await workflowBundle(),
    activities: createDeliveryActivities({ settings, publisher: gateway.publisher, metrics: NO_DELIVERY_METRICS, logger }),
    maxConcurrentActivityTaskExecutions: Number(process.env.SLUICE_MAX_CONCURRENT_DELIVERIES ?? 100),
    shutdownGraceTime: `${settings.timeoutMs + 5_000}ms`,
    ...extra,
  });
  const running = worker.run();
  return async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
  };
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
