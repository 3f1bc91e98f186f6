import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HealthSource {
  /** Process is alive and its watches are working. */
  live(): { ok: boolean; detail: string };
  /** Ready to serve its purpose (caches synced, or standing by for the Lease). */
  ready(): { ok: boolean; detail: string };
}

/** /healthz, /readyz and /metrics on a small node:http server. */
export async function startOpsServer(
  host: string,
  port: number,
  health: HealthSource,
  registry: Registry,
): Promise<http.Server & { port: number }> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    if (req.method !== 'GET') return send(405, 'method not allowed\n');
    if (path === '/healthz' || path === '/readyz') {
      const r = path === '/healthz' ? health.live() : health.ready();
      return send(r.ok ? 200 : 503, `${r.ok ? 'ok' : 'not ok'}: ${r.detail}\n`);
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => send(200, text, registry.contentType),
        (err: Error) => send(500, `metrics failed: ${err.message}\n`),
      );
      return;
    }
    send(404, 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return Object.assign(server, { port: (server.address() as AddressInfo).port });
}
