/**
 * The local mail sink of `sluice dev`: a real SMTP server (the `smtp-server` package) on the host and port of
 * the dev config's `smtp` connector when that is a loopback address, keeping each message it receives as one
 * `.eml` file under `<stateDir>/mail/` (`1.eml`, `2.eml`, …; the number is the message's id). `sluice mail list`
 * and `sluice mail show <id>` read them back with `mailparser`.
 *
 * ```ts
 * const sink = await startMailSink({ host: '127.0.0.1', port: 1025, dir: '.sluice/mail', logger });
 * // … nodemailer sends to 127.0.0.1:1025 …
 * const messages = await listMail('.sluice/mail');   // [{ id: 1, subject, from, to, date, attachments }]
 * await sink.close();
 * ```
 */
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import type { Logger } from 'pino';
import { UserError } from '../common/errors';

/** A running sink. */
export interface MailSink {
  /** `host:port` it listens on. */
  address: string;
  /** Where its messages are kept. */
  dir: string;
  /** Stops accepting mail; resolves once the server is closed. */
  close(): Promise<void>;
}

/** One message as `sluice mail list` shows it. */
export interface MailSummary {
  id: number;
  /** The `.eml` file. */
  file: string;
  /** ISO time from the `Date` header, else the file's time. */
  date: string;
  from: string;
  to: string[];
  subject: string;
  /** File names of the attachments. */
  attachments: string[];
}

const EML = /^(\d+)\.eml$/;

/** The ids of the kept messages, oldest first. */
function messageIds(dir: string): number[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((name) => EML.exec(name)?.[1])
    .filter((id): id is string => id !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/**
 * Starts the sink. It accepts any sender, recipient and login (the dev config may carry a user), offers no
 * STARTTLS, and keeps every message it receives.
 * @throws Error when the port cannot be listened on (the caller checks it first: local-stack/ports.ts).
 */
export async function startMailSink(options: { host: string; port: number; dir: string; logger: Logger }): Promise<MailSink> {
  mkdirSync(options.dir, { recursive: true });
  let next = (messageIds(options.dir).at(-1) ?? 0) + 1;
  const server = new SMTPServer({
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    banner: 'Sluice dev mail sink',
    logger: false,
    onAuth: (_auth, _session, callback) => callback(null, { user: 'dev' }),
    onData: (stream, session, callback) => {
      const id = next++;
      const file = path.join(options.dir, `${id}.eml`);
      pipeline(stream, createWriteStream(file, { flags: 'wx' }))
        .then(() => {
          options.logger.info({ id, file, to: session.envelope.rcptTo.map((r) => r.address) }, 'mail kept by the dev mail sink');
          callback();
        })
        .catch((error: unknown) => callback(error as Error));
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => options.logger.warn({ err: error }, 'dev mail sink error'));
  return {
    address: `${options.host}:${options.port}`,
    dir: options.dir,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const addresses = (value: ParsedMail['to']): string[] =>
  (Array.isArray(value) ? value : value ? [value] : []).flatMap((group) => group.value.map((a) => a.address ?? a.name));

function summary(id: number, file: string, mail: ParsedMail): MailSummary {
  return {
    id,
    file,
    date: (mail.date ?? new Date(0)).toISOString(),
    from: mail.from?.text ?? '',
    to: addresses(mail.to),
    subject: mail.subject ?? '',
    attachments: mail.attachments.map((a) => a.filename ?? '(unnamed)'),
  };
}

/** The messages kept under `dir`, oldest first (an empty list when there is none, or no folder). */
export async function listMail(dir: string): Promise<MailSummary[]> {
  const list: MailSummary[] = [];
  for (const id of messageIds(dir)) {
    const file = path.join(dir, `${id}.eml`);
    list.push(summary(id, file, await simpleParser(readFileSync(file))));
  }
  return list;
}

/**
 * One kept message, parsed.
 * @throws UserError `MAIL_NOT_FOUND` naming the ids that exist.
 */
export async function readMail(dir: string, id: string): Promise<{ summary: MailSummary; text: string; raw: string }> {
  const file = path.join(dir, `${id}.eml`);
  if (!/^\d+$/.test(id) || !existsSync(file)) {
    const ids = messageIds(dir);
    throw new UserError('MAIL_NOT_FOUND', `no message ${id} in ${dir}: ${ids.length === 0 ? 'the dev mail sink has kept no message yet' : `ids are ${ids[0]}…${ids.at(-1)} (sluice mail list)`}`);
  }
  const raw = readFileSync(file, 'utf8');
  const mail = await simpleParser(raw);
  return { summary: summary(Number(id), file, mail), text: mail.text ?? '', raw };
}
