/**
 * Users: who starts a run, owns user-level secrets and `data.user`. An API token belongs to one
 * (`gateway.tokens[].user`, with a `role`); the CLI acts as one (`--user <name>`, else `SLUICE_USER`,
 * else the config's `user:`, else {@link LOCAL_USER}).
 *
 * Pure data and a zod schema, no I/O.
 *
 * @example
 * ```ts
 * userNameSchema.parse('ana');        // 'ana'
 * parseUserName('Ana Lopez', '--user'); // throws InvalidRequestError INVALID_USER
 * ```
 */
import { z } from 'zod';
import { InvalidRequestError } from './errors';

/** The user a local CLI acts as when nothing names one; it also owns the data of the old shared `data.user`. */
export const LOCAL_USER = 'local';

/** Roles: an `admin` writes org-level secrets; a `member` reads their names and owns their own. */
export const USER_ROLES = ['admin', 'member'] as const;
export type UserRole = (typeof USER_ROLES)[number];

/** A user name: 1–64 characters, letters, digits, `.`, `_`, `@` or `-`, starting with a letter or digit. */
export const userNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, "user names are 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit");

/** Who acts: a user and their role. */
export interface Actor {
  user: string;
  role: UserRole;
}

/**
 * `name` when it is a user name.
 * @param where what gave it, for the message (`--user`, `SLUICE_USER`, …).
 * @throws InvalidRequestError `INVALID_USER` naming `where`.
 */
export function parseUserName(name: string, where: string): string {
  if (userNameSchema.safeParse(name).success) return name;
  throw new InvalidRequestError('INVALID_USER', `${where}: "${name}" is not a user name; use 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit`);
}
