/**
 * A real S3-compatible server for tests and benchmarks: versitygw (posix backend) found on PATH or
 * as `SLUICE_S3_SERVER`, else the project-local build in `.tools/bin/versitygw`, else built from its
 * official Go module (`go install github.com/versity/versitygw/cmd/versitygw@v1.8.0`, about a
 * minute). Listens on 127.0.0.1 only, data in a temporary folder.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { findGoTool, type GoTool } from '../../local-stack/go-tool';
import { freePort } from './free-port';
import { logger } from './services';

const VERSITYGW_MODULE = 'github.com/versity/versitygw/cmd/versitygw@v1.8.0';

export interface S3Server {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The folder the posix backend keeps buckets in. */
  dataDir: string;
  /** Stops the server process with `signal` (SIGKILL after 5 s), keeping its port and data dir for {@link S3Server.resume}. */
  halt(signal: NodeJS.Signals): Promise<void>;
  /** Starts a halted server again on the same port and data dir; resolves once it accepts connections. */
  resume(): Promise<void>;
  /** Stops the server and deletes its data dir. */
  stop(): Promise<void>;
}

/** versitygw, found or built like the Temporal CLI (local-stack/go-tool.ts). */
const VERSITYGW: GoTool = {
  binary: 'versitygw',
  module: VERSITYGW_MODULE,
  envVar: 'SLUICE_S3_SERVER',
  notFoundCode: 'S3_SERVER_NOT_FOUND',
  installHint: 'Install versitygw (https://github.com/versity/versitygw)',
};

/** Finds versitygw, building it with Go into `<projectDir>/.tools/bin` when needed. */
function findS3Server(projectDir: string): Promise<string> {
  return findGoTool(VERSITYGW, { projectDir, logger });
}


/** A running versitygw process: resolves once it accepts connections on `port`. */
async function spawnVersitygw(binary: string, options: { port: number; dataDir: string; accessKeyId: string; secretAccessKey: string }) {
  const { port, dataDir, accessKeyId, secretAccessKey } = options;
  const child = spawn(binary, ['--access', accessKeyId, '--secret', secretAccessKey, '--port', `127.0.0.1:${port}`, 'posix', dataDir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const state = { exited: false };
  const exit = new Promise<void>((resolve) =>
    child.on('exit', () => {
      state.exited = true;
      resolve();
    }),
  );
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (state.exited) throw new Error(`versitygw exited at start: ${stderr}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`versitygw did not listen on ${port}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  /** Stops the process with `signal` (SIGKILL after 5 s) and resolves once it exited. */
  const kill = (signal: NodeJS.Signals): Promise<void> => {
    if (state.exited) return Promise.resolve();
    child.kill(signal);
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    return exit;
  };
  return { kill };
}

/** Starts versitygw on a free loopback port; resolves once it accepts connections. */
export async function startS3Server(projectDir: string): Promise<S3Server> {
  const binary = await findS3Server(projectDir);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sluice-s3-'));
  const options = { port: await freePort(), dataDir, accessKeyId: 'sluice-test', secretAccessKey: 'sluice-test-secret' };
  let running: Awaited<ReturnType<typeof spawnVersitygw>> | undefined = await spawnVersitygw(binary, options);
  return {
    endpoint: `http://127.0.0.1:${options.port}`,
    region: 'us-east-1',
    accessKeyId: options.accessKeyId,
    secretAccessKey: options.secretAccessKey,
    dataDir,
    async halt(signal) {
      await running?.kill(signal);
      running = undefined;
    },
    async resume() {
      running ??= await spawnVersitygw(binary, options);
    },
    async stop() {
      await running?.kill('SIGTERM');
      running = undefined;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** An S3 client for `server` (path-style addressing, its credentials); the caller destroys it. */
export function s3ClientFor(server: S3Server): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  });
}
