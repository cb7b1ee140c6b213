/**
 * SSRF guard for webhook URLs: a webhook endpoint is a URL a user types in, and Sluice then POSTs to
 * it from inside its own network, so without a guard anyone allowed to register a webhook could make
 * Sluice call `http://169.254.169.254/latest/meta-data/` (cloud credentials), `http://10.0.0.5:5432`
 * or `http://localhost:7233` (Temporal).
 *
 * The rules, applied twice:
 *
 * 1. **When a webhook is registered**, {@link checkWebhookUrl}: the URL parses, uses `https:`
 *    (`http:` only with `gateway.webhooks.allow_http`), has no `user:password@`, its host resolves,
 *    and EVERY address it resolves to is allowed.
 * 2. **At every delivery**, {@link guardedLookup} is the `lookup` option of `http.request` /
 *    `https.request`, so the address checked is the address actually connected to. DNS can change
 *    between registration and delivery (DNS rebinding: a name answers a public address once, then
 *    `127.0.0.1`), so the registration check alone is not enough.
 *
 * An address is allowed ({@link isAddressAllowed}) when it is public (ipaddr.js `range()` is
 * `unicast`, after `ipaddr.process()` unwraps IPv4-mapped IPv6 such as `::ffff:127.0.0.1`), or when
 * `gateway.webhooks.allowlist` names the URL's host name (case-insensitive, exact: `localhost`), the
 * address (`10.1.2.3`, `::1`) or a CIDR range containing it (`10.0.0.0/8`, `fd00::/8`). Everything
 * else is refused: loopback, private (RFC 1918), link-local (so the cloud metadata addresses
 * `169.254.169.254` and `fd00:ec2::254` (unique-local) too), carrier-grade NAT `100.64.0.0/10`,
 * unique-local `fc00::/7`, multicast, reserved, 6to4/Teredo/NAT64 (they embed IPv4 addresses), and
 * the deprecated IPv4-compatible `::a.b.c.d` form.
 *
 * @example
 * ```ts
 * const url = await checkWebhookUrl('https://hooks.example.com/sluice', settings.webhooks); // URL, or throws UnsafeWebhookUrlError
 * https.request(url, { method: 'POST', lookup: guardedLookup(settings.webhooks, url.hostname) }); // errors with code EUNSAFEADDRESS if DNS now answers 10.x
 * ```
 */
import * as dns from 'node:dns';
import * as net from 'node:net';
import ipaddr from 'ipaddr.js';
import { UserError } from '../common/errors';
import type { WebhookSettings } from '../config/sluice-config';

/** The part of `gateway.webhooks` that decides which URLs are safe. */
export type WebhookUrlPolicy = Pick<WebhookSettings, 'allowHttp' | 'allowlist'>;

/** Why a URL was refused: `details.reason` of {@link UnsafeWebhookUrlError}. */
export type UnsafeWebhookUrlReason = 'invalid_url' | 'scheme' | 'credentials' | 'unresolvable' | 'non_public_address';

/**
 * Thrown by {@link checkWebhookUrl} / {@link parseWebhookUrl} when a webhook URL is refused: not a URL,
 * not https, has credentials, does not resolve, or resolves to an address that is neither public nor
 * allowlisted. Code `UNSAFE_WEBHOOK_URL`; the message says how to fix it.
 */
export class UnsafeWebhookUrlError extends UserError {
  override readonly name = 'UnsafeWebhookUrlError';
  readonly reason: UnsafeWebhookUrlReason;
  constructor(
    message: string,
    details: { reason: UnsafeWebhookUrlReason; url: string; host?: string; address?: string; range?: string; addresses?: string[] },
    options?: { cause?: unknown },
  ) {
    super('UNSAFE_WEBHOOK_URL', message, { cause: options?.cause, details });
    this.reason = details.reason;
  }
}

/**
 * Passed to the `lookup` callback by {@link guardedLookup} when the host resolves to an address that
 * is not allowed; `http.request` then emits it as its `'error'`. `code` is `EUNSAFEADDRESS`.
 */
export class UnsafeAddressError extends Error {
  override readonly name = 'UnsafeAddressError';
  readonly code = 'EUNSAFEADDRESS';
  constructor(
    message: string,
    readonly hostname: string,
    readonly address: string,
    readonly range: string,
  ) {
    super(message);
  }
}

/**
 * Parses a webhook URL and checks what can be checked without DNS: it is an absolute URL, its scheme
 * is `https:` (or `http:` when `policy.allowHttp`), and it has no `user:password@`.
 * {@link checkWebhookUrl} adds the address checks; `sendWebhook` calls this before every delivery.
 *
 * @returns the parsed URL.
 * @throws UnsafeWebhookUrlError `UNSAFE_WEBHOOK_URL` with `reason` `invalid_url`, `scheme` or `credentials`.
 */
export function parseWebhookUrl(url: string, policy: WebhookUrlPolicy): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (caught) {
    const shown = JSON.stringify(url.length > 200 ? `${url.slice(0, 200)}…` : url);
    throw new UnsafeWebhookUrlError(
      `webhook URL ${shown} is not a valid absolute URL; give one such as https://hooks.example.com/sluice`,
      { reason: 'invalid_url', url: shown },
      { cause: caught },
    );
  }
  if (parsed.username !== '' || parsed.password !== '') {
    const redacted = redactedUrl(parsed);
    throw new UnsafeWebhookUrlError(
      `webhook URL ${redacted} must not contain credentials (user:password@); receivers authenticate Sluice by the webhook-signature header`,
      { reason: 'credentials', url: redacted },
    );
  }
  const shown = parsed.href;
  if (parsed.protocol === 'http:' && !policy.allowHttp) {
    throw new UnsafeWebhookUrlError(
      `webhook URL ${shown} must use https (set gateway.webhooks.allow_http: true for development only)`,
      { reason: 'scheme', url: shown },
    );
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    const allowed = policy.allowHttp ? 'https or http' : 'https';
    throw new UnsafeWebhookUrlError(`webhook URL ${shown} must use ${allowed}, not ${parsed.protocol.slice(0, -1)}`, {
      reason: 'scheme',
      url: shown,
    });
  }
  return parsed;
}

/**
 * Checks a webhook URL before it is stored: {@link parseWebhookUrl}'s checks, then the host is resolved
 * with `dns.promises.lookup(host, { all: true, verbatim: true })` (literal IPs, including `[::1]`, are
 * not resolved) and EVERY address must be allowed by {@link isAddressAllowed}; one private address
 * among public ones refuses the URL, since a connection may use any of them.
 *
 * This check is not enough on its own (DNS can change later): deliveries use {@link guardedLookup}.
 *
 * @returns the parsed URL.
 * @throws UnsafeWebhookUrlError `UNSAFE_WEBHOOK_URL`: invalid URL, wrong scheme, credentials, a host that
 *   does not resolve (`ENOTFOUND`/`ENODATA`, reason `unresolvable`), or an address neither public nor
 *   allowlisted (reason `non_public_address`, with `details.address` and `details.range`).
 * @throws Error when DNS fails for another reason (e.g. `EAI_AGAIN`, a timeout): retrying may help.
 */
export async function checkWebhookUrl(url: string, policy: WebhookUrlPolicy): Promise<URL> {
  const parsed = parseWebhookUrl(url, policy);
  const host = bareHostname(parsed);
  let addresses: string[];
  if (net.isIP(host) !== 0) {
    addresses = [host];
  } else {
    try {
      addresses = (await dns.promises.lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);
    } catch (caught) {
      const code = (caught as NodeJS.ErrnoException).code ?? 'unknown error';
      if (code === 'ENOTFOUND' || code === 'ENODATA' || code === 'EAI_NONAME' || code === 'EAI_NODATA') {
        throw new UnsafeWebhookUrlError(
          `webhook URL host ${host} does not resolve (${code}); check the host name, or register the webhook once its DNS record exists`,
          { reason: 'unresolvable', url: parsed.href, host },
          { cause: caught },
        );
      }
      throw new Error(`could not resolve webhook URL host ${host} (${code}); try again`, { cause: caught });
    }
  }
  for (const address of addresses) {
    const { allowed, range } = isAddressAllowed(host, address, policy);
    if (!allowed) {
      throw new UnsafeWebhookUrlError(refusalMessage(`webhook URL host ${host}`, host, address, range), {
        reason: 'non_public_address',
        url: parsed.href,
        host,
        address,
        range,
        addresses,
      });
    }
  }
  return parsed;
}

/**
 * Whether a connection to `address` (reached through the host name `hostname`) is allowed: the
 * address is public (range `unicast`), or `policy.allowlist` names `hostname` (case-insensitive;
 * brackets of `[::1]` ignored), or the address, or a CIDR range containing it.
 *
 * @param hostname the URL's host name, as written in the URL (or the literal IP).
 * @param address an IPv4 or IPv6 address as DNS returns it; IPv4-mapped IPv6 is checked as IPv4.
 * @returns `allowed`, and `range`: ipaddr.js's range name (`unicast`, `loopback`, `private`,
 *   `linkLocal`, `uniqueLocal`, `carrierGradeNat`, …; `ipv4Compatible` for `::a.b.c.d`; `invalid` when
 *   `address` is not an IP address, which is never allowed).
 */
export function isAddressAllowed(hostname: string, address: string, policy: Pick<WebhookUrlPolicy, 'allowlist'>): { allowed: boolean; range: string } {
  if (!ipaddr.isValid(address) || net.isIP(address.split('%')[0] ?? '') === 0) return { allowed: false, range: 'invalid' };
  const parsed = ipaddr.process(address);
  const range = rangeOf(parsed);
  if (range === 'unicast') return { allowed: true, range };
  const rules = allowRules(policy.allowlist);
  if (rules.hosts.has(normalizeHostname(hostname))) return { allowed: true, range };
  const inAllowedNet = rules.nets.some(([net, bits]) => net.kind() === parsed.kind() && parsed.match(net, bits));
  return { allowed: inAllowedNet, range };
}

/**
 * A `lookup` function (Node's `net.LookupFunction`) for the `lookup` option of `http.request` /
 * `https.request` / `net.connect`: resolves with `dns.lookup` (forwarding Node's options) and calls
 * back with an {@link UnsafeAddressError} (code `EUNSAFEADDRESS`) when any resolved address is not
 * allowed by {@link isAddressAllowed}; otherwise answers in the shape asked for (`options.all` true:
 * the list of `{ address, family }`; false: the first address and its family). DNS errors are passed
 * through unchanged.
 *
 * Node does not call `lookup` for literal IP hosts: check those with {@link isAddressAllowed} first.
 *
 * @param hostname the host name to match against the allowlist; defaults to the name Node resolves.
 */
export function guardedLookup(policy: WebhookUrlPolicy, hostname?: string): net.LookupFunction {
  return (host, options, callback) => {
    const wantsAll = options?.all === true;
    dns.lookup(host, { ...options, all: true }, (error, addresses) => {
      if (error) {
        callback(error, wantsAll ? [] : '');
        return;
      }
      const name = hostname ?? host;
      for (const { address } of addresses) {
        const { allowed, range } = isAddressAllowed(name, address, policy);
        if (!allowed) {
          callback(new UnsafeAddressError(refusalMessage(`webhook host ${name}`, name, address, range), name, address, range), wantsAll ? [] : '');
          return;
        }
      }
      if (wantsAll) {
        callback(null, addresses);
        return;
      }
      const [first] = addresses;
      if (first === undefined) {
        callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND', hostname: host }), '');
        return;
      }
      callback(null, first.address, first.family);
    });
  };
}

/** The URL's host name without the brackets of an IPv6 literal (`[::1]` → `::1`). */
export function bareHostname(url: URL): string {
  return url.hostname.startsWith('[') && url.hostname.endsWith(']') ? url.hostname.slice(1, -1) : url.hostname;
}

/** How an address is described in refusal messages, by range; `a non-public address` otherwise. */
const RANGE_PHRASES: Record<string, string> = {
  private: 'a private address',
  loopback: 'a loopback address',
  linkLocal: 'a link-local address',
  uniqueLocal: 'a unique-local address',
  carrierGradeNat: 'a carrier-grade NAT address',
  unspecified: 'an unspecified address',
  multicast: 'a multicast address',
  broadcast: 'a broadcast address',
  reserved: 'a reserved address',
};

/**
 * Why an address is refused, for messages: `<subject> resolves to 10.1.2.3, a private address (range
 * "private"); only public addresses are allowed unless gateway.webhooks.allowlist names the host or
 * range` (`<subject> is …` when `host` is the address itself).
 */
export function refusalMessage(subject: string, host: string, address: string, range: string): string {
  const what = RANGE_PHRASES[range] ?? 'a non-public address';
  const verb = host === address ? 'is' : `resolves to ${address},`;
  return `${subject} ${verb} ${what} (range "${range}"); only public addresses are allowed unless gateway.webhooks.allowlist names the host or range`;
}

/** The deprecated IPv4-compatible IPv6 range `::/96`, which ipaddr.js calls `unicast`; refused too. */
const IPV4_COMPATIBLE = ipaddr.IPv6.parseCIDR('::/96');

function rangeOf(address: ipaddr.IPv4 | ipaddr.IPv6): string {
  const range = address.range();
  if (range === 'unicast' && address.kind() === 'ipv6' && address.match(IPV4_COMPATIBLE)) return 'ipv4Compatible';
  return range;
}

interface AllowRules {
  hosts: Set<string>;
  nets: Array<[ipaddr.IPv4 | ipaddr.IPv6, number]>;
}

/** Parsed allowlists, once per allowlist array (deliveries check every connection against the same one). */
const allowRulesCache = new WeakMap<readonly string[], AllowRules>();

/**
 * The allowlist split into host names and networks. An entry is a CIDR when it has a `/` and both
 * halves parse (`10.0.0.0/8`), an address when `net.isIP` accepts it (`::1` → `::1/128`), else a
 * host name. An entry with a `/` that is not a valid CIDR (`10.0.0.0/33`) matches nothing.
 */
function allowRules(allowlist: readonly string[]): AllowRules {
  const cached = allowRulesCache.get(allowlist);
  if (cached) return cached;
  const rules: AllowRules = { hosts: new Set(), nets: [] };
  for (const raw of allowlist) {
    const entry = raw.trim();
    if (entry.includes('/')) {
      const [address = ''] = entry.split('/');
      if (net.isIP(address) !== 0 && ipaddr.isValidCIDR(entry)) {
        const [base, bits] = ipaddr.parseCIDR(entry);
        // An IPv4-mapped base (::ffff:10.0.0.0/104) is compared as IPv4, like the addresses are.
        if (base.kind() === 'ipv6' && (base as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
          rules.nets.push([(base as ipaddr.IPv6).toIPv4Address(), bits - 96]);
        } else {
          rules.nets.push([base, bits]);
        }
      }
    } else if (net.isIP(entry.replace(/^\[(.*)\]$/, '$1')) !== 0) {
      const address = ipaddr.process(entry.replace(/^\[(.*)\]$/, '$1'));
      rules.nets.push([address, address.kind() === 'ipv4' ? 32 : 128]);
    } else if (entry !== '') {
      rules.hosts.add(normalizeHostname(entry));
    }
  }
  allowRulesCache.set(allowlist, rules);
  return rules;
}

function normalizeHostname(hostname: string): string {
  return hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}

/** The URL with its credentials replaced by `***`, for messages. */
function redactedUrl(url: URL): string {
  const copy = new URL(url.href);
  copy.username = '***';
  copy.password = '';
  return copy.href;
}
