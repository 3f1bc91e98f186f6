/**
 * A reverse proxy that serves a runtime under a path prefix and strips the prefix before
 * forwarding, as the Kubernetes API server's service proxy does
 * (/api/v1/namespaces/<ns>/services/<svc>:<port>/proxy/...). Used to check that /docs and the
 * OpenAPI document work from under such a prefix.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';

export interface PrefixProxy {
  /** the prefixed base URL: <url>/docs is the runtime's /docs */
  url: string;
  close: () => Promise<void>;
}

export async function prefixProxy(target: string, prefix: string): Promise<PrefixProxy> {
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    if (!path.startsWith(prefix)) {
      res.writeHead(404).end('outside the prefix');
      return;
    }
    const upstream = httpRequest(`${target}${path.slice(prefix.length) || '/'}`, { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}${prefix}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
