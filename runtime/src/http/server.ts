/**
 * The HTTP servers: the API port, where the inference routes are dispatched straight to their
 * handler and everything else goes to the express app (app.ts), and the optional metrics-only
 * port. Both carry the slow-client limits. Admission (API key, accounting) and error rendering
 * are shared by both paths (guard.ts, respond.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { HTTP_PATH } from '../../../contract/runtime-contract.ts';
import type { ServeConfig } from '../config.ts';
import { notFound } from '../errors.ts';
import { createApp } from './app.ts';
import { clientCertRefusal } from './client-cert.ts';
import { forwardInference, type ForwardDeps } from './forward.ts';
import { handleInference } from './inference.ts';
import { sendMetrics } from './metrics-endpoint.ts';
import { decidePin, type PinConfig } from './pin.ts';
import { sendError } from './respond.ts';
import { matchInference, needsReview, routePath } from './routes.ts';
import type { RequestGate } from '../kube-auth/request-gate.ts';
import { httpsServerOptions, type TlsMaterial } from './tls.ts';

/** Node checks the header and request receive timeouts this often (its default is 30 s). */
function checkingIntervalMs(config: ServeConfig): number {
  return Math.max(50, Math.min(1000, Math.floor(config.headersTimeoutMs / 4)));
}

/**
 * A server with the slow-client limits: connection cap, header and whole-request receive timeouts;
 * HTTPS when given TLS material (an https.Server is an http.Server with a TLS layer under it).
 */
function limitedServer(config: ServeConfig, handler: (req: IncomingMessage, res: ServerResponse) => void, tls?: TlsMaterial): Server {
  const limits = {
    keepAliveTimeout: 65_000,
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: config.requestReceiveTimeoutMs,
    connectionsCheckingInterval: checkingIntervalMs(config),
  };
  const server = tls ? createHttpsServer({ ...limits, ...httpsServerOptions(tls) }, handler) : createServer(limits, handler);
  server.maxConnections = config.maxConnections;
  return server;
}

export function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

const pathOf = (url: string | undefined): string => {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q === -1 ? u : u.slice(0, q);
};

/** /metrics as express would route it (case-insensitive, trailing slash allowed). */
const isMetricsPath = (url: string | undefined): boolean => routePath(url) === HTTP_PATH.metrics;

export interface HttpServers {
  server: Server;
  metricsServer: Server | undefined;
  /** the port the API listens on (the configured one, or the one the OS chose for 0) */
  port: number;
  /** the port /metrics is served on */
  metricsPort: number;
}

export interface ApiDeps extends ForwardDeps {
  pin: PinConfig;
  /** kubernetes mode: each request's caller is reviewed before dispatch (kube-auth/request-gate.ts) */
  kubeAuth?: RequestGate | undefined;
}

/**
 * Create both servers and start listening (the metrics port first, when apart). With `tls` the API
 * port speaks HTTPS; the metrics port stays plain HTTP: it carries no request data, the operator's
 * canary analysis and Prometheus scrape it by pod IP (which no serving certificate names), and a
 * NetworkPolicy can admit only the scraper there.
 */
export async function listenHttp(config: ServeConfig, deps: ApiDeps, tls?: TlsMaterial): Promise<HttpServers> {
  const { state, metrics, log } = deps;
  const app = createApp(deps);
  const metricsApart = config.metricsPort !== undefined;
  let metricsServer: Server | undefined;
  let metricsPort: number | undefined;
  const mtls = tls?.clientCa !== undefined;
  const gate = deps.kubeAuth;
  // mTLS first (no certificate, no further work), then the kubernetes-mode review, then routing
  const server = limitedServer(
    config,
    (req, res) => {
      if (mtls) {
        const refusal = clientCertRefusal(req, pathOf(req.url));
        if (refusal) {
          log.warn('client certificate refused', {
            reason: refusal.reason,
            remoteAddress: req.socket.remoteAddress,
            path: pathOf(req.url),
          });
          sendError(res, refusal.error, { log, closing: state.closing });
          return;
        }
      }
      if (!gate || !needsReview(req.url)) {
        routeApi(req, res);
        return;
      }
      gate.prepare(req).then(
        () => {
          // the client left during the review: nothing to answer, and nothing to count twice
          if (!res.destroyed && !req.socket.destroyed) routeApi(req, res);
        },
        (err: unknown) => sendError(res, err, { log, closing: state.closing, context: 'authorization failed' }),
      );
    },
    tls,
  );
  function routeApi(req: IncomingMessage, res: ServerResponse): void {
    if (req.method === 'POST') {
      const route = matchInference(req.url ?? '/');
      if (route) {
        // a request pinned to another version is forwarded; a bad or unknown pin is refused by the handler, after the API key
        const pin = decidePin(route, req.headers, deps.pin);
        if (pin.kind === 'forward') forwardInference(deps, route, pin, req, res);
        else handleInference(deps, route, req, res, pin.kind === 'refuse' ? pin.error : undefined);
        return;
      }
    }
    // metrics on their own port: not here, so a NetworkPolicy can admit only the scraper there
    if (metricsApart && isMetricsPath(req.url)) {
      sendError(res, notFound(`no route ${req.method ?? 'GET'} /metrics: metrics are served on port ${metricsPort}`), {
        log,
        closing: state.closing,
      });
      return;
    }
    app(req, res);
  }
  if (metricsApart) {
    metricsServer = limitedServer(config, (req, res) => {
      if (req.method === 'GET' && isMetricsPath(req.url)) sendMetrics(metrics, res, log, false);
      else
        sendError(res, notFound(`no route ${req.method ?? 'GET'} ${pathOf(req.url)}: this port serves only GET /metrics`), {
          log,
          closing: false,
        });
    });
    await listen(metricsServer, config.metricsPort as number, config.host);
    metricsPort = (metricsServer.address() as AddressInfo).port;
  }
  await listen(server, config.port, config.host);
  const port = (server.address() as AddressInfo).port;
  return { server, metricsServer, port, metricsPort: metricsPort ?? port };
}
