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
import { logger } from './services';

const VERSITYGW_MODULE = 'github.com/versity/versitygw/cmd/versitygw@v1.8.0';

export interface S3Server {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The folder the posix backend keeps buckets in. */
  dataDir: string;
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

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** Starts versitygw on a free loopback port; resolves once it accepts connections. */
export async function startS3Server(projectDir: string): Promise<S3Server> {
  const binary = await findS3Server(projectDir);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sluice-s3-'));
  const port = await freePort();
  const accessKeyId = 'sluice-test';
  const secretAccessKey = 'sluice-test-secret';
  const child = spawn(binary, ['--access', accessKeyId, '--secret', secretAccessKey, '--port', `127.0.0.1:${port}`, 'posix', dataDir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  let exited = false;
  child.on('exit', () => (exited = true));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited) throw new Error(`versitygw exited at start: ${stderr}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`versitygw did not listen on ${port}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    accessKeyId,
    secretAccessKey,
    dataDir,
    stop: () =>
      new Promise<void>((resolve) => {
        const done = () => {
          rmSync(dataDir, { recursive: true, force: true });
          resolve();
        };
        if (exited) return done();
        child.once('exit', done);
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }),
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
