/**
 * Integration: runs are findable in the Temporal UI by flow, flow version and status (Sluice's
 * search attributes), and a finished run's workflow page shows its status. One real run (four CSV
 * rows, one rejected → PARTIAL_FAILED) on the real Temporal dev server and PostgreSQL, then headless
 * Chromium (Debian's `chromium`, driven by `playwright-core`) on the dev server's own UI.
 *
 * Needs Chromium at `/usr/bin/chromium` (`CHROMIUM_PATH` for another): without it the file skips,
 * except with `CI` set, where it fails saying how to install it. A failed page check saves a
 * screenshot and names its path in the error.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { RunStatus } from '../../common/run-model';
import { createTestDatabase, startInProcessRunner, startTemporal, tempProject, testConfig, type InProcessRunner, type TemporalWithUi, type TestDatabase } from '../helpers/services';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const MISSING_CHROMIUM = `no Chromium at ${CHROMIUM}: install Debian's chromium: apt-get install chromium (or set CHROMIUM_PATH)`;
/** The UI is a single-page app that loads data after the page: wait this long for what it shows. */
const UI_TIMEOUT_MS = 30_000;

/** A flow name unique to this file, so the visibility queries can only match its run. */
const FLOW = `ui_orders_${Date.now().toString(36)}`;
const FLOW_YAML = `
name: ${FLOW}
source: { connector: files, format: csv }
target: { connector: warehouse, table: public.${FLOW}, write: append }
fields:
  id:     { from: id, type: int64, required: true }
  name:   { from: name, type: string }
  amount: { from: amount, type: int64 }
max_reject_ratio: 0.5
`;
/** Row 2's amount is not an int64: it is rejected and the run ends PARTIAL_FAILED. */
const ORDERS_CSV = 'id,name,amount\n1,a,10\n2,b,oops\n3,c,30\n4,d,40\n';

/** A visibility query `K1="v1" AND K2="v2"`, as typed into the UI's search box. */
const visibilityQuery = (clauses: Record<string, string>) =>
  Object.entries(clauses)
    .map(([key, value]) => `${key}="${value}"`)
    .join(' AND ');

describe('runs in the Temporal UI', { skip: !existsSync(CHROMIUM) && !process.env.CI ? MISSING_CHROMIUM : false }, () => {
  let env: TemporalWithUi;
  let db: TestDatabase;
  let runner: InProcessRunner;
  let browser: Browser;
  let page: Page;
  let runId: string;
  let executionId: string;
  let version: string;
  const screenshots = mkdtempSync(path.join(os.tmpdir(), 'sluice-ui-'));

  /** Opens `route` of the UI and runs `check`; when it fails, saves a screenshot and names it in the error. */
  async function onPage(t: TestContext, route: string, check: () => Promise<void>): Promise<void> {
    try {
      await page.goto(`${env.uiUrl}${route}`, { timeout: UI_TIMEOUT_MS });
      await check();
    } catch (error) {
      const file = path.join(screenshots, `${t.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 80)}.png`);
      await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
      throw new Error(`${(error as Error).message}\n  page: ${page.url()}\n  screenshot: ${file}`, { cause: error });
    }
  }

  /** The workflows list filtered by a visibility query. */
  const listRoute = (clauses: Record<string, string>) => `/namespaces/default/workflows?query=${encodeURIComponent(visibilityQuery(clauses))}`;

  /** Asserts the list for `clauses` shows the run, as a row with its Temporal status Completed. */
  async function assertListed(t: TestContext, clauses: Record<string, string>): Promise<void> {
    await onPage(t, listRoute(clauses), async () => {
      const row = page.locator('tr', { hasText: runId });
      await row.waitFor({ timeout: UI_TIMEOUT_MS });
      const text = await row.innerText();
      assert.match(text, /\bCompleted\b/, `row of ${runId} for ${visibilityQuery(clauses)}: ${text}`);
      assert.ok(text.includes(executionId), `row of ${runId} names its execution ${executionId}: ${text}`);
    });
  }

  /** Asserts the list for `clauses` is the UI's empty state, without the run. */
  async function assertNotListed(t: TestContext, clauses: Record<string, string>): Promise<void> {
    await onPage(t, listRoute(clauses), async () => {
      await page.getByText('There are no results for the applied filters.').waitFor({ timeout: UI_TIMEOUT_MS });
      assert.equal(await page.getByText(runId).count(), 0, `${runId} is not listed for ${visibilityQuery(clauses)}`);
    });
  }

  before(async () => {
    assert.ok(existsSync(CHROMIUM), MISSING_CHROMIUM);
    [env, db] = await Promise.all([startTemporal({ ui: true }), createTestDatabase()]);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    page = await browser.newPage({ viewport: { width: 1600, height: 1200 } });
    const dir = tempProject();
    writeFileSync(path.join(dir, 'orders.csv'), ORDERS_CSV);
    const config = testConfig({ dir, databaseUrl: db.url, address: env.address, connectors: { files: { kind: 'local', root: '.' }, warehouse: { kind: 'postgres' } } });
    runner = await startInProcessRunner(env, db, config);

    version = await runner.publish(FLOW_YAML);
    const run = await runner.sluice.run({ flowVersion: version, sourcePath: 'orders.csv' });
    const metadata = await run.wait({ timeoutMs: 120_000, pollIntervalMs: 200 });
    assert.equal(run.status, 'PARTIAL_FAILED');
    assert.deepEqual(metadata.rows, { read: 4, mapped: 3, rejected: 1, written: 3 });
    runId = run.id;
    executionId = metadata.run.execution_id;
    // Visibility is eventually consistent: wait until the final status is indexed before browsing.
    const deadline = Date.now() + 15_000;
    const status = async (): Promise<RunStatus | undefined> => (await runner.sluice.listRuns({ flow: FLOW })).find((r) => r.id === runId)?.status;
    while ((await status()) !== 'PARTIAL_FAILED') {
      if (Date.now() > deadline) assert.fail(`run ${runId} not indexed as PARTIAL_FAILED after 15 s (${await status()})`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  });

  after(async () => {
    await browser?.close();
    await runner?.stop();
    await env?.teardown();
    await db?.drop();
  });

  it('lists the run when filtered by its flow, its flow version, its status, and all three', async (t) => {
    await assertListed(t, { SluiceFlow: FLOW });
    await assertListed(t, { SluiceFlowVersion: version });
    await assertListed(t, { SluiceStatus: 'PARTIAL_FAILED' });
    await assertListed(t, { SluiceFlow: FLOW, SluiceFlowVersion: version, SluiceStatus: 'PARTIAL_FAILED' });
  });

  it("carries Temporal user metadata: the summary set at start and the Sluice status and counts as current details", async () => {
    const handle = env.client.workflow.getHandle(runId, executionId);
    assert.equal(await (await handle.describe()).staticSummary(), `${version} on orders.csv`);
    // The SDK's built-in metadata query returns what the workflow set with setCurrentDetails.
    const workflowMetadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    assert.equal(workflowMetadata.currentDetails, `**PARTIAL_FAILED** · read 4 · mapped 3 · rejected 1 · written 3\n\nTop reject rules: amount:type 1`);
  });

  it('does not list the run for another status or another flow version', async (t) => {
    await assertNotListed(t, { SluiceFlow: FLOW, SluiceStatus: 'FAILED' });
    await assertNotListed(t, { SluiceFlow: FLOW, SluiceFlowVersion: `${FLOW}:v2`, SluiceStatus: 'PARTIAL_FAILED' });
  });

  it("shows the run's status on its workflow page: Completed, and PARTIAL_FAILED in its result and search attributes", async (t) => {
    // `/workflows/<id>/<run id>` opens the History tab (the UI redirects to `…/history`).
    await onPage(t, `/namespaces/default/workflows/${encodeURIComponent(runId)}/${executionId}`, async () => {
      await page.getByRole('heading', { name: runId }).waitFor({ timeout: UI_TIMEOUT_MS });
      await page.getByText('Completed', { exact: true }).waitFor({ timeout: UI_TIMEOUT_MS });
      // The workflow's result is the run's final metadata.
      await page.getByText('"status": "PARTIAL_FAILED"').waitFor({ timeout: UI_TIMEOUT_MS });
      await page.getByText('"rejected": 1').first().waitFor({ timeout: UI_TIMEOUT_MS });
      // The User Metadata tab: the summary, and the current details with the Sluice status first (not only "Completed").
      // The UI renders each as Markdown in its own frame (`/render?content=…`).
      await page.getByRole('link', { name: 'User Metadata' }).or(page.getByRole('tab', { name: 'User Metadata' })).first().click();
      const rendered = (text: string) => page.frameLocator(`iframe[src*="${encodeURIComponent(text).replace(/[()']/g, '')}"]`).locator('body');
      await rendered(`${version} on orders.csv`).getByText(`${version} on orders.csv`).waitFor({ timeout: UI_TIMEOUT_MS });
      const details = rendered('**PARTIAL_FAILED**');
      await details.locator('strong', { hasText: 'PARTIAL_FAILED' }).waitFor({ timeout: UI_TIMEOUT_MS });
      await details.getByText('read 4 · mapped 3 · rejected 1 · written 3').waitFor({ timeout: UI_TIMEOUT_MS });
      await details.getByText('Top reject rules: amount:type 1').waitFor({ timeout: UI_TIMEOUT_MS });
      // The Search Attributes tab of the same page: the values the list filters on.
      await page.getByRole('link', { name: 'Search Attributes' }).or(page.getByRole('tab', { name: 'Search Attributes' })).first().click();
      await page.waitForURL(/\/search-attributes$/, { timeout: UI_TIMEOUT_MS });
      await page.getByText('"SluiceStatus": "PARTIAL_FAILED"').waitFor({ timeout: UI_TIMEOUT_MS });
      await page.getByText(`"SluiceFlow": "${FLOW}"`).waitFor({ timeout: UI_TIMEOUT_MS });
      await page.getByText(`"SluiceFlowVersion": "${version}"`).waitFor({ timeout: UI_TIMEOUT_MS });
      await page.getByText('Completed', { exact: true }).waitFor({ timeout: UI_TIMEOUT_MS });
    });
  });
});
