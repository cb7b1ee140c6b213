/**
 * An SMTP transport (nodemailer) for an `smtp` connector: what the pipeline error email and
 * `sluice test-connections` send through.
 *
 * @example
 * ```ts
 * const transport = createSmtpTransport(config.connectors.mail as SmtpConnectorConfig);
 * await transport.verify();                      // connects, greets, authenticates; throws on failure
 * await transport.sendMail({ from, to, subject, text, attachments: [{ filename, path }] });
 * transport.close();
 * ```
 */
import nodemailer, { type Transporter } from 'nodemailer';
import type { SmtpConnectorConfig } from '../../config/sluice-config';
import type { SmtpAccess } from '../access-errors';

/** The port an smtp connector uses: `port`, else 465 with `secure`, else 587. */
export const smtpPort = (config: SmtpConnectorConfig): number => config.port ?? (config.secure ? 465 : 587);

/** What an AUTH_FAILED of connector `name` names (connectors/access-errors.ts): host, port, user. */
export function smtpAccess(name: string, config: SmtpConnectorConfig): SmtpAccess {
  return { kind: 'smtp', connector: name, host: config.host, port: smtpPort(config), ...(config.user ? { user: config.user } : {}) };
}

/** A nodemailer transport; `port` defaults to 465 with `secure`, else 587. Timeouts from `timeout_ms`. */
export function createSmtpTransport(config: SmtpConnectorConfig): Transporter {
  return nodemailer.createTransport({
    host: config.host,
    port: smtpPort(config),
    secure: config.secure,
    ...(config.user ? { auth: { user: config.user, pass: config.password ?? '' } } : {}),
    tls: { rejectUnauthorized: config.tls_reject_unauthorized },
    connectionTimeout: config.timeout_ms,
    greetingTimeout: config.timeout_ms,
    socketTimeout: config.timeout_ms * 3,
  });
}
