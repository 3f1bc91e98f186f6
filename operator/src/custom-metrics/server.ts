/**
 * The operator's custom.metrics.k8s.io server: an HTTPS listener the API server's aggregation layer
 * proxies to (APIService v1beta2.custom.metrics.k8s.io). For GET .../namespaces/<ns>/pods/*\/<metric>
 * it lists the runtime pods matching the labelSelector (the API server filters: only running runtime
 * pods come back), reads each pod's counters (reusing a reading younger than cacheMs, so several
 * callers in one HPA sync cost one scrape, and joining a read already under way) and answers each pod's
 * load over the last window (window.ts). A pod that cannot be read or has no window yet is left out.
 */
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { describeApiError } from '../errors.ts';
import { discoveryDocument, metricValueList, parseRequest, runtimePodSelector, statusBody, type PodValue } from './api.ts';
import { AUTH_CONFIGMAP, authenticate, trustFromConfigMap, type FrontProxyTrust } from './auth.ts';
import { CUSTOM_METRIC, type CustomMetricName } from './names.ts';
import { forEachBounded } from '../http/bounded.ts';
import { metricsUrl, readPod, SCRAPE_LIMITS, SharedReads, type ScrapeLimits } from './scrape.ts';
import { LoadHistory } from './window.ts';

export interface CustomMetricsServerOptions {
  core: CoreV1Api;
  log: Logger;
  certPem: string;
  keyPem: string;
  bindAddress: string;
  port: number;
  /** The span each value averages over when the pod has been read that long (default 15 s, the HPA's sync period). */
  windowMs?: number;
  /** A pod read less than this ago is not read again (default 2 s). */
  cacheMs?: number;
  /** How often the requestheader CA and allowed names are read again (default 5 min). */
  trustRefreshMs?: number;
  limits?: Partial<ScrapeLimits>;
  now?: () => number;
}

export class CustomMetricsServer {
  private readonly o: CustomMetricsServerOptions;
  private readonly limits: ScrapeLimits;
  private readonly history: LoadHistory;
  private readonly reads = new SharedReads();
  private readonly windowMs: number;
  private readonly now: () => number;
  private server: https.Server | undefined;
  private trust: FrontProxyTrust | undefined;
  private trustError: string | undefined;
  private stopped = false;
  private refreshTimer: NodeJS.Timeout | undefined;

  constructor(o: CustomMetricsServerOptions) {
    this.o = o;
    this.limits = { ...SCRAPE_LIMITS, ...o.limits };
    this.windowMs = o.windowMs ?? 15_000;
    this.history = new LoadHistory(this.windowMs);
    this.now = o.now ?? Date.now;
  }

  /**
   * Listens; resolves with the bound port. Without the front-proxy trust (ConfigMap unreadable) it
   * answers 503 and tries again every 30 s, rather than taking the operator down with it.
   */
  async start(): Promise<number> {
    await this.refreshTrust();
    const server = https.createServer(
      {
        cert: this.o.certPem,
        key: this.o.keyPem,
        ...(this.trust ? { ca: this.trust.caPem } : {}),
        requestCert: true,
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
      },
      (req, res) => void this.handle(req, res),
    );
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.bindAddress, () => resolve());
    });
    this.scheduleRefresh();
    const addr = server.address();
    return typeof addr === 'object' && addr ? addr.port : this.o.port;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.refreshTimer);
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async readTrust(): Promise<FrontProxyTrust> {
    const cm = await this.o.core.readNamespacedConfigMap(AUTH_CONFIGMAP);
    const trust = trustFromConfigMap(cm.data);
    if ('error' in trust) throw new Error(trust.error);
    return trust;
  }

  private scheduleRefresh(): void {
    if (this.stopped) return;
    const delay = this.trust ? (this.o.trustRefreshMs ?? 300_000) : 30_000;
    this.refreshTimer = setTimeout(() => void this.refreshTrust().then(() => this.scheduleRefresh()), delay);
    this.refreshTimer.unref();
  }

  private async refreshTrust(): Promise<void> {
    try {
      const trust = await this.readTrust();
      if (!this.trust) this.o.log.info('custom metrics: requestheader trust read', { allowedNames: trust.allowedNames });
      this.trust = trust;
      this.trustError = undefined;
      this.server?.setSecureContext({ cert: this.o.certPem, key: this.o.keyPem, ca: trust.caPem });
    } catch (err) {
      this.trustError = describeApiError(err).message;
      this.o.log.error(
        this.trust
          ? 'custom metrics: could not re-read the requestheader trust; keeping the previous one'
          : 'custom metrics: no requestheader trust; answering 503 until kube-system/extension-apiserver-authentication is readable',
        { error: this.trustError },
      );
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (!this.trust) {
        return send(res, 503, statusBody(503, `the requestheader client CA is not known: ${this.trustError ?? 'not read yet'}`));
      }
      const auth = authenticate(req.socket as TLSSocket, this.trust);
      if (!auth.ok) return send(res, auth.status, statusBody(auth.status, auth.message));
      if (req.method !== 'GET') return send(res, 405, statusBody(405, `${req.method ?? ''} is not allowed; only GET`));
      const parsed = parseRequest(req.url ?? '/');
      if (parsed.kind === 'error') return send(res, parsed.status, statusBody(parsed.status, parsed.message));
      if (parsed.kind === 'discovery') return send(res, 200, discoveryDocument());
      const listed = await this.listPods(parsed.namespace, parsed.labelSelector, parsed.pod);
      if ('error' in listed) return send(res, listed.status, statusBody(listed.status, listed.error));
      const values = await this.values(parsed.metric, listed.pods);
      send(res, 200, metricValueList(parsed.metric, values));
    } catch (err) {
      this.o.log.error('custom metrics: request failed', { error: (err as Error).message, path: (req.url ?? '').slice(0, 200) });
      if (!res.headersSent) send(res, 503, statusBody(503, 'the custom metrics server could not answer; see the operator log'));
    }
  }

  /** Runtime pods matching the selector (and the name, if one) that run and have an IP (others have no load to report). */
  private async listPods(
    namespace: string,
    labelSelector: string,
    name: string | undefined,
  ): Promise<{ pods: V1Pod[] } | { status: 400 | 503; error: string }> {
    try {
      const list = await this.o.core.listNamespacedPod({
        namespace,
        labelSelector: runtimePodSelector(labelSelector),
        fieldSelector: `status.phase=Running${name === undefined ? '' : `,metadata.name=${name}`}`,
      });
      const pods = list.items.filter((p) => !p.metadata?.deletionTimestamp && !!p.status?.podIP);
      return { pods };
    } catch (err) {
      const info = describeApiError(err);
      if (info.status === 400) return { status: 400, error: `labelSelector: ${info.message}` };
      return { status: 503, error: `listing pods failed: ${info.message}` };
    }
  }

  private async values(metric: CustomMetricName, pods: readonly V1Pod[]): Promise<PodValue[]> {
    const now = this.now();
    const stale = pods.filter((p) => {
      const last = this.history.latest(p.metadata?.uid ?? '');
      return !last || now - last.atMs >= (this.o.cacheMs ?? 2_000);
    });
    await forEachBounded(stale, this.limits.concurrency, (pod) => this.reads.run(pod.metadata?.uid ?? '', () => this.read(pod)));
    this.history.prune(now, Math.max(10 * this.windowMs, 300_000));
    const out: PodValue[] = [];
    for (const pod of pods) {
      const load = this.history.load(pod.metadata?.uid ?? '');
      const value = !load ? undefined : metric === CUSTOM_METRIC.rps ? load.rps : load.concurrency;
      if (load && value !== undefined) {
        out.push({
          namespace: pod.metadata?.namespace ?? '',
          name: pod.metadata?.name ?? '',
          value,
          windowSeconds: load.windowSeconds,
          atMs: load.atMs,
        });
      }
    }
    return out;
  }

  private async read(pod: V1Pod): Promise<void> {
    const url = metricsUrl(pod);
    if (!url) return;
    const reading = await readPod(url, this.limits);
    if (reading.ok) this.history.record(pod.metadata?.uid ?? '', { atMs: this.now(), ...reading.counters });
    else
      this.o.log.debug('custom metrics: pod not read', {
        pod: pod.metadata?.name,
        namespace: pod.metadata?.namespace,
        reason: reading.reason,
      });
  }
}

function send(res: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
