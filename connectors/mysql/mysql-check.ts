/**
 * What the `mysql` connector's source and target checks share: how a failure reads (an AccessError or SourceError
 * as it is; a network error as "connection refused at host:port — …"), and the URL's password masked.
 */
import type { MysqlAccess } from '../access-errors';
import { errorCode, messageOf, networkReason, probe, type Verified } from '../check';
import type { CheckOptions, CheckResult } from '../connector';

/** `host:port` of a mysql URL, for messages. */
function whereOf(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '3306'}`;
  } catch {
    return 'the server';
  }
}

/** Runs a mysql check body under {@link probe}. Never rejects. */
export function mysqlCheck(access: MysqlAccess, options: CheckOptions, body: (signal: AbortSignal) => Promise<Verified>): Promise<CheckResult> {
  const fix = `connectors.${access.connector}.url`;
  let secrets: string[] = [];
  try {
    const password = new URL(access.url).password;
    if (password) secrets = [password, decodeURIComponent(password)];
  } catch {
    // an unparsable URL: the driver's own message says so
  }
  return probe(options, {
    secrets,
    body,
    onTimeout: `a firewall, or the wrong host or port? check ${fix}`,
    explain: (error) => networkReason(errorCode(error), whereOf(access.url), 'MySQL/MariaDB', fix) ?? `${messageOf(error)} — check ${fix}`,
  });
}
