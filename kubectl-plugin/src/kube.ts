// The I/O shell towards the API server: kubeconfig resolution as kubectl does it, and the few
// calls the commands make. Every failure becomes a one-line CliError.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  HttpMethod,
  KubeConfig,
  Log,
  PatchStrategy,
  RequestContext,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node';
import { request } from 'undici';
import type { GlobalOptions } from './args.ts';
import { CliError, ConflictError } from './errors.ts';
import { MD_GROUP, MD_PLURAL, MD_VERSION, type ModelDeployment } from './types.ts';

export interface Target {
  kc: KubeConfig;
  namespace: string;
  server: string;
}

/**
 * --kubeconfig, else $KUBECONFIG (a list of files, merged), else ~/.kube/config, else in-cluster;
 * --context, else the current context; -n, else the context's namespace, else "default".
 */
export function resolveTarget(g: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Target {
  const kc = new KubeConfig();
  try {
    if (g.kubeconfig !== undefined) {
      if (!existsSync(g.kubeconfig)) throw new CliError(`--kubeconfig ${g.kubeconfig}: no such file`);
      kc.loadFromFile(g.kubeconfig);
    } else {
      const fromEnv = (env.KUBECONFIG ?? '').split(':').filter(Boolean);
      const missing = fromEnv.filter((f) => !existsSync(f));
      if (fromEnv.length > 0 && missing.length === fromEnv.length) throw new CliError(`KUBECONFIG=${env.KUBECONFIG}: no such file`);
      const inCluster = existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token') && env.KUBERNETES_SERVICE_HOST;
      if (fromEnv.length === 0 && !existsSync(join(homedir(), '.kube', 'config')) && !inCluster)
        throw new CliError('no kubeconfig: pass --kubeconfig, set KUBECONFIG or write ~/.kube/config');
      kc.loadFromDefault();
    }
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`cannot load the kubeconfig: ${(err as Error).message.split('\n')[0]}`);
  }
  if (g.context !== undefined) {
    if (!kc.getContextObject(g.context))
      throw new CliError(
        `context ${JSON.stringify(g.context)} is not in the kubeconfig (contexts: ${
          kc
            .getContexts()
            .map((c) => c.name)
            .join(', ') || 'none'
        })`,
      );
    kc.setCurrentContext(g.context);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server)
    throw new CliError(`the kubeconfig's context ${JSON.stringify(kc.getCurrentContext())} names no cluster with a server`);
  if (g.as !== undefined) {
    const user = kc.getCurrentUser();
    if (!user) throw new CliError('--as needs a user in the current context');
    kc.users = kc.users.map((u) => (u === user ? { ...u, impersonateUser: g.as } : u));
  }
  const namespace = g.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  return { kc, namespace, server: cluster.server.replace(/\/+$/, '') };
}

/** The API server's Status message of a failed call, or the network error, as one line. */
export function describeApiError(err: unknown, server: string): string {
  if (err instanceof ApiException) {
    const body = err.body as unknown;
    let message: string | undefined;
    if (typeof body === 'string') {
      try {
        message = (JSON.parse(body) as { message?: string }).message;
      } catch {
        message = body.trim() || undefined;
      }
    } else if (body && typeof body === 'object') message = (body as { message?: string }).message;
    return message ?? `HTTP ${err.code} from the API server`;
  }
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  const code = e.cause?.code;
  if (code) return `cannot reach the API server at ${server}: ${code}${e.cause?.message ? ` (${e.cause.message})` : ''}`;
  return (e.message ?? String(err)).split('\n')[0] ?? String(err);
}

export interface ProxyResponse {
  status: number;
  contentType: string | undefined;
  body: string;
}

export class ModelshipApi {
  readonly target: Target;
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;

  constructor(target: Target) {
    this.target = target;
    this.custom = target.kc.makeApiClient(CustomObjectsApi);
    this.core = target.kc.makeApiClient(CoreV1Api);
  }

  get namespace(): string {
    return this.target.namespace;
  }

  /** Throws the API server's answer as one line; a 404 of the ModelDeployment `md` says which one in which namespace. */
  private fail(err: unknown, md?: string): never {
    if (md !== undefined && err instanceof ApiException && err.code === 404)
      throw new CliError(`modeldeployment.modelship.dev "${md}" not found in namespace "${this.namespace}"`);
    throw new CliError(describeApiError(err, this.target.server));
  }

  async getMd(name: string): Promise<ModelDeployment> {
    try {
      return (await this.custom.getNamespacedCustomObject({
        group: MD_GROUP,
        version: MD_VERSION,
        plural: MD_PLURAL,
        namespace: this.namespace,
        name,
      })) as ModelDeployment;
    } catch (err) {
      this.fail(err, name);
    }
  }

  /** JSON merge patch of the ModelDeployment (a patch carrying metadata.resourceVersion fails with 409 if it changed). */
  async patchMd(name: string, patch: Record<string, unknown>): Promise<ModelDeployment> {
    try {
      return (await this.custom.patchNamespacedCustomObject(
        {
          group: MD_GROUP,
          version: MD_VERSION,
          plural: MD_PLURAL,
          namespace: this.namespace,
          name,
          body: patch,
          fieldManager: 'kubectl-modelship',
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )) as ModelDeployment;
    } catch (err) {
      if (err instanceof ApiException && err.code === 409)
        throw new ConflictError(`${name} changed while this command ran (someone else wrote it): nothing changed, run the command again`);
      this.fail(err, name);
    }
  }

  async listPods(name: string, version: string | undefined): Promise<V1Pod[]> {
    const selector = `app.kubernetes.io/instance=${name}${version !== undefined ? `,modelship.dev/model-version=${version}` : ''}`;
    try {
      return (await this.core.listNamespacedPod({ namespace: this.namespace, labelSelector: selector })).items;
    } catch (err) {
      this.fail(err);
    }
  }

  async podLog(pod: string, container: string, tail: number | undefined): Promise<string> {
    try {
      return await this.core.readNamespacedPodLog({
        namespace: this.namespace,
        name: pod,
        container,
        ...(tail !== undefined ? { tailLines: tail } : {}),
      });
    } catch (err) {
      this.fail(err);
    }
  }

  /** Streams a pod's log into `out` until the pod's container ends or `signal` aborts. */
  async followPodLog(pod: string, container: string, tail: number | undefined, out: Writable): Promise<AbortController> {
    try {
      return await new Log(this.target.kc).log(this.namespace, pod, container, out, {
        follow: true,
        ...(tail !== undefined ? { tailLines: tail } : {}),
      });
    } catch (err) {
      this.fail(err);
    }
  }

  /**
   * A request to the Service through the API server's service proxy (RBAC: services/proxy); `https`
   * when the model serves TLS (the API server then speaks HTTPS to the pod; it presents no client
   * certificate, so a model with mTLS cannot be called this way).
   */
  async serviceProxy(
    service: string,
    port: string,
    method: 'GET' | 'POST',
    path: string,
    body?: string,
    scheme: 'http' | 'https' = 'http',
  ): Promise<ProxyResponse> {
    const url = `${this.target.server}${serviceProxyPath(this.namespace, service, port, scheme)}${path}`;
    const ctx = new RequestContext(url, method === 'GET' ? HttpMethod.GET : HttpMethod.POST);
    await this.target.kc.applySecurityAuthentication(ctx);
    const headers: Record<string, string> = { ...ctx.getHeaders(), accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      const res = await request(ctx.getUrl(), {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        dispatcher: ctx.getDispatcher() as never,
        headersTimeout: 60_000,
        bodyTimeout: 60_000,
      });
      const text = await res.body.text();
      const ct = res.headers['content-type'];
      return { status: res.statusCode, contentType: Array.isArray(ct) ? ct[0] : ct, body: text };
    } catch (err) {
      throw new CliError(describeApiError(err, this.target.server));
    }
  }
}

/** The API server's service-proxy path; the `https:` prefix makes it speak HTTPS to the endpoints. */
export function serviceProxyPath(namespace: string, service: string, port: string, scheme: 'http' | 'https'): string {
  const target = `${scheme === 'https' ? 'https:' : ''}${encodeURIComponent(service)}:${port}`;
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${target}/proxy`;
}
