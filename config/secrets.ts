/**
 * Secrets in sluice.config.yaml: which fields hold them, how they are encrypted, and how they are masked.
 *
 * A field is secret when its zod schema is wrapped in {@link secret} — that is the one place to mark it;
 * loading, the plain-text policy, decryption and masking all find secret fields through it.
 *
 * Encrypted values look like `enc:v1:<key-id>:<iv>:<ciphertext+tag>`: AES-256-GCM (Node's crypto), a random
 * 12-byte IV, a 16-byte tag, both parts base64url; `<key-id>` is the first 8 hex digits of sha256(key). The
 * master key is 32 bytes, written as 64 hex digits or base64, from `SLUICE_MASTER_KEY` (one key, or several
 * separated by commas) or a key file (`SLUICE_MASTER_KEY_FILE`, else `<state dir>/master.key`; one key per
 * line, mode 0600). The first key encrypts, every key decrypts: that is how keys rotate.
 *
 * @example
 * ```ts
 * const keys = loadMasterKeys({ env: process.env, stateDir: '.sluice' });   // null when none is configured
 * const value = encryptSecret('postgres://app:s3cret@db/wh', keys!);           // enc:v1:1a2b3c4d:…
 * decryptSecret(value, keys!);                                                 // postgres://app:s3cret@db/wh
 * ```
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../common/errors';
import { readEnv } from '../common/env';

/**
 * How a secret field is secret: `value` (the whole string) or `url` (a connection URL or libpq string whose
 * password is the secret; the rest may be shown, and a URL without a password is not a secret at all).
 */
export type SecretKind = 'value' | 'url';

/** Registry of the zod schemas of secret fields; fill it with {@link secret}. */
const secretFields = z.registry<{ kind: SecretKind }>();

/**
 * Marks a field's schema as secret: `url: secret(z.string().min(1), 'url').optional()`.
 * Returns the same schema, so validation is unchanged.
 */
export function secret<T extends z.ZodType>(schema: T, kind: SecretKind = 'value'): T {
  secretFields.add(schema as z.ZodType, { kind });
  return schema;
}

/** One secret field found in a config document. */
export interface SecretField {
  path: string[];
  kind: SecretKind;
}

interface SchemaDef {
  type: string;
  [key: string]: unknown;
}
const defOf = (schema: unknown): SchemaDef => (schema as { _zod: { def: SchemaDef } })._zod.def;
const isPlainObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * The secret fields present in `value`, an unvalidated document read against `schema`: every string at a place
 * whose schema was marked with {@link secret}. Discriminated unions follow the discriminator; other unions are
 * searched in every branch.
 */
export function findSecretFields(schema: z.ZodType, value: unknown, at: string[] = []): SecretField[] {
  const found = new Map<string, SecretField>();
  const walk = (node: unknown, current: unknown, where: string[]): void => {
    const meta = secretFields.get(node as z.ZodType);
    if (meta) {
      if (typeof current === 'string') found.set(where.join('\u0000'), { path: where, kind: meta.kind });
      return;
    }
    const def = defOf(node);
    switch (def.type) {
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'nonoptional':
      case 'readonly':
      case 'catch':
        return walk(def.innerType, current, where);
      case 'pipe':
        return walk(def.in, current, where);
      case 'lazy':
        return walk((def.getter as () => unknown)(), current, where);
      case 'object':
        if (!isPlainObject(current)) return;
        for (const [key, child] of Object.entries(def.shape as Record<string, unknown>)) {
          if (key in current) walk(child, current[key], [...where, key]);
        }
        return;
      case 'record':
        if (!isPlainObject(current)) return;
        for (const [key, child] of Object.entries(current)) walk(def.valueType, child, [...where, key]);
        return;
      case 'array':
        if (!Array.isArray(current)) return;
        current.forEach((item, i) => walk(def.element, item, [...where, String(i)]));
        return;
      case 'union': {
        const options = def.options as unknown[];
        const discriminator = def.discriminator as string | undefined;
        if (discriminator !== undefined) {
          if (!isPlainObject(current)) return;
          const match = options.find((option) => {
            const literal = (defOf(option).shape as Record<string, unknown> | undefined)?.[discriminator];
            return literal !== undefined && (defOf(literal).values as unknown[] | undefined)?.includes(current[discriminator]);
          });
          if (match) walk(match, current, where);
          return;
        }
        for (const option of options) walk(option, current, where);
        return;
      }
      case 'intersection':
        walk(def.left, current, where);
        walk(def.right, current, where);
        return;
      default:
        return;
    }
  };
  walk(schema, value, at);
  return [...found.values()];
}

// ---------------------------------------------------------------------------------------------------------------
// Master keys

/** One 32-byte AES-256 key and its id (first 8 hex digits of its sha256). */
export interface MasterKey {
  id: string;
  key: Buffer;
}

/** The configured keys: the first encrypts, all decrypt. `source` names where they came from, for messages. */
export interface MasterKeyRing {
  keys: MasterKey[];
  source: string;
}

export const MASTER_KEY_FILE_NAME = 'master.key';

/** The id of a key: the first 8 hex digits of its sha256. */
export const keyIdOf = (key: Buffer): string => createHash('sha256').update(key).digest('hex').slice(0, 8);

/** Parses one key written as 64 hex digits or as base64/base64url of 32 bytes; null when it is neither. */
function parseKey(text: string): Buffer | null {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) {
    const key = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (key.length === 32) return key;
  }
  return null;
}

const KEY_FORMAT = '32 bytes as 64 hex digits or 44 base64 characters; make one with `sluice secret keygen` or `openssl rand -base64 32`';

/** A new random 32-byte key, base64. */
export function generateMasterKey(): string {
  return randomBytes(32).toString('base64');
}

/**
 * Parses key text (one key per line or separated by commas; blank lines and `#` comments ignored).
 * @throws ConfigError `INVALID_MASTER_KEY` naming the source and line (never the key).
 */
export function parseMasterKeys(text: string, source: string): MasterKeyRing {
  const keys: MasterKey[] = [];
  text.split('\n').forEach((line, lineIndex) => {
    const content = line.replace(/#.*/, '').trim();
    if (content === '') return;
    content.split(',').forEach((part, partIndex) => {
      const trimmed = part.trim();
      if (trimmed === '') return;
      const key = parseKey(trimmed);
      const where = source.startsWith('SLUICE_') ? `${source} (key ${partIndex + 1})` : `${source} line ${lineIndex + 1}`;
      if (!key) throw new ConfigError('INVALID_MASTER_KEY', `${where} is not a master key: expected ${KEY_FORMAT}`);
      const id = keyIdOf(key);
      if (!keys.some((k) => k.id === id)) keys.push({ id, key });
    });
  });
  if (keys.length === 0) throw new ConfigError('INVALID_MASTER_KEY', `${source} holds no key: expected ${KEY_FORMAT}`);
  return { keys, source };
}

/**
 * Reads a key file after checking it is private to its owner (no group or other permission bits: 0600 or 0400).
 * @throws ConfigError `MASTER_KEY_FILE_NOT_FOUND`, `INSECURE_MASTER_KEY_FILE` (with the chmod that fixes it), `INVALID_MASTER_KEY`.
 */
export function readMasterKeyFile(file: string): MasterKeyRing {
  if (!existsSync(file)) {
    throw new ConfigError('MASTER_KEY_FILE_NOT_FOUND', `master key file ${file} does not exist; create one with \`sluice secret keygen --file ${file}\``);
  }
  const stat = statSync(file);
  if (!stat.isFile()) throw new ConfigError('INVALID_MASTER_KEY', `master key file ${file} is not a regular file`);
  const mode = stat.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new ConfigError(
      'INSECURE_MASTER_KEY_FILE',
      `master key file ${file} has mode 0${mode.toString(8)}, so other users may read it; make it private to its owner: chmod 600 ${file}`,
    );
  }
  return parseMasterKeys(readFileSync(file, 'utf8'), file);
}

/** Where the key file is looked for: `SLUICE_MASTER_KEY_FILE` (relative to the project dir), else `<stateDir>/master.key`. */
export function masterKeyFilePath(options: { env: NodeJS.ProcessEnv; stateDir: string; projectDir?: string }): string {
  const explicit = readEnv('SLUICE_MASTER_KEY_FILE', options.env);
  return explicit ? path.resolve(options.projectDir ?? process.cwd(), explicit) : path.join(options.stateDir, MASTER_KEY_FILE_NAME);
}

/**
 * The configured master keys: `SLUICE_MASTER_KEY` when set, else the file `SLUICE_MASTER_KEY_FILE` (which must
 * exist), else `<stateDir>/master.key` when it exists; null when there is none.
 * @throws ConfigError when the key text is malformed or the key file is missing (explicit) or readable by others.
 */
export function loadMasterKeys(options: { env: NodeJS.ProcessEnv; stateDir: string; projectDir?: string }): MasterKeyRing | null {
  const fromEnv = readEnv('SLUICE_MASTER_KEY', options.env);
  if (fromEnv !== undefined && fromEnv.trim() !== '') return parseMasterKeys(fromEnv, 'SLUICE_MASTER_KEY');
  const file = masterKeyFilePath(options);
  if (readEnv('SLUICE_MASTER_KEY_FILE', options.env) || existsSync(file)) return readMasterKeyFile(file);
  return null;
}

// ---------------------------------------------------------------------------------------------------------------
// Encryption

export const ENCRYPTED_PREFIX = 'enc:';
const V1 = /^enc:v1:([0-9a-f]{8}):([A-Za-z0-9_-]{16}):([A-Za-z0-9_-]{22,})$/;
/** An `enc:v1:` value anywhere in a text (for re-encrypting a file in place). */
export const ENCRYPTED_VALUE_PATTERN = /enc:v1:[0-9a-f]{8}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]{22,}/g;

/** True for a value that claims to be encrypted (`enc:…`), well-formed or not. */
export const isEncrypted = (value: string): boolean => value.startsWith(ENCRYPTED_PREFIX);

/** The key id of a well-formed `enc:v1:` value, else null. */
export function encryptedKeyId(value: string): string | null {
  return V1.exec(value)?.[1] ?? null;
}

/** Encrypts a secret with the ring's first key: `enc:v1:<key-id>:<iv>:<ciphertext+tag>`. */
export function encryptSecret(plain: string, ring: MasterKeyRing): string {
  const { id, key } = ring.keys[0]!;
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(`enc:v1:${id}`));
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `enc:v1:${id}:${iv.toString('base64url')}:${body.toString('base64url')}`;
}

/** Thrown when an `enc:` value cannot be decrypted; the message never contains the value. */
export class SecretDecryptError extends ConfigError {
  constructor(message: string) {
    super('SECRET_DECRYPT_FAILED', message);
  }
}

/**
 * Decrypts an `enc:v1:` value with whichever key of the ring has its key id.
 * @throws SecretDecryptError for a malformed value, an unknown key id (naming the configured ids), or a failed
 *   authentication (a different key with the same id, or a value altered or truncated).
 */
export function decryptSecret(value: string, ring: MasterKeyRing | null): string {
  const match = V1.exec(value);
  if (!match) {
    const version = /^enc:(v\d+):/.exec(value)?.[1];
    throw new SecretDecryptError(
      version && version !== 'v1'
        ? `encrypted with format enc:${version}, which this Sluice cannot read (it reads enc:v1)`
        : 'not a valid encrypted value (expected enc:v1:<key-id>:<iv>:<ciphertext>, as printed by `sluice secret encrypt`)',
    );
  }
  const [, id, iv, body] = match as unknown as [string, string, string, string];
  if (!ring) {
    throw new SecretDecryptError(
      `encrypted with key ${id}, but no master key is configured; set SLUICE_MASTER_KEY or SLUICE_MASTER_KEY_FILE, or put the key in .sluice/${MASTER_KEY_FILE_NAME} (mode 0600)`,
    );
  }
  const key = ring.keys.find((k) => k.id === id);
  if (!key) {
    throw new SecretDecryptError(
      `cannot decrypt with the configured key (key id ${id} not found; ${ring.source} has ${ring.keys.map((k) => k.id).join(', ')}); use the key it was encrypted with, or encrypt it again with \`sluice secret encrypt\``,
    );
  }
  const bytes = Buffer.from(body, 'base64url');
  const ivBytes = Buffer.from(iv, 'base64url');
  if (bytes.length < 16 || ivBytes.length !== 12) throw new SecretDecryptError('not a valid encrypted value (truncated)');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.key, ivBytes);
    decipher.setAAD(Buffer.from(`enc:v1:${id}`));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    return Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()]).toString('utf8');
  } catch {
    throw new SecretDecryptError(`cannot decrypt with key ${id}: authentication failed (the value was altered or truncated)`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Plain text and masking

/** A `${env:NAME}` reference in config text; group 1 is the variable's name. */
export const ENV_REFERENCE = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g;
/**
 * A `${secret:NAME}` reference in config text: a secret of the secrets store (connectors/secret-store.ts), resolved
 * inside the activity that uses it for the user who started the run; group 1 is the secret's name.
 */
export const SECRET_REFERENCE = /\$\{secret:([A-Za-z_][A-Za-z0-9_]*)\}/g;
/** A secret's name: what `${secret:NAME}` accepts. */
export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PLACEHOLDER = 'sluiceenvreference';

/**
 * Why a secret field's text as written in the file is a plain-text secret, or null when it is not one: it is
 * encrypted, its secret part comes from `${env:NAME}`, or (kind `url`) it has no password.
 */
export function plainTextSecret(raw: string, kind: SecretKind): string | null {
  if (isEncrypted(raw)) return null;
  const text = raw.replace(ENV_REFERENCE, PLACEHOLDER).replace(SECRET_REFERENCE, PLACEHOLDER);
  if (kind === 'value') return text.includes(PLACEHOLDER) ? null : 'a plain-text secret';
  const password = urlPassword(text);
  return password && !password.includes(PLACEHOLDER) ? 'a plain-text password' : null;
}

/** A libpq `password=…` setting, quoted or not: group 1 is what precedes the value, group 2 the value. */
export const LIBPQ_PASSWORD = /((?:^|\s)password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)/;

/** The password of a connection URL (`user:password@`, `?password=`) or libpq string (`password=…`), if any. */
function urlPassword(text: string): string | null {
  try {
    const url = new URL(text);
    return url.password || url.searchParams.get('password') || null;
  } catch {
    return LIBPQ_PASSWORD.exec(text)?.[2] ?? null;
  }
}

/** What replaces a secret when config is shown. */
export const MASK = '****';

/**
 * A secret as it may be shown: `****` for a value; a URL with its password masked (the rest kept); an encrypted
 * value that was not decrypted as `enc:v1:<key-id>:****`.
 */
export function maskSecret(value: string, kind: SecretKind): string {
  if (isEncrypted(value)) {
    const id = encryptedKeyId(value);
    return id ? `enc:v1:${id}:${MASK}` : `enc:${MASK}`;
  }
  if (kind === 'value') return MASK;
  try {
    const url = new URL(value);
    if (url.password) url.password = MASK;
    if (url.searchParams.has('password')) url.searchParams.set('password', MASK);
    return url.toString();
  } catch {
    return /=/.test(value) ? value.replace(new RegExp(LIBPQ_PASSWORD, 'g'), `$1${MASK}`) : MASK;
  }
}
