// A Gateway API implementation for the dev cluster: Traefik v3 with its kubernetesGateway provider,
// built from its Go module by devcluster/build/traefik.sh (cached, once per machine), run as a host
// process against the cluster's API server (like CoreDNS). It reaches the pods by their IPs (the
// host routes the pod CIDR over the bridge), so an HTTPRoute's weighted backendRefs are served by
// Traefik's own weighted round robin, not by kube-proxy. Also installs the standard-channel Gateway
// API CRDs (sigs.k8s.io/gateway-api, copied from its Go module by the same script), a GatewayClass
// and a Gateway whose HTTP listener is a free port on the given address.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot, runBuildScript } from './binaries.ts';
import { installCrds, type ControlPlane } from './controlplane.ts';
import { freePorts } from './ports.ts';
import { assertRunning, spawnStandalone, stopProcs, tail, type Proc } from './processes.ts';
import { waitFor } from './wait.ts';

export const traefikBuildScript = join(repoRoot, 'devcluster/build/traefik.sh');
/** Traefik's controllerName (pkg/provider/kubernetes/gateway). */
export const TRAEFIK_CONTROLLER = 'traefik.io/gateway-controller';
export const GATEWAY_CLASS = 'modelship-traefik';

/** Absolute path of traefik, building it if needed (several minutes the first time; traefik.sh serialises with flock). */
export function resolveTraefik(log: (line: string) => void = () => {}): Promise<string> {
  return runBuildScript(traefikBuildScript, 'traefik', log);
}

/** The directory of the standard-channel Gateway API CRD manifests (seconds; no Traefik build). */
export function gatewayApiCrdDir(log: (line: string) => void = () => {}): Promise<string> {
  return runBuildScript(traefikBuildScript, '', log, ['--crds-only']);
}

/** Installs the Gateway API CRDs (server-side apply) and waits until they are Established. */
export async function installGatewayApiCrds(cp: Pick<ControlPlane, 'kubectl'>, log: (line: string) => void = () => {}): Promise<void> {
  await installCrds(cp as ControlPlane, await gatewayApiCrdDir(log), log);
}

/** The GatewayClass and the Gateway: one HTTP listener on `port`, routes from every namespace. */
export function gatewayManifests(namespace: string, name: string, port: number): object[] {
  return [
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'GatewayClass',
      metadata: { name: GATEWAY_CLASS },
      spec: { controllerName: TRAEFIK_CONTROLLER },
    },
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name, namespace },
      spec: {
        gatewayClassName: GATEWAY_CLASS,
        listeners: [{ name: 'http', protocol: 'HTTP', port, allowedRoutes: { namespaces: { from: 'All' } } }],
      },
    },
  ];
}

/**
 * Traefik's command line: one entry point per listener port (Traefik binds a Gateway listener to
 * the entry point with the same port), ping on a second one for readiness, no outbound calls.
 */
export function traefikArgs(o: { address: string; port: number; pingPort: number }): string[] {
  return [
    `--entryPoints.web.address=${o.address}:${o.port}`,
    `--entryPoints.ping.address=127.0.0.1:${o.pingPort}`,
    '--ping=true',
    '--ping.entryPoint=ping',
    '--providers.kubernetesgateway=true',
    // react to an HTTPRoute change within half a second (default 2 s)
    '--providers.kubernetesgateway.throttleDuration=500ms',
    '--global.checkNewVersion=false',
    '--global.sendAnonymousUsage=false',
    '--log.level=INFO',
  ];
}

export interface GatewayOptions {
  /** Admin kubectl and kubeconfig of the cluster (Traefik reads KUBECONFIG). */
  cp: Pick<ControlPlane, 'kubectl' | 'kubeconfigPath'>;
  /** Where the log goes (unless `spawn` is given). */
  dir: string;
  /** Namespace of the Gateway (must exist). */
  namespace: string;
  name?: string;
  /** Address the listener binds on the host (default 127.0.0.1). */
  address?: string;
  /** traefik binary (default: resolveTraefik(), which builds it once per machine). */
  bin?: string;
  log?: (line: string) => void;
  timeoutMs?: number;
  /** As for CoreDNS: a composition's session spawns (records, stops, reaps) the process. */
  spawn?: (name: string, bin: string, args: string[], env: NodeJS.ProcessEnv) => Promise<Proc>;
}

export interface Gateway {
  proc: Proc;
  /** http://<address>:<port>: the Gateway's HTTP listener. */
  url: string;
  /** For spec.rollout.httpRoute.parentRefs. */
  parentRef: { name: string; namespace: string };
  stop(): Promise<void>;
}

interface GatewayStatus {
  status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> };
}

/**
 * Installs the CRDs, the GatewayClass and the Gateway, starts Traefik, and returns once the
 * Gateway is Programmed (Traefik accepted it and bound the listener) and Traefik answers its ping.
 */
export async function startGateway(o: GatewayOptions): Promise<Gateway> {
  const log = o.log ?? (() => {});
  const started = Date.now();
  const name = o.name ?? 'modelship-gateway';
  const address = o.address ?? '127.0.0.1';
  const bin = o.bin ?? (await resolveTraefik(log));
  await installGatewayApiCrds(o.cp, log);
  const [port, pingPort] = (await freePorts(2)) as [number, number];
  const manifestPath = join(o.dir, `gateway-${name}.json`);
  await writeFile(manifestPath, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: gatewayManifests(o.namespace, name, port) }));
  const applied = await o.cp.kubectl(['apply', '--server-side', '--field-manager=modelship-test-harness', '-f', manifestPath]);
  if (applied.code !== 0) throw new Error(`cannot apply the GatewayClass and Gateway:\n${applied.stderr}${applied.stdout}`);

  const args = traefikArgs({ address, port, pingPort });
  const env = { ...process.env, KUBECONFIG: o.cp.kubeconfigPath };
  let proc: Proc;
  let stopProc: () => Promise<void>;
  if (o.spawn) {
    proc = await o.spawn('traefik', bin, args, env);
    stopProc = () => stopProcs([proc]);
  } else {
    ({ proc, stop: stopProc } = spawnStandalone('traefik', bin, args, join(o.dir, 'traefik.log'), { env }));
  }
  const stop = async () => {
    await stopProc();
    await o.cp.kubectl(['delete', '--ignore-not-found', '--wait=false', '-f', manifestPath]).catch(() => undefined);
  };

  try {
    await waitFor(
      async () => {
        assertRunning(proc);
        const ping = await fetch(`http://127.0.0.1:${pingPort}/ping`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
        if (ping?.status !== 200) return false;
        const got = await o.cp.kubectl(['get', 'gateway', '-n', o.namespace, name, '-o', 'json']);
        if (got.code !== 0) return false;
        const gw = JSON.parse(got.stdout) as GatewayStatus;
        return gw.status?.conditions?.some((x) => x.type === 'Programmed' && x.status === 'True') ?? false;
      },
      { timeoutMs: o.timeoutMs ?? 60_000, intervalMs: 500, description: `Gateway ${o.namespace}/${name} Programmed by Traefik` },
    );
  } catch (err) {
    const logText = await tail(proc.logPath);
    await stop().catch(() => {});
    throw new Error(`${(err as Error).message}\n${proc.logPath} ends with:\n${logText}`, { cause: err });
  }
  log(
    `traefik serving Gateway ${o.namespace}/${name} on ${address}:${port} in ${((Date.now() - started) / 1000).toFixed(1)}s (pid ${proc.pid})`,
  );
  return { proc, url: `http://${address}:${port}`, parentRef: { name, namespace: o.namespace }, stop };
}
