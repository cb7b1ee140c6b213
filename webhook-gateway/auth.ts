/**
 * Bearer API tokens. Config keeps only each token's sha256 (hex); a request's token is hashed and
 * compared with every configured digest with `crypto.timingSafeEqual`, so neither the comparison
 * nor the position of the match leaks through timing.
 *
 * ```sh
 * printf %s "$TOKEN" | sluice token hash   # → the sha256 to put in gateway.tokens[].sha256
 * ```
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Actor } from '../common/users';
import { tokenActor, type GatewayToken } from '../config/sluice-config';
import { HttpError } from './errors';

export type Scope = GatewayToken['scopes'][number];

/** The hex sha256 of a token, as stored in `gateway.tokens[].sha256`. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

const CHALLENGE = { 'WWW-Authenticate': 'Bearer realm="sluice"' };

/**
 * The configured token a request's `Authorization: Bearer …` header names, or undefined.
 * Every configured digest is compared (no early exit).
 */
export function findToken(tokens: readonly GatewayToken[], authorization: string | undefined): GatewayToken | undefined {
  const match = /^Bearer ([^\s]+)$/i.exec(authorization?.trim() ?? '');
  if (!match) return undefined;
  const presented = createHash('sha256').update(match[1]!, 'utf8').digest();
  let found: GatewayToken | undefined;
  for (const token of tokens) {
    const stored = Buffer.from(token.sha256, 'hex');
    if (stored.length === presented.length && timingSafeEqual(stored, presented) && !found) found = token;
  }
  return found;
}

/**
 * Middleware requiring a token with `scope`: 401 `UNAUTHENTICATED` without a valid token, 403
 * `INSUFFICIENT_SCOPE` when it lacks the scope. Sets `res.locals.tokenName` for logs and `res.locals.actor`
 * (the token's user and role; read it with {@link actorOf}).
 */
export function requireScope(tokens: readonly GatewayToken[], scope: Scope): RequestHandler {
  return (req, res, next) => {
    const header = req.get('authorization');
    const token = findToken(tokens, header);
    if (!token) {
      const message = header ? 'the bearer token is not valid' : 'this route needs an API token: Authorization: Bearer <token>';
      next(new HttpError(401, 'UNAUTHENTICATED', message, {}, CHALLENGE));
      return;
    }
    res.locals.tokenName = token.name;
    res.locals.actor = tokenActor(token);
    if (!token.scopes.includes(scope)) {
      next(new HttpError(403, 'INSUFFICIENT_SCOPE', `token "${token.name}" lacks the scope ${scope} this route needs`, { required_scope: scope, token_scopes: token.scopes }));
      return;
    }
    next();
  };
}

/** The user and role of the request's token (set by {@link requireScope}, which every `/v1` route runs first). */
export function actorOf(locals: Record<string, unknown>): Actor {
  const actor = locals.actor as Actor | undefined;
  if (!actor) throw new Error('actorOf: the route has no requireScope middleware');
  return actor;
}
