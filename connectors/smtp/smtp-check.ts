/**
 * The `smtp` connector's check: nodemailer `verify()` (connect, greeting, TLS, authentication), then, when given
 * recipients, a real test email "Sluice test-connections: <connector> OK" to them.
 */
import type { SmtpConnectorConfig } from '../../config/sluice-config';
import { CheckFailure, DEFAULT_CHECK_TIMEOUT_MS, errorCode, messageOf, networkReason, probe } from '../check';
import type { CheckOptions, CheckResult } from '../connector';
import { createSmtpTransport, smtpPort } from './smtp-transport';

/** Options of {@link checkSmtp}. */
export interface SmtpCheckOptions extends CheckOptions {
  /** Send the test email to these addresses (none: verify only, said in the reason). */
  to?: string[];
  /** The environment's name, for the test email's text. */
  environment?: string;
}

/** Why an SMTP verify or send failed, and what to fix. */
export function smtpReason(error: unknown, name: string, config: SmtpConnectorConfig): string {
  const where = `${config.host}:${smtpPort(config)}`;
  const code = errorCode(error);
  const message = messageOf(error);
  const network = networkReason(code, where, 'an SMTP server', `connectors.${name}.host and port`);
  if (network) return network;
  if (code === 'EAUTH') return `authentication failed${config.user ? ` for user "${config.user}"` : ''} (${message}) — check connectors.${name}.user and password`;
  if (code === 'ENOAUTH' || /authentication required|auth.*required/i.test(message)) return `the server requires authentication — set connectors.${name}.user and password`;
  if (code === 'EENVELOPE') return `the server refused the envelope (${message}) — check connectors.${name}.from and the recipients`;
  if (/certificate|self[- ]signed|unable to verify/i.test(message)) return `the TLS certificate of ${where} does not verify (${message}) — fix the server's certificate, or set connectors.${name}.tls_reject_unauthorized: false (not for production)`;
  if (/wrong version number|ssl routines|packet length/i.test(message)) return `TLS mismatch at ${where} (${message}) — set connectors.${name}.secure: true for implicit TLS (port 465), false for STARTTLS (587/25)`;
  if (code === 'ETIMEDOUT' || /timeout/i.test(message)) return `no answer from ${where} within connectors.${name}.timeout_ms (${message}) — a firewall, or the wrong host or port?`;
  return `${message}${code ? ` (${code})` : ''} — check connectors.${name}`;
}

/** Checks an smtp connector (see the module comment). Never rejects. */
export function checkSmtp(name: string, config: SmtpConnectorConfig, options: SmtpCheckOptions = {}): Promise<CheckResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const to = options.to ?? [];
  const port = smtpPort(config);
  return probe(options, {
    secrets: config.password ? [config.password] : [],
    onTimeout: `a firewall, or the wrong host or port? check connectors.${name}.host and port`,
    explain: (error) => smtpReason(error, name, config),
    body: async (signal) => {
      const transport = createSmtpTransport({ ...config, timeout_ms: Math.min(config.timeout_ms, timeoutMs) });
      const close = () => transport.close();
      signal.addEventListener('abort', close, { once: true });
      try {
        await transport.verify();
        if (to.length === 0) {
          return {
            reason: `verified ${config.host}:${port} (connect, greeting${config.user ? ', authentication' : ''}); no test email sent: name this connector in notifications.email or give --to <address>`,
            detail: { host: config.host, port, email: null },
          };
        }
        const info = (await transport.sendMail({
          from: config.from,
          to,
          subject: `Sluice test-connections: ${name} OK`,
          text: [
            `This is a test email from \`sluice test-connections\`${options.environment ? ` (environment ${options.environment})` : ''}.`,
            `It was sent through the smtp connector "${name}" (${config.host}:${port}) at ${new Date().toISOString()}.`,
            'If you received it, Sluice can email you about pipeline problems. No action is needed.',
            '',
          ].join('\n'),
        })) as { messageId?: string; accepted?: unknown[]; rejected?: unknown[]; response?: string };
        const rejected = (info.rejected ?? []).map(String);
        if (rejected.length > 0) throw new CheckFailure(`the server refused recipient${rejected.length > 1 ? 's' : ''} ${rejected.join(', ')} — check the addresses`, 'EMAIL_REFUSED');
        return {
          reason: `verified ${config.host}:${port}; test email sent to ${to.join(', ')}`,
          detail: { host: config.host, port, email: { to, message_id: info.messageId ?? null, response: info.response ?? null } },
        };
      } finally {
        signal.removeEventListener('abort', close);
        close();
      }
    },
  });
}
