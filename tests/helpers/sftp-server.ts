/**
 * A real OpenSSH server for SFTP tests: Debian's `/usr/sbin/sshd` (or `SLUICE_SSHD`), started in the
 * foreground (`-D`) on a free loopback port with a temporary config, a generated ed25519 host key and a
 * generated user key authorised for the current user (`StrictModes no`, key authentication only,
 * `Subsystem sftp internal-sftp`). `.ci/run` installs `openssh-server` when sshd is missing.
 *
 * @example
 * ```ts
 * const server = await startSftpServer();
 * writeFileSync(path.join(server.root, 'in.csv'), 'a\n1\n');
 * // connect to 127.0.0.1:server.port as server.username with server.privateKey, pin server.hostKeyFingerprint
 * await server.stop();
 * ```
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './services';

/** The sshd binary: `SLUICE_SSHD`, else Debian's. */
export const SSHD = process.env.SLUICE_SSHD ?? '/usr/sbin/sshd';

export interface SftpServer {
  host: string;
  port: number;
  username: string;
  /** The user key's private half (OpenSSH format), authorised on the server. */
  privateKey: string;
  /** Another key's private half, NOT authorised: the server refuses it. */
  wrongPrivateKey: string;
  /** The host key's fingerprint as `ssh-keygen -lf` prints it: `SHA256:…` (no padding). */
  hostKeyFingerprint: string;
  /** A folder the tests may use as the connector's root (absolute; the SFTP user sees the real file system). */
  root: string;
  /** Kills this sshd's session processes (SIGKILL, by pid: the children of the sshd it started), dropping every open connection. */
  dropConnections(): number;
  /** Stops sshd and deletes its temp dir (keys, config, root). */
  stop(): Promise<void>;
}

/** True when sshd is installed (tests skip without it, except under CI, where they fail). */
export const sshdAvailable = (): boolean => existsSync(SSHD);

function keygen(file: string): { privateKey: string; publicKey: string; fingerprint: string } {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'sluice-test', '-f', file]);
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
  return { privateKey: readFileSync(file, 'utf8'), publicKey: readFileSync(`${file}.pub`, 'utf8'), fingerprint };
}

/** Resolves once `port` accepts a TCP connection and sends the SSH banner. */
async function waitForBanner(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode}: ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString().startsWith('SSH-'));
      });
      socket.once('error', () => resolve(false));
      socket.setTimeout(1_000, () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`sshd did not answer on 127.0.0.1:${port}: ${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Options of {@link startSftpServer}. */
export interface StartSftpServerOptions {
  /** Extra `internal-sftp` arguments, e.g. `-P open` (every file open denied: SSH_FX_PERMISSION_DENIED, even for root). */
  sftpArgs?: string;
}

/** Starts sshd on a free loopback port; resolves once it sends its banner. */
export async function startSftpServer(options: StartSftpServerOptions = {}): Promise<SftpServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-sshd-'));
  const root = path.join(dir, 'root');
  mkdirSync(root);
  const host = keygen(path.join(dir, 'host_ed25519'));
  const user = keygen(path.join(dir, 'user_ed25519'));
  const wrong = keygen(path.join(dir, 'wrong_ed25519'));
  writeFileSync(path.join(dir, 'authorized_keys'), user.publicKey, { mode: 0o600 });
  const port = await freePort();
  const username = os.userInfo().username;
  const config = [
    `ListenAddress 127.0.0.1:${port}`,
    `HostKey ${path.join(dir, 'host_ed25519')}`,
    `PidFile ${path.join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
    'StrictModes no',
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    `AllowUsers ${username}`,
    `Subsystem sftp internal-sftp${options.sftpArgs ? ` ${options.sftpArgs}` : ''}`,
    'LogLevel ERROR',
  ].join('\n');
  const configFile = path.join(dir, 'sshd_config');
  writeFileSync(configFile, `${config}\n`);
  // sshd wants its privilege-separation dir (the package creates it at boot; a container may lack it).
  // Without the right to create it, sshd's own error says so below.
  try {
    mkdirSync('/run/sshd', { recursive: true });
  } catch {
    // not root: leave it to sshd
  }
  let output = '';
  const child = spawn(SSHD, ['-D', '-e', '-f', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  try {
    await waitForBanner(port, child, () => output);
  } catch (error) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    host: '127.0.0.1',
    port,
    username,
    privateKey: user.privateKey,
    wrongPrivateKey: wrong.privateKey,
    hostKeyFingerprint: host.fingerprint,
    root,
    dropConnections() {
      const children = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      for (const pid of children) process.kill(pid, 'SIGKILL');
      return children.length;
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
