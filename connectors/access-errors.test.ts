/**
 * Unit tests of access-errors.ts: each connector kind's refusals become AUTH_FAILED / PERMISSION_DENIED
 * with the exact message, other errors pass through; the SMTP case against a real in-process SMTP server
 * (`smtp-server`) whose `onAuth` refuses every login.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { S3ServiceException } from '@aws-sdk/client-s3';
import { DatabaseError } from 'pg';
import { SMTPServer } from 'smtp-server';
import { ERROR_CATALOGUE } from '../common/error-codes';
import { AccessError, UserError } from '../common/errors';
import type { SmtpConnectorConfig } from '../config/sluice-config';
import { accessError, metadataDatabaseAccess, postgresConnectorAccess, withAccessErrors } from './access-errors';
import { createSmtpTransport, smtpAccess } from './smtp/smtp-transport';

/** An error as pg produces it from a server's ErrorResponse. */
function pgError(code: string, message: string): DatabaseError {
  return Object.assign(new DatabaseError(message, message.length, 'error'), { code, severity: 'FATAL' });
}

const WAREHOUSE = postgresConnectorAccess('warehouse', 'postgres://app:s3cr3t-pw@db.internal:6543/dw', 'postgres://meta:other-pw@127.0.0.1:5432/meta');

describe('the catalogue', () => {
  it('declares AUTH_FAILED and PERMISSION_DENIED as user errors (run FAILED, never retried)', () => {
    assert.equal(ERROR_CATALOGUE.AUTH_FAILED.kind, 'user');
    assert.equal(ERROR_CATALOGUE.PERMISSION_DENIED.kind, 'user');
    const error = new AccessError('AUTH_FAILED', 'x');
    assert.ok(error instanceof UserError);
    assert.equal(error.name, 'AccessError');
  });
});

describe('accessError for postgres', () => {
  it('reads SQLSTATE class 28 as AUTH_FAILED, naming the connector, user, host:port and the setting; never the password', () => {
    const refused = accessError(pgError('28P01', 'password authentication failed for user "app"'), WAREHOUSE);
    assert.ok(refused instanceof AccessError);
    assert.equal(refused.code, 'AUTH_FAILED');
    assert.equal(
      refused.message,
      'connectors.warehouse: PostgreSQL at db.internal:6543/dw refused user "app" (password authentication failed for user "app"); ' +
        'check the user and password in connectors.warehouse.url, or the secret it references',
    );
    assert.deepEqual(refused.details, { connector: 'connectors.warehouse', kind: 'postgres', sqlstate: '28P01' });
    assert.doesNotMatch(JSON.stringify({ message: refused.message, details: refused.details }), /s3cr3t-pw|other-pw/);

    const hba = accessError(pgError('28000', 'no pg_hba.conf entry for host "10.0.0.9", user "app", database "dw", no encryption'), WAREHOUSE);
    assert.equal(hba?.code, 'AUTH_FAILED');
  });

  it('reads a missing password for a server that asks for one as AUTH_FAILED', () => {
    const noPassword = accessError(new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string'), postgresConnectorAccess('warehouse', 'postgres://app@db:5432/dw', ''));
    assert.equal(
      noPassword?.message,
      'connectors.warehouse: PostgreSQL at db:5432/dw refused user "app" (the server asks for a password and none is configured); check the user and password in connectors.warehouse.url, or the secret it references',
    );
  });

  it('reads 42501 as PERMISSION_DENIED', () => {
    const denied = accessError(pgError('42501', 'permission denied for schema locked'), WAREHOUSE);
    assert.equal(denied?.code, 'PERMISSION_DENIED');
    assert.equal(
      denied?.message,
      'connectors.warehouse: user "app" at db.internal:6543/dw is not allowed to do this (permission denied for schema locked); grant user "app" that privilege, or use another user in connectors.warehouse.url',
    );
  });

  it('names DATABASE_URL for a connector without a url, and for the metadata database', () => {
    const shared = postgresConnectorAccess('warehouse', undefined, 'postgres://meta:other-pw@127.0.0.1:5432/meta');
    assert.equal(
      accessError(pgError('28P01', 'password authentication failed for user "meta"'), shared)?.message,
      'connectors.warehouse: PostgreSQL at 127.0.0.1:5432/meta refused user "meta" (password authentication failed for user "meta"); ' +
        'check the user and password in DATABASE_URL (or database_url; connectors.warehouse has no url of its own), or the secret it references',
    );
    assert.equal(
      accessError(pgError('28P01', 'password authentication failed for user "meta"'), metadataDatabaseAccess('postgres://meta:other-pw@127.0.0.1:5432/meta'))?.message,
      'the metadata database: PostgreSQL at 127.0.0.1:5432/meta refused user "meta" (password authentication failed for user "meta"); ' +
        'check the user and password in DATABASE_URL (or database_url in sluice.config.yaml), or the secret it references',
    );
  });

  it('shows a libpq connection string with its password masked', () => {
    const libpq = postgresConnectorAccess('warehouse', 'host=db user=app password=s3cr3t-pw dbname=dw', '');
    const refused = accessError(pgError('28P01', 'password authentication failed for user "app"'), libpq);
    assert.equal(
      refused?.message,
      'connectors.warehouse: PostgreSQL at host=db user=app password=**** dbname=dw refused user "app" (password authentication failed for user "app"); ' +
        'check the user and password in connectors.warehouse.url, or the secret it references',
    );
  });

  it('leaves other errors alone: connection losses, syntax errors, plain errors', async () => {
    for (const error of [pgError('08006', 'connection failure'), pgError('42P01', 'relation "x" does not exist'), Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })]) {
      assert.equal(accessError(error, WAREHOUSE), undefined, error.message);
      await assert.rejects(withAccessErrors(WAREHOUSE, () => Promise.reject(error)), (thrown) => thrown === error);
    }
    await assert.rejects(withAccessErrors(WAREHOUSE, () => Promise.reject(pgError('28P01', 'password authentication failed for user "app"'))), { name: 'AccessError', code: 'AUTH_FAILED' });
  });
});

describe('accessError for s3', () => {
  const s3Error = (code: string, status: number) => new S3ServiceException({ name: code, $fault: 'client', $metadata: { httpStatusCode: status }, message: `${code} said` });
  const subject = { kind: 's3' as const, connector: 'lake', what: 's3://inbox/a.csv' };

  it('reads InvalidAccessKeyId and SignatureDoesNotMatch as AUTH_FAILED, AccessDenied as PERMISSION_DENIED; other codes pass', () => {
    assert.equal(accessError(s3Error('InvalidAccessKeyId', 403), subject)?.code, 'AUTH_FAILED');
    assert.equal(
      accessError(s3Error('SignatureDoesNotMatch', 403), subject)?.message,
      'connectors.lake: the S3 store refused the credentials for s3://inbox/a.csv (SignatureDoesNotMatch: SignatureDoesNotMatch said); check connectors.lake.access_key_id and secret_access_key, or the secrets they reference',
    );
    assert.equal(accessError(s3Error('AccessDenied', 403), subject)?.code, 'PERMISSION_DENIED');
    assert.equal(accessError(s3Error('NoSuchKey', 404), subject), undefined);
    assert.equal(accessError(s3Error('SlowDown', 503), subject), undefined);
  });
});

describe('accessError for smtp, on a real SMTP server that refuses every login', () => {
  let server: SMTPServer;
  let config: SmtpConnectorConfig;

  before(async () => {
    server = new SMTPServer({
      authOptional: false,
      allowInsecureAuth: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onAuth: (_auth, _session, callback) => callback(new Error('Authentication credentials invalid')),
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const { port } = server.server.address() as AddressInfo;
    config = { kind: 'smtp', host: '127.0.0.1', port, secure: false, user: 'etl', password: 'wrong-pw', from: 'etl@example.com', tls_reject_unauthorized: true, timeout_ms: 5_000 };
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('reads EAUTH / 535 as AUTH_FAILED naming the connector, host:port and user, never the password', async () => {
    const transport = createSmtpTransport(config);
    const caught = await transport.verify().then(
      () => assert.fail('the server accepted the login'),
      (error: unknown) => error,
    );
    transport.close();
    assert.deepEqual({ code: (caught as { code?: string }).code, responseCode: (caught as { responseCode?: number }).responseCode }, { code: 'EAUTH', responseCode: 535 });
    const refused = accessError(caught, smtpAccess('mail', config));
    assert.ok(refused instanceof AccessError);
    assert.equal(refused.code, 'AUTH_FAILED');
    assert.equal(
      refused.message,
      `connectors.mail: the SMTP server at 127.0.0.1:${config.port} refused user "etl" (535 Authentication credentials invalid); check connectors.mail.user and password, or the secret it references`,
    );
    assert.doesNotMatch(refused.message, /wrong-pw/);
  });

  it('leaves a refused recipient (550) to EMAIL_REFUSED', () => {
    assert.equal(accessError(Object.assign(new Error('Mailbox unavailable'), { code: 'EENVELOPE', responseCode: 550 }), smtpAccess('mail', config)), undefined);
  });
});
