/**
 * `sluice test-connections`: checks every connector of an environment, the metadata database and Temporal,
 * in parallel, and prints one row each (what is checked per kind: ops/test-connection.ts).
 *
 * ```sh
 * sluice test-connections -e prod                       # the table; exit 1 if any FAILED
 * sluice test-connections --only warehouse,mail --to me@example.com --timeout 5
 * sluice test-connections --json                        # one JSON object: { environment, ok, checks: [...] }
 * ```
 *
 * An smtp connector sends a real test email to `notifications.email.to` when that section names it, else
 * to the `--to` addresses, else it is only verified (the reason says so).
 *
 * Exit codes: 0 every check OK, 1 any FAILED, 2 a refused request (an unknown name in `--only`, a bad
 * `--timeout` or `--to`, an invalid config).
 */
import type { Command } from 'commander';
import { UserError } from '../common/errors';
import { readEnv } from '../common/env';
import { DEFAULT_CHECK_TIMEOUT_MS, testConnections, type ConnectionCheck } from '../ops/test-connection';
import { configFrom, ExitError } from './cli-config';
import { seconds } from './number-options';

interface TestConnectionsOptions {
  json?: boolean;
  timeout?: number;
  to?: string;
  only?: string;
}

const list = (text: string | undefined): string[] =>
  (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

const timeoutMs = (timeoutS: number | undefined): number => (timeoutS === undefined ? DEFAULT_CHECK_TIMEOUT_MS : Math.round(timeoutS * 1000));

function recipients(text: string | undefined): string[] {
  const addresses = list(text);
  const bad = addresses.filter((a) => !/^[^\s@<>]+@[^\s@<>]+$/.test(a));
  if (bad.length > 0) throw new UserError('INVALID_EMAIL', `--to must be comma-separated email addresses, not ${bad.map((a) => `"${a}"`).join(', ')}`);
  return addresses;
}

/** The table: CONNECTOR KIND STATUS LATENCY REASON, reason last (it may be long). */
export function formatChecks(checks: ConnectionCheck[]): string {
  const rows = checks.map((c) => [c.connector, c.kind, c.ok ? 'OK' : 'FAILED', `${c.latencyMs} ms`, c.reason]);
  const header = ['CONNECTOR', 'KIND', 'STATUS', 'LATENCY', 'REASON'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 3 ? cell.padStart(widths[i]!) : i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const failed = checks.filter((c) => !c.ok).length;
  const summary = failed === 0 ? `all ${checks.length} OK` : `${failed} of ${checks.length} FAILED`;
  return `${[line(header), ...rows.map(line)].join('\n')}\n\n${summary}\n`;
}

/** Adds `sluice test-connections` to a program. */
export function addTestConnectionsCommand(program: Command): void {
  program
    .command('test-connections')
    .description('check every connector of the environment (-e), the metadata database and Temporal; exit 1 if any failed')
    .option('--json', 'print one JSON object: { environment, ok, checks: [{ connector, kind, status, ok, latency_ms, reason, detail }] }')
    .option('--timeout <seconds>', `give each check this long (default ${DEFAULT_CHECK_TIMEOUT_MS / 1000})`, seconds({ above: 0, atMost: 600 }))
    .option('--to <addresses>', 'comma-separated recipients of the test email of smtp connectors that notifications.email does not name')
    .option('--only <names>', 'comma-separated connector names (and/or metadata, temporal) to check')
    .action(async (options: TestConnectionsOptions, command: Command) => {
      const config = configFrom(command);
      const environment = readEnv('SLUICE_ENV') || 'dev';
      const checks = await testConnections(config, { only: list(options.only), to: recipients(options.to), timeoutMs: timeoutMs(options.timeout), environment });
      const ok = checks.every((c) => c.ok);
      if (options.json) {
        const rows = checks.map((c) => ({
          connector: c.connector,
          kind: c.kind,
          status: c.ok ? 'OK' : 'FAILED',
          ok: c.ok,
          latency_ms: c.latencyMs,
          reason: c.reason,
          ...(c.detail ? { detail: c.detail } : {}),
          ...(c.system ? { system: true } : {}),
        }));
        process.stdout.write(`${JSON.stringify({ environment, ok, checks: rows })}\n`);
      } else {
        process.stdout.write(formatChecks(checks));
      }
      if (!ok) throw new ExitError(1);
    });
}
