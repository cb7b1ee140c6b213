/**
 * The `sftp` connector as a source: files on an SFTP server (OpenSSH or any SSH-2 SFTP server),
 * through `ssh2-sftp-client` (on `ssh2`).
 *
 * `source_path` is a path under the connector's `root` (relative, or absolute under it), or
 * `sftp://host[:port]/absolute/path` naming the configured host. Anything that escapes the root —
 * `..`, an absolute path elsewhere, a symlink the server resolves (`realpath`) to outside it — is
 * refused with `PATH_OUTSIDE_ROOT`, as the local connector does.
 *
 * The file is streamed (`get(path, writable)`) into a scratch file in the run's staging folder, never
 * whole in memory, then staged by the shared {@link stageFile} (csv, json, ndjson, parquet exactly as
 * for local files); the scratch copy is deleted afterwards.
 *
 * The server's host key is pinned: `host_key` is its SHA256 fingerprint (`SHA256:…`, as
 * `ssh-keygen -lf` prints it); any other key is refused with `HOST_KEY_MISMATCH` naming both
 * fingerprints. `host_key: insecure-accept-any` turns pinning off (a warning is logged at every connect).
 *
 * With `after_load: { move_to: "archive/{date}/" }`, {@link SftpSource.afterLoad} moves a loaded file
 * into that folder under the root (never overwriting: `name.1.csv`, … on a clash); a retry after the
 * move finds the file there and reports the same place.
 *
 * Errors: `SOURCE_NOT_FOUND`, `SOURCE_NOT_A_FILE`, `PATH_OUTSIDE_ROOT`, `INVALID_SOURCE_PATH`,
 * `UNKNOWN_FORMAT`, `UNREADABLE_SOURCE` (SourceError); `HOST_KEY_MISMATCH` (ConfigError);
 * `AUTH_FAILED` / `PERMISSION_DENIED` (AccessError) — all user errors, the run ends FAILED; a refused,
 * dropped or timed-out connection is `CONNECTION_LOST` (TransientError), retried. Messages never
 * hold a password or key.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import SftpClient from 'ssh2-sftp-client';
import { ConfigError, SourceError, TransientError, UserError } from '../../common/errors';
import { SFTP_INSECURE_HOST_KEY, type SftpConnectorConfig } from '../../config/sluice-config';
import { accessError, type SftpAccess } from '../access-errors';
import { messageOf, probe } from '../check';
import type { AfterLoadRequest, AfterLoadResult, CheckOptions, CheckResult, SourceConnector, StagedSource, StageSourceRequest } from '../connector';
import { downloadPath, downloadProgress } from '../local/download';
import { detectFormat, stageFile } from '../local/local-source';

/** Where warnings go (insecure host key); the worker's pino logger fits. */
export interface SftpLogger {
  warn(details: Record<string, unknown>, message: string): void;
}

/** `SHA256:` + unpadded base64 of the key blob's SHA-256: what `ssh-keygen -lf` prints. */
export function hostKeyFingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** One open SFTP session and what it was opened for. */
interface Session {
  client: SftpClient;
  /** The root, as the server resolves it (absolute, symlink-free). */
  root: string;
}

const NETWORK = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE|Timed out while waiting for handshake|Unexpected (end|close) event|Remote host (refused|has reset)|Not connected|No SFTP connection|Connection lost/i;

/** A `posix.relative` that says whether `child` is `parent` or under it. */
const inside = (parent: string, child: string): boolean => {
  const rel = path.posix.relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith('../') && !path.posix.isAbsolute(rel));
};

export class SftpSource implements SourceConnector {
  readonly kind = 'sftp';
  /** Present only when the connector has `after_load`: moves a loaded file (see the module doc). */
  readonly afterLoad?: (request: AfterLoadRequest) => Promise<AfterLoadResult>;

  /**
   * @param config the connector's config, secrets resolved.
   * @param connectorName its name in the config (`partner`), for messages.
   * @param projectDir where `private_key_file` is resolved from.
   */
  constructor(
    private readonly config: SftpConnectorConfig,
    private readonly connectorName: string,
    private readonly projectDir: string,
    private readonly logger?: SftpLogger,
  ) {
    if (config.after_load) this.afterLoad = (request) => this.moveAfterLoad(request, config.after_load!.move_to);
  }

  private get name(): string {
    return `connectors.${this.connectorName}`;
  }

  private access(what?: string): SftpAccess {
    return { kind: 'sftp', connector: this.connectorName, host: this.config.host, port: this.config.port, username: this.config.username, ...(what ? { what } : {}) };
  }

  /**
   * The error a call about `what` threw, in Sluice's words: an AccessError, `CONNECTION_LOST`, or `SOURCE_NOT_FOUND`;
   * other errors unchanged.
   */
  private explain(error: unknown, what?: string): unknown {
    if (error instanceof UserError || error instanceof TransientError) return error;
    const refused = accessError(error, this.access(what));
    if (refused) return refused;
    const message = error instanceof Error ? error.message : String(error);
    const code = (error as { code?: unknown }).code;
    if (what && (code === 2 || code === 'ENOENT' || /no such file/i.test(message))) {
      return new SourceError('SOURCE_NOT_FOUND', `source file "${what}" does not exist on ${this.name} (${this.config.host}:${this.config.port})`, { cause: error });
    }
    if (/Cannot parse privateKey|private key detected, but no passphrase|Bad passphrase|Unsupported key format/i.test(message)) {
      return new ConfigError(
        'INVALID_CONFIG',
        `${this.name}: the private key cannot be used (${message.replace(/^\w+: /, '')}); check ${this.name}.private_key or private_key_file (an OpenSSH or PEM private key) and passphrase`,
        { cause: error },
      );
    }
    if (NETWORK.test(message) || (typeof code === 'string' && NETWORK.test(code))) {
      return new TransientError(
        'CONNECTION_LOST',
        `${this.name}: the connection to the SFTP server at ${this.config.host}:${this.config.port} failed or dropped (${message}); it is retried — check connectors.${this.connectorName}.host and port if it persists`,
        { cause: error },
      );
    }
    return error;
  }

  /** The private key's text: `private_key`, else the file `private_key_file` names. */
  private async privateKey(): Promise<string | undefined> {
    if (this.config.private_key) return this.config.private_key;
    if (!this.config.private_key_file) return undefined;
    const file = path.resolve(this.projectDir, this.config.private_key_file);
    try {
      return await readFile(file, 'utf8');
    } catch (error) {
      throw new ConfigError('INVALID_CONFIG', `${this.name}.private_key_file: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)}); check the path (relative to the project dir) and its permissions`, { cause: error });
    }
  }

  /**
   * Connects, verifies the host key, authenticates and resolves the root.
   * @throws ConfigError `HOST_KEY_MISMATCH`; AccessError `AUTH_FAILED`; TransientError `CONNECTION_LOST`; SourceError `SOURCE_NOT_FOUND` (root missing).
   */
  private async open(signal?: AbortSignal): Promise<Session> {
    const pinned = this.config.host_key;
    let offered: string | undefined;
    if (pinned === SFTP_INSECURE_HOST_KEY) {
      this.logger?.warn({ connector: this.connectorName, host: this.config.host }, `${this.name}: host_key is insecure-accept-any, so the server's identity is not checked; pin its SHA256 fingerprint`);
    }
    // A connection error after connect (a dropped link) is reported to the pending call; never thrown at the process.
    const client = new SftpClient(this.connectorName, { error: () => undefined, end: () => undefined, close: () => undefined });
    const abort = () => void client.end().catch(() => undefined);
    signal?.addEventListener('abort', abort, { once: true });
    try {
      const privateKey = await this.privateKey();
      await client.connect({
        host: this.config.host,
        port: this.config.port,
        username: this.config.username,
        ...(this.config.password ? { password: this.config.password } : {}),
        ...(privateKey ? { privateKey } : {}),
        ...(this.config.passphrase ? { passphrase: this.config.passphrase } : {}),
        readyTimeout: this.config.timeout_ms,
        hostVerifier: (key: Buffer) => {
          offered = hostKeyFingerprint(key);
          return pinned === SFTP_INSECURE_HOST_KEY || offered === pinned;
        },
      });
    } catch (error) {
      signal?.removeEventListener('abort', abort);
      await client.end().catch(() => undefined);
      if (offered !== undefined && pinned !== SFTP_INSECURE_HOST_KEY && offered !== pinned) {
        throw new ConfigError(
          'HOST_KEY_MISMATCH',
          `${this.name}: the SFTP server at ${this.config.host}:${this.config.port} presented host key ${offered}, but ${this.name}.host_key pins ${pinned}; ` +
            `if the server's key was changed on purpose, confirm the new fingerprint with its admin and update host_key — otherwise something is impersonating the server`,
          { cause: error, details: { expected: pinned, actual: offered } },
        );
      }
      throw this.explain(error);
    }
    try {
      const missing = new SourceError('SOURCE_NOT_FOUND', `${this.name}.root "${this.config.root}" does not exist on ${this.config.host}:${this.config.port}; create it or fix root`);
      const orMissing = (error: unknown) => {
        const explained = this.explain(error, this.config.root);
        throw explained instanceof SourceError && explained.code === 'SOURCE_NOT_FOUND' ? missing : explained;
      };
      // OpenSSH resolves a missing last component too, so the stat is what finds a missing root.
      const root = await client.realPath(this.config.root).catch(orMissing);
      if (!root) throw missing;
      const stats = await client.stat(root).catch(orMissing);
      if (!stats.isDirectory) throw new SourceError('SOURCE_NOT_A_FILE', `${this.name}.root "${this.config.root}" is not a folder on ${this.config.host}:${this.config.port}`);
      signal?.removeEventListener('abort', abort);
      return { client, root };
    } catch (error) {
      signal?.removeEventListener('abort', abort);
      await client.end().catch(() => undefined);
      throw this.explain(error, this.config.root);
    }
  }

  /** Runs `body` on a fresh session, closed afterwards (also when `signal` aborts). */
  private async withSession<T>(body: (session: Session) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const session = await this.open(signal);
    const abort = () => void session.client.end().catch(() => undefined);
    signal?.addEventListener('abort', abort, { once: true });
    try {
      return await body(session);
    } finally {
      signal?.removeEventListener('abort', abort);
      await session.client.end().catch(() => undefined);
    }
  }

  /**
   * The remote path a source_path names, lexically under the root (before the server resolves symlinks).
   * @throws SourceError `INVALID_SOURCE_PATH` (an sftp:// URI for another host), `PATH_OUTSIDE_ROOT`.
   */
  private candidate(root: string, sourcePath: string): string {
    let remote = sourcePath;
    if (/^sftp:/i.test(sourcePath)) {
      let url: URL;
      try {
        url = new URL(sourcePath);
      } catch (error) {
        throw new SourceError('INVALID_SOURCE_PATH', `source_path "${sourcePath}" is not a valid sftp:// URI; use sftp://${this.config.host}/path/under/root or a path relative to the root`, { cause: error });
      }
      const port = url.port === '' ? 22 : Number(url.port);
      if (url.hostname.toLowerCase() !== this.config.host.toLowerCase() || port !== this.config.port) {
        throw new SourceError(
          'INVALID_SOURCE_PATH',
          `source_path "${sourcePath}" names ${url.host}, but ${this.name} connects to ${this.config.host}:${this.config.port}; use a path under its root, or a connector for that server`,
        );
      }
      remote = decodeURIComponent(url.pathname);
    }
    const candidate = path.posix.resolve(root, remote);
    if (!inside(root, candidate)) {
      throw new SourceError('PATH_OUTSIDE_ROOT', `source_path "${sourcePath}" is outside ${this.name}'s root ${root}; use a path under it`);
    }
    return candidate;
  }

  /**
   * Resolves a source_path on the server: exists, is a file, and (symlinks resolved) stays under the root.
   * @returns the absolute, symlink-free remote path.
   */
  private async resolve(session: Session, sourcePath: string): Promise<string> {
    const candidate = this.candidate(session.root, sourcePath);
    let exists: false | string;
    try {
      exists = await session.client.exists(candidate);
    } catch (error) {
      throw this.explain(error, sourcePath);
    }
    if (!exists) throw new SourceError('SOURCE_NOT_FOUND', `source file "${sourcePath}" does not exist under ${this.name}'s root ${session.root}`);
    let real: string;
    try {
      real = await session.client.realPath(candidate);
    } catch (error) {
      throw this.explain(error, sourcePath);
    }
    if (!real) throw new SourceError('SOURCE_NOT_FOUND', `source file "${sourcePath}" does not exist under ${this.name}'s root ${session.root}`);
    if (!inside(session.root, real)) {
      throw new SourceError('PATH_OUTSIDE_ROOT', `source_path "${sourcePath}" links to ${real}, outside ${this.name}'s root ${session.root}`);
    }
    let isFile: boolean;
    try {
      isFile = (await session.client.stat(real)).isFile;
    } catch (error) {
      throw this.explain(error, sourcePath);
    }
    if (!isFile) throw new SourceError('SOURCE_NOT_A_FILE', `source_path "${sourcePath}" is not a file`);
    return real;
  }

  /**
   * Connects, checks the host key against `host_key`, authenticates and checks the root is a folder. Never rejects:
   * a failure's reason is the error's own message (HOST_KEY_MISMATCH, AUTH_FAILED, SOURCE_NOT_FOUND, CONNECTION_LOST…).
   */
  async check(options: CheckOptions = {}): Promise<CheckResult> {
    const { host, port, username } = this.config;
    return probe(options, {
      secrets: [this.config.password, this.config.private_key, this.config.passphrase].filter((v): v is string => Boolean(v)),
      onTimeout: `a firewall, or the wrong host or port? check ${this.name}.host and port`,
      explain: (error) => messageOf(error),
      body: async (signal) => {
        const root = await this.withSession(async (session) => session.root, signal);
        const hostKey = this.config.host_key === SFTP_INSECURE_HOST_KEY ? 'not checked (insecure-accept-any)' : this.config.host_key;
        return { reason: `connected to ${host}:${port} as ${username}, host key ${hostKey}, root ${root} is a folder`, detail: { root, host_key: hostKey } };
      },
    });
  }

  async stage(request: StageSourceRequest): Promise<StagedSource> {
    return this.withSession(async (session) => {
      const remote = await this.resolve(session, request.sourcePath);
      // Decide the format before downloading, so an unknown one fails fast.
      const format = detectFormat(remote, request.spec.source.format);
      const downloadDir = path.join(request.stagingDir, 'download');
      await mkdir(downloadDir, { recursive: true });
      const raw = downloadPath(downloadDir, remote, 'file');
      try {
        const progress = downloadProgress(request.onProgress);
        // The download flows through `progress` into the scratch file; `pipeline` owns both streams' errors
        // (a dropped connection must fail this call, never surface as an uncaught stream error).
        const written = pipeline(progress, createWriteStream(raw));
        written.catch(() => undefined);
        try {
          await session.client.get(remote, progress);
          await written;
        } catch (error) {
          progress.destroy();
          await written.catch(() => undefined);
          if (request.signal.aborted) throw request.signal.reason ?? error;
          throw this.explain(error, request.sourcePath);
        }
        return await stageFile(raw, format, request, `sftp://${this.config.host}${this.config.port === 22 ? '' : `:${this.config.port}`}${remote}`);
      } finally {
        await rm(downloadDir, { recursive: true, force: true });
      }
    }, request.signal);
  }

  /**
   * Moves a loaded file into `move_to` (under the root, `{date}` replaced), never overwriting.
   * Idempotent: when the file is gone and a moved copy is there, that copy's path is returned.
   * @throws SourceError `PATH_OUTSIDE_ROOT` (move_to escapes the root), `SOURCE_NOT_FOUND` (neither the file nor a moved copy exists).
   */
  private async moveAfterLoad(request: AfterLoadRequest, moveTo: string): Promise<AfterLoadResult> {
    return this.withSession(async (session) => {
      const folder = path.posix.resolve(session.root, moveTo.replaceAll('{date}', request.date));
      if (!inside(session.root, folder)) {
        throw new SourceError('PATH_OUTSIDE_ROOT', `${this.name}.after_load.move_to "${moveTo}" is outside the root ${session.root}; use a folder under it`);
      }
      const source = this.candidate(session.root, request.sourcePath);
      const base = path.posix.basename(source);
      const ext = path.posix.extname(base);
      const named = (n: number) => path.posix.join(folder, n === 0 ? base : `${base.slice(0, base.length - ext.length)}.${n}${ext}`);
      try {
        if (!(await session.client.exists(source))) {
          // A retry after the move: the last copy under that name is this run's.
          let last: string | undefined;
          for (let n = 0; await session.client.exists(named(n)); n++) last = named(n);
          if (last) return { movedTo: path.posix.relative(session.root, last) };
          throw new SourceError('SOURCE_NOT_FOUND', `source file "${request.sourcePath}" is no longer under ${this.name}'s root ${session.root} and not in ${path.posix.relative(session.root, folder)}/, so it was not moved`);
        }
        await this.resolve(session, request.sourcePath);
        if (!(await session.client.exists(folder))) await session.client.mkdir(folder, true);
        for (let n = 0; ; n++) {
          const destination = named(n);
          if (await session.client.exists(destination)) continue;
          // OpenSSH's rename refuses an existing destination, so a race never overwrites. The name the
          // file was dropped under moves (a symlink under the root moves as the link).
          try {
            await session.client.rename(source, destination);
          } catch (error) {
            if (await session.client.exists(destination)) continue;
            throw error;
          }
          return { movedTo: path.posix.relative(session.root, destination) };
        }
      } catch (error) {
        throw this.explain(error, request.sourcePath);
      }
    });
  }
}
