/**
 * Unit tests of the activity boundary: what each kind of error becomes, and that every activity set
 * (run, pipeline, event, delivery, housekeeping) goes through it — a ConfigError thrown by a dependency
 * becomes a non-retryable ApplicationFailure with its code instead of being retried.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Pool } from 'pg';
import { ConfigError, TransientError, UserError } from '../common/errors';
import { createLogger } from '../common/logger';
import type { SluiceConfig, WebhookSettings } from '../config/sluice-config';
import type { FlowVersionStore } from '../flows/flow-versions';
import type { Staging } from '../storage/staging';
import type { DeliveryMetrics } from '../webhooks/delivery-metrics';
import type { EventPublisher } from '../webhooks/event-publisher';
import { atActivityBoundary, withActivityBoundary, withEnvironmentGuard } from './activity-boundary';
import { createDeliveryActivities } from './delivery-activities';
import { createEventActivities } from './event-activities';
import { createHousekeepingActivities } from './housekeeping-activities';
import { createPipelineActivities } from './pipeline-activities';
import { createRunActivities } from './run-activities';

const logger = createLogger('test', 'silent');

/** What the error of a config that names no database looks like, thrown by a dependency of an activity. */
const configError = () => new ConfigError('NO_DATABASE', 'no metadata database configured', { details: { where: 'test' } });

/** Asserts `caught` is the non-retryable failure the boundary makes of {@link configError}. */
function isNonRetryableConfigFailure(caught: unknown): true {
  assert.ok(caught instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(caught)}`);
  assert.equal(caught.type, 'NO_DATABASE');
  assert.equal(caught.message, 'no metadata database configured');
  assert.equal(caught.nonRetryable, true);
  assert.deepEqual(caught.details, [{ where: 'test' }]);
  return true;
}

/** A stand-in for a dependency: every method throws {@link configError} (it is not a thenable). */
function failing<T>(): T {
  return new Proxy({}, {
    get: (_target, property) =>
      property === 'then'
        ? undefined
        : () => {
            throw configError();
          },
  }) as T;
}

describe('atActivityBoundary', () => {
  it('makes a UserError a non-retryable ApplicationFailure typed by its code, with its details', async () => {
    await assert.rejects(atActivityBoundary(logger, 'test', () => Promise.reject(configError())), isNonRetryableConfigFailure);
    await assert.rejects(atActivityBoundary(logger, 'test', () => Promise.reject(new UserError('RUN_NOT_FOUND', 'no run with id "x"'))), (caught: unknown) => {
      assert.ok(caught instanceof ApplicationFailure);
      assert.deepEqual({ type: caught.type, message: caught.message, nonRetryable: caught.nonRetryable, details: caught.details }, {
        type: 'RUN_NOT_FOUND',
        message: 'no run with id "x"',
        nonRetryable: true,
        details: [],
      });
      return true;
    });
  });

  it('keeps a TransientError retryable, typed by its code, with the error as its cause', async () => {
    const error = new TransientError('SERVICE_UNAVAILABLE', 'the metadata database is unreachable');
    await assert.rejects(atActivityBoundary(logger, 'test', () => Promise.reject(error)), (caught: unknown) => {
      assert.ok(caught instanceof ApplicationFailure);
      assert.equal(caught.type, 'SERVICE_UNAVAILABLE');
      assert.equal(caught.message, 'the metadata database is unreachable');
      assert.equal(caught.nonRetryable, false);
      assert.equal(caught.cause, error);
      return true;
    });
  });

  it('rethrows anything else unchanged, so Temporal retries it', async () => {
    const error = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    await assert.rejects(atActivityBoundary(logger, 'test', () => Promise.reject(error)), (caught: unknown) => caught === error);
    const own = ApplicationFailure.create({ type: 'Custom', message: 'made by the activity', nonRetryable: false });
    await assert.rejects(atActivityBoundary(logger, 'test', () => Promise.reject(own)), (caught: unknown) => caught === own);
    await assert.rejects(atActivityBoundary(logger, 'test', () => Promise.reject('a string')), (caught: unknown) => {
      assert.ok(caught instanceof Error && !(caught instanceof ApplicationFailure));
      assert.equal(caught.message, 'a string');
      return true;
    });
  });

  it('returns what the body returns', async () => {
    assert.deepEqual(await atActivityBoundary(logger, 'test', async () => ({ rows: 3 })), { rows: 3 });
  });
});

describe('withActivityBoundary', () => {
  it('wraps every function of the set, keeping arguments and results', async () => {
    const bounded = withActivityBoundary(logger, {
      async double(input: { n: number }) {
        return input.n * 2;
      },
      async fail(_input: { n: number }): Promise<number> {
        throw configError();
      },
    });
    assert.deepEqual(Object.keys(bounded), ['double', 'fail']);
    assert.equal(await bounded.double({ n: 21 }), 42);
    await assert.rejects(bounded.fail({ n: 1 }), isNonRetryableConfigFailure);
  });
});

describe('withEnvironmentGuard', () => {
  it('refuses an input stamped for another environment, non-retryably, before the body runs; runs unstamped and matching ones', async () => {
    const calls: string[] = [];
    const guarded = withEnvironmentGuard(logger, 'dev', {
      async load(input: { table: string; environment?: string }) {
        calls.push(input.table);
        return input.table;
      },
    });
    assert.equal(await guarded.load({ table: 'a', environment: 'dev' }), 'a');
    assert.equal(await guarded.load({ table: 'b' }), 'b', 'an unstamped input is not checked');
    await assert.rejects(guarded.load({ table: 'c', environment: 'prod' }), (caught: unknown) => {
      assert.ok(caught instanceof ApplicationFailure);
      assert.equal(caught.type, 'WRONG_ENVIRONMENT');
      assert.equal(caught.nonRetryable, true);
      assert.match(caught.message, /^this work belongs to environment "prod" but reached a worker of environment "dev" \(they share a task queue\); nothing was executed\. .*sluice worker -e prod$/);
      assert.deepEqual(caught.details, [{ environment: 'prod', worker_environment: 'dev' }]);
      return true;
    });
    assert.deepEqual(calls, ['a', 'b'], 'the refused activity never ran');
  });
});

describe('every activity set goes through the boundary', () => {
  it('run activities', async () => {
    const activities = createRunActivities({ config: { projectDir: '/nonexistent' } as SluiceConfig, connectors: failing(), flowVersions: failing<FlowVersionStore>(), staging: failing<Staging>(), logger });
    const ref = { runId: 'r', executionId: 'e', flowVersion: 'movies:v1', sourcePath: 'movies.json' };
    await assert.rejects(new MockActivityEnvironment().run(activities.syncSource, ref), isNonRetryableConfigFailure);
    await assert.rejects(activities.finishRun({ runId: 'r', executionId: 'e' }), isNonRetryableConfigFailure);
  });

  it('pipeline activities', async () => {
    const activities = createPipelineActivities({ config: { projectDir: '/nonexistent' } as SluiceConfig, pool: failing<Pool>(), flowVersions: failing<FlowVersionStore>(), staging: failing<Staging>(), logger });
    const requirement = { requires: [{ pipeline: 'upstream', within: '24h', withinMs: 86_400_000 }], environment: 'dev', timezone: 'UTC', pipeline: 'daily' };
    await assert.rejects(activities.checkPipelineRequirements(requirement), isNonRetryableConfigFailure);
    await assert.rejects(activities.backupSource({ flowVersion: 'movies:v1', sourcePath: 'movies.json', date: '2026-12-02' }), isNonRetryableConfigFailure);
  });

  it('event activities', async () => {
    const activities = createEventActivities({ pool: failing<Pool>(), runTaskQueue: 'sluice', logger });
    // The activity only hands the client to its EventPublisher; the failing pool stops it before any call.
    const fakeClient = { withAbortSignal: (_signal: AbortSignal, fn: () => unknown) => fn() } as unknown as Client;
    const input = { runId: 'r', executionId: 'e', status: 'CREATED' as const, flowVersion: 'movies:v1', sourcePath: 'movies.json', runMetadata: {}, rows: { read: 0, mapped: 0, rejected: 0, written: 0 } };
    await assert.rejects(new MockActivityEnvironment(undefined, { client: fakeClient }).run(activities.publishRunEvent, input), isNonRetryableConfigFailure);
  });

  it('housekeeping activities', async () => {
    const activities = createHousekeepingActivities({ config: { projectDir: '/nonexistent' } as SluiceConfig, staging: failing<Staging>(), logger, listInFlight: () => Promise.reject(configError()) });
    await assert.rejects(new MockActivityEnvironment().run(activities.sweepRetention, { kind: 'staging' as const, dryRun: true, nowMs: 0 }), isNonRetryableConfigFailure);
  });

  it('delivery activities: a UserError fails the attempt, any other error is still retried', async () => {
    const settings = { retryScheduleMs: [1_000], timeoutMs: 1_000 } as WebhookSettings;
    const metrics = failing<DeliveryMetrics>();
    const activities = createDeliveryActivities({ settings, publisher: { webhooks: failing() } as EventPublisher, metrics, logger });
    await assert.rejects(activities.attemptDelivery({ deliveryId: 'd', attempt: 1, scheduledDelayMs: 1_000 }), isNonRetryableConfigFailure);
    const down = new Error('connect ECONNREFUSED 127.0.0.1:5432');
    const retried = createDeliveryActivities({ settings, publisher: { webhooks: { deliveryForAttempt: () => Promise.reject(down) } } as unknown as EventPublisher, metrics, logger });
    await assert.rejects(retried.attemptDelivery({ deliveryId: 'd', attempt: 1, scheduledDelayMs: 1_000 }), (caught: unknown) => caught === down);
    assert.deepEqual(await retried.planDelivery({ deliveryId: 'd' }), { retryScheduleMs: [1_000], timeoutMs: 1_000 });
  });
});
