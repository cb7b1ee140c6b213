/**
 * Listening and closing: the HTTP server around the gateway app.
 *
 * @example
 * ```ts
 * const server = await startGatewayServer(app, { port: 0, host: '127.0.0.1' });
 * console.log(server.url);   // http://127.0.0.1:41234
 * await server.close();      // stops accepting, ends idle keep-alive sockets, waits for in-flight requests
 * ```
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';

export interface GatewayServer {
  server: Server;
  /** The port actually bound (useful with port 0). */
  port: number;
  /** `http://host:port`. */
  url: string;
  /** Stops accepting connections and resolves when in-flight requests are done (or after `graceMs`, closing what is left). */
  close(graceMs?: number): Promise<void>;
}

/**
 * Listens on `host:port`.
 * @throws the listen error (e.g. EADDRINUSE).
 */
export function startGatewayServer(app: Express, options: { port: number; host: string }): Promise<GatewayServer> {
  return new Promise((resolve, reject) => {
    const server = app.listen(options.port, options.host);
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      const host = options.host.includes(':') ? `[${options.host}]` : options.host;
      resolve({
        server,
        port,
        url: `http://${host}:${port}`,
        close: (graceMs = 10_000) =>
          new Promise<void>((done, fail) => {
            const force = setTimeout(() => server.closeAllConnections(), graceMs);
            force.unref();
            server.close((error) => {
              clearTimeout(force);
              if (error) fail(error);
              else done();
            });
            server.closeIdleConnections();
          }),
      });
    });
  });
}
