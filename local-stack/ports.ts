/**
 * The ports of the local stack: each must be free before `sluice dev` starts the server that uses it, so a
 * server left by another process is an error naming the port, never a silent attach to it.
 */
import net from 'node:net';
import { UserError } from '../common/errors';

/**
 * Resolves when `host:port` can be listened on (it is then released at once).
 * @param what the server that wants it, e.g. `the Temporal dev server`; `option` the CLI option that changes it.
 * @throws UserError `PORT_IN_USE` naming the port, what wanted it and how to choose another.
 */
export async function assertPortFree(port: number, what: string, option: string, host = '127.0.0.1'): Promise<void> {
  if (port === 0) return;
  const free = await isPortFree(port, host);
  if (!free) {
    throw new UserError(
      'PORT_IN_USE',
      `port ${port} (${what}) is already in use by another process on ${host}: stop that process (a server left by an earlier \`sluice dev\`? see \`ss -ltnp 'sport = :${port}'\`), or choose another port with ${option}`,
      { details: { port, host } },
    );
  }
}

/** True when nothing listens on `host:port` (EADDRINUSE and EACCES mean it is not free). */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
