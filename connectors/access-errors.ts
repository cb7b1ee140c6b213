/**
 * Refused credentials and refused operations, recognised once for every connector kind (and the
 * metadata database): the error a server answers with becomes an {@link AccessError} —
 * `AUTH_FAILED` (the credentials were refused) or `PERMISSION_DENIED` (they were accepted, the
 * operation was not) — a user error, so the run ends FAILED at once instead of retrying for minutes.
 *
 * | kind | AUTH_FAILED | PERMISSION_DENIED |
 * |---|---|---|
 * | postgres | SQLSTATE class 28 (`28P01` invalid_password, `28000` invalid_authorization_specification); no password for a server that asks for one | `42501` insufficient_privilege |
 * | s3 | `InvalidAccessKeyId`, `SignatureDoesNotMatch`, `InvalidToken`, `ExpiredToken`, versitygw's `XAdminUserNotFound` | `AccessDenied`, `AllAccessDisabled`, any other 403 (a HEAD's 403 has no code: its message says either is possible) |
 * | smtp | nodemailer's `EAUTH`, SMTP reply 535 | — (a refused recipient or sender stays `EMAIL_REFUSED`) |
 * | sftp | ssh2's `client-authentication` level ("All configured authentication methods failed") | SFTP status 3 (`SSH_FX_PERMISSION_DENIED`, `EACCES`) |
 * | mysql | `ER_ACCESS_DENIED_ERROR` (1045) | `ER_DBACCESS_DENIED_ERROR` (1044), `ER_TABLEACCESS_DENIED_ERROR` (1142), `ER_COLUMNACCESS_DENIED_ERROR` (1143), `ER_SPECIFIC_ACCESS_DENIED_ERROR` (1227) |
 *
 * Each message names who was refused (`connectors.<name>`, or the metadata database), what (user and
 * host:port, the S3 object or bucket, the SMTP host), the server's own reason, and what to check. A
 * secret never appears: URLs are shown without their password ({@link maskSecret}), keys not at all.
 *
 * @example
 * ```ts
 * try { await pool.connect(); } catch (error) {
 *   throw accessError(error, { kind: 'postgres', name: 'connectors.warehouse', url, setting: 'connectors.warehouse.url' }) ?? error;
 * }
 * // AccessError AUTH_FAILED: connectors.warehouse: PostgreSQL at 127.0.0.1:5433 refused user "app"
 * //   (password authentication failed for user "app"); check the user and password in connectors.warehouse.url, or the secret it references
 * ```
 */
import { AccessError } from '../common/errors';
import { maskSecret } from '../config/secrets';

/** A PostgreSQL connection: a postgres connector's, or the metadata database's. */
export interface PostgresAccess {
  kind: 'postgres';
  /** Who connects, as the user knows it: `connectors.warehouse`, or `the metadata database`. */
  name: string;
  /** The connection URL (or libpq string) used; only its user, host, port and database are shown. */
  url: string;
  /** The setting that holds the credentials, for the hint: `connectors.warehouse.url`, `DATABASE_URL (or database_url)`. */
  setting: string;
}

/** An S3 connector, for a call about one object or bucket. */
export interface S3Access {
  kind: 's3';
  /** The connector's name in the config (`lake`). */
  connector: string;
  /** What the call was about, `s3://bucket/key` or `s3://bucket/`, or the connector itself. */
  what: string;
}

/** An SMTP connector. */
export interface SmtpAccess {
  kind: 'smtp';
  /** The connector's name in the config (`mail`). */
  connector: string;
  host: string;
  port: number;
  user?: string;
}

/** An SFTP connector, for a call about one remote path (or the login itself). */
export interface SftpAccess {
  kind: 'sftp';
  /** The connector's name in the config (`partner`). */
  connector: string;
  host: string;
  port: number;
  username: string;
  /** The remote path the call was about; absent for the login. */
  what?: string;
}

/** A MySQL/MariaDB connector. */
export interface MysqlAccess {
  kind: 'mysql';
  /** The connector's name in the config (`shop`). */
  connector: string;
  /** Its connection URL; only its user, host, port and database are shown. */
  url: string;
}

/** What was being reached when the error came back; decides how it is read and what the message says. */
export type AccessSubject = PostgresAccess | S3Access | SmtpAccess | SftpAccess | MysqlAccess;

/** A postgres connector's {@link PostgresAccess}: its own url, else the metadata database's (`DATABASE_URL`). */
export function postgresConnectorAccess(connector: string, ownUrl: string | undefined, databaseUrl: string): PostgresAccess {
  return {
    kind: 'postgres',
    name: `connectors.${connector}`,
    url: ownUrl ?? databaseUrl,
    setting: ownUrl === undefined ? `DATABASE_URL (or database_url; connectors.${connector} has no url of its own)` : `connectors.${connector}.url`,
  };
}

/** The metadata database's {@link PostgresAccess}. */
export function metadataDatabaseAccess(url: string): PostgresAccess {
  return { kind: 'postgres', name: 'the metadata database', url, setting: 'DATABASE_URL (or database_url in sluice.config.yaml)' };
}

const S3_AUTH_CODES = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken', 'XAdminUserNotFound']);
const S3_PERMISSION_CODES = new Set(['AccessDenied', 'AllAccessDisabled']);

/** The error's own fields this module reads (pg, the AWS SDK and nodemailer each set some). */
interface ErrorShape {
  code?: unknown;
  name?: unknown;
  Code?: unknown;
  message?: unknown;
  responseCode?: unknown;
  response?: unknown;
  $metadata?: { httpStatusCode?: number };
  level?: unknown;
}

const shapeOf = (error: unknown): ErrorShape => (error && typeof error === 'object' ? (error as ErrorShape) : {});
const messageOf = (error: unknown): string => (typeof shapeOf(error).message === 'string' ? (shapeOf(error).message as string) : String(error));

/**
 * The {@link AccessError} an error from `subject` means, or undefined when it is not a refusal of
 * credentials or permission (the caller then handles or rethrows the error as before).
 * An AccessError given again is returned as is.
 */
export function accessError(error: unknown, subject: AccessSubject): AccessError | undefined {
  if (error instanceof AccessError) return error;
  switch (subject.kind) {
    case 'postgres':
      return postgresAccessError(error, subject);
    case 's3':
      return s3AccessError(error, subject);
    case 'smtp':
      return smtpAccessError(error, subject);
    case 'sftp':
      return sftpAccessError(error, subject);
    case 'mysql':
      return mysqlAccessError(error, subject);
  }
}

/**
 * Runs `body` and rethrows what it throws as its {@link AccessError} when it is one (see
 * {@link accessError}), else unchanged: the wrapper for a connector's entry points.
 */
export async function withAccessErrors<T>(subject: AccessSubject, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw accessError(error, subject) ?? error;
  }
}

/** User, `host:port` and database of a connection URL; a libpq string is shown masked instead. */
function describePostgres(url: string): { user: string | undefined; where: string } {
  try {
    const parsed = new URL(url);
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
    return {
      user: parsed.username ? decodeURIComponent(parsed.username) : undefined,
      where: `${parsed.hostname || 'localhost'}:${parsed.port || '5432'}${database ? `/${database}` : ''}`,
    };
  } catch {
    return { user: /(?:^|\s)user\s*=\s*'?([^'\s]+)/.exec(url)?.[1], where: maskSecret(url, 'url') };
  }
}

function postgresAccessError(error: unknown, subject: PostgresAccess): AccessError | undefined {
  const code = shapeOf(error).code;
  const message = messageOf(error);
  const { user, where } = describePostgres(subject.url);
  const who = user === undefined ? 'the configured user' : `user "${user}"`;
  // pg asks for the password only when the server wants one: none configured is a refusal too.
  const noPassword = /client password must be a string|password must be a string|no password/i.test(message) && code === undefined;
  if ((typeof code === 'string' && code.startsWith('28')) || noPassword) {
    return new AccessError(
      'AUTH_FAILED',
      `${subject.name}: PostgreSQL at ${where} refused ${who} (${noPassword ? 'the server asks for a password and none is configured' : message}); ` +
        `check the user and password in ${subject.setting}, or the secret it references`,
      { cause: error, details: { connector: subject.name, kind: 'postgres', sqlstate: typeof code === 'string' ? code : null } },
    );
  }
  if (code === '42501') {
    return new AccessError(
      'PERMISSION_DENIED',
      `${subject.name}: ${who} at ${where} is not allowed to do this (${message}); grant ${who} that privilege, or use another user in ${subject.setting}`,
      { cause: error, details: { connector: subject.name, kind: 'postgres', sqlstate: code } },
    );
  }
  return undefined;
}

function s3AccessError(error: unknown, subject: S3Access): AccessError | undefined {
  const shape = shapeOf(error);
  if (!shape.$metadata) return undefined;
  const code = String(shape.Code ?? shape.name ?? '');
  const status = shape.$metadata.httpStatusCode;
  const reason = messageOf(error);
  const said = `${code}${reason && reason !== code && reason !== 'UnknownError' ? `: ${reason}` : ''}`;
  const name = `connectors.${subject.connector}`;
  const details = { connector: name, kind: 's3', s3_code: code };
  if (S3_AUTH_CODES.has(code)) {
    return new AccessError(
      'AUTH_FAILED',
      `${name}: the S3 store refused the credentials for ${subject.what} (${said}); check ${name}.access_key_id and secret_access_key, or the secrets they reference`,
      { cause: error, details },
    );
  }
  const bucket = /^s3:\/\/([^/]+)/.exec(subject.what)?.[1];
  const grant = `${name}'s credentials access to ${bucket ? `bucket "${bucket}"` : 'the bucket'} (bucket policy or IAM)`;
  if (S3_PERMISSION_CODES.has(code)) {
    return new AccessError('PERMISSION_DENIED', `${name}: access to ${subject.what} was denied (${said}); grant ${grant}, or use other credentials`, { cause: error, details });
  }
  if (status === 403) {
    // A HEAD answer has no body, so no S3 code: a wrong key and a missing permission look the same.
    return new AccessError(
      'PERMISSION_DENIED',
      `${name}: the S3 store refused the request for ${subject.what} (403 without a reason: wrong credentials or a missing permission); ` +
        `check ${name}.access_key_id and secret_access_key, and grant ${grant}`,
      { cause: error, details },
    );
  }
  return undefined;
}

function smtpAccessError(error: unknown, subject: SmtpAccess): AccessError | undefined {
  const shape = shapeOf(error);
  if (shape.code !== 'EAUTH' && shape.responseCode !== 535) return undefined;
  const name = `connectors.${subject.connector}`;
  const response = typeof shape.response === 'string' ? shape.response : messageOf(error);
  return new AccessError(
    'AUTH_FAILED',
    `${name}: the SMTP server at ${subject.host}:${subject.port} refused ${subject.user === undefined ? 'to authenticate' : `user "${subject.user}"`} (${response}); ` +
      `check ${name}.user and password, or the secret it references`,
    { cause: error, details: { connector: name, kind: 'smtp', smtp_code: typeof shape.responseCode === 'number' ? shape.responseCode : null } },
  );
}

function sftpAccessError(error: unknown, subject: SftpAccess): AccessError | undefined {
  const shape = shapeOf(error);
  const message = messageOf(error);
  const name = `connectors.${subject.connector}`;
  const details = { connector: name, kind: 'sftp' };
  if (shape.level === 'client-authentication' || /all configured authentication methods failed/i.test(message)) {
    return new AccessError(
      'AUTH_FAILED',
      `${name}: the SFTP server at ${subject.host}:${subject.port} refused user "${subject.username}" (${message.replace(/^\w+: /, '')}); ` +
        `check ${name}.username and password, private_key or private_key_file (or the secret it references), and that the server authorises that key`,
      { cause: error, details },
    );
  }
  if (shape.code === 3 || shape.code === 'EACCES' || /permission denied/i.test(message)) {
    return new AccessError(
      'PERMISSION_DENIED',
      `${name}: user "${subject.username}" at ${subject.host}:${subject.port} may not access ${subject.what ?? 'this path'} (permission denied); ` +
        `ask the server's admin for read (and, with after_load, write) access, or use another user in ${name}.username`,
      { cause: error, details },
    );
  }
  return undefined;
}

/** MySQL/MariaDB error codes that mean the user may not do this (rather than may not log in). */
const MYSQL_PERMISSION_CODES = new Set(['ER_DBACCESS_DENIED_ERROR', 'ER_TABLEACCESS_DENIED_ERROR', 'ER_COLUMNACCESS_DENIED_ERROR', 'ER_SPECIFIC_ACCESS_DENIED_ERROR']);

/** User and `host:port/database` of a `mysql://` URL. */
function describeMysql(url: string): { user: string | undefined; where: string } {
  try {
    const parsed = new URL(url);
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
    return {
      user: parsed.username ? decodeURIComponent(parsed.username) : undefined,
      where: `${parsed.hostname || 'localhost'}:${parsed.port || '3306'}${database ? `/${database}` : ''}`,
    };
  } catch {
    return { user: undefined, where: maskSecret(url, 'url') };
  }
}

function mysqlAccessError(error: unknown, subject: MysqlAccess): AccessError | undefined {
  const code = shapeOf(error).code;
  if (code !== 'ER_ACCESS_DENIED_ERROR' && !(typeof code === 'string' && MYSQL_PERMISSION_CODES.has(code))) return undefined;
  const name = `connectors.${subject.connector}`;
  const { user, where } = describeMysql(subject.url);
  const who = user === undefined ? 'the configured user' : `user "${user}"`;
  // The server's message repeats the user and client host, never the password.
  const message = messageOf(error);
  const details = { connector: name, kind: 'mysql', mysql_code: code, errno: (error as { errno?: number }).errno ?? null };
  if (code === 'ER_ACCESS_DENIED_ERROR') {
    return new AccessError(
      'AUTH_FAILED',
      `${name}: MySQL at ${where} refused ${who} (${message}); check the user and password in ${name}.url, or the secret it references`,
      { cause: error, details },
    );
  }
  return new AccessError(
    'PERMISSION_DENIED',
    `${name}: ${who} at ${where} is not allowed to do this (${message}); grant ${who} that privilege, or use another user in ${name}.url`,
    { cause: error, details },
  );
}
