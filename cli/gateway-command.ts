/**
 * `sluice gateway` (serve the HTTP API) and `sluice token hash` (make a config entry for an API token).
 *
 * ```sh
 * TOKEN=$(openssl rand -hex 32)
 * printf %s "$TOKEN" | sluice token hash     # → 64 hex chars for gateway.tokens[].sha256
 * sluice gateway --port 8700                   # until SIGINT/SIGTERM
 * curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8700/v1/runs
 * ```
 */
import { text as readText } from 'node:stream/consumers';
import type { Command } from 'commander';
import { UserError } from '../common/errors';
import { createLogger } from '../common/logger';
import { hashToken } from '../webhook-gateway/auth';
import { startGateway } from '../webhook-gateway/gateway';
import { gatewaySettings } from '../config/sluice-config';
import { configFrom } from './cli-config';
import { portNumber } from './number-options';

/** Adds `sluice gateway` and `sluice token hash` to a program. */
export function addGatewayCommands(program: Command): void {
  program
    .command('gateway')
    .description('serve the HTTP API (runs, events, webhooks; health, readiness, metrics) and deliver webhooks until SIGINT/SIGTERM')
    .option('--port <port>', 'port (default: gateway.port, else 8700)', portNumber)
    .option('--host <host>', 'address to bind (default: gateway.host, else 127.0.0.1)')
    .action(async (options: { port?: number; host?: string }, command: Command) => {
      const config = configFrom(command);
      const settings = gatewaySettings(config);
      const logger = createLogger('sluice-gateway');
      if (settings.tokens.length === 0) {
        logger.warn('no API tokens in gateway.tokens: every /v1 request will get 401; add one with `sluice token hash`');
      }
      const gateway = await startGateway({ config, logger, port: options.port, host: options.host });
      logger.info({ url: gateway.url, temporal: config.temporal.address, tokens: settings.tokens.map((t) => t.name) }, 'gateway listening');
      process.stdout.write(`gateway listening on ${gateway.url}\n`);
      await new Promise<void>((resolve) => {
        const stop = (signal: NodeJS.Signals) => {
          logger.info({ signal }, 'gateway stopping');
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await gateway.close();
      process.stdout.write('gateway stopped\n');
    });

  const token = program.command('token').description('API tokens of the gateway');
  token
    .command('hash')
    .description('read a token from stdin and print its sha256 (hex) for gateway.tokens[].sha256 in sluice.config.yaml')
    .action(async () => {
      const text = (await readText(process.stdin)).replace(/\r?\n$/, '');
      if (text.length === 0) throw new UserError('EMPTY_TOKEN', 'no token on stdin; e.g. printf %s "$TOKEN" | sluice token hash');
      if (/\s/.test(text)) throw new UserError('INVALID_TOKEN', 'a bearer token cannot contain whitespace');
      process.stdout.write(`${hashToken(text)}\n`);
    });
}
