/** Free TCP ports for servers a test starts (a dev server, a PostgreSQL cluster, an S3 server it owns). */
import { createServer, type AddressInfo } from 'node:net';

/** A TCP port free on 127.0.0.1 right now (the OS picks it; released before returning). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A TCP port in [`low`, `high`) free on 127.0.0.1 right now (random tries; released before returning). For
 * servers that cannot take an ephemeral port: Temporal keeps a service's membership port in a PostgreSQL
 * `smallint` column (cluster_membership.rpc_port), so its ports must be below 32768.
 * @throws Error when 200 tries find none free.
 */
export async function freePortInRange(low: number, high: number): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const port = low + Math.floor(Math.random() * (high - low));
    const server = createServer();
    const free = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (free) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return port;
    }
  }
  throw new Error(`no free TCP port in [${low}, ${high}) on 127.0.0.1 after 200 tries`);
}
