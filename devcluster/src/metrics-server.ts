// metrics-server for the e2e cluster, so the HorizontalPodAutoscaler scales on real CPU usage.
// Built from its Go module by devcluster/build/metrics-server.sh (cached, once per machine). It runs
// on the host, bound to the bridge gateway, and the API server reaches it through the aggregation
// layer: APIService v1beta1.metrics.k8s.io → selector-less Service kube-system/metrics-server →
// Endpoints at the gateway (the API server runs with --enable-aggregator-routing, so it dials the
// endpoint directly). It scrapes the kubelet's /metrics/resource at the port the Node reports.

import { join } from 'node:path';
import { repoRoot, runBuildScript } from './binaries.ts';
import type { ControlPlane } from './controlplane.ts';
import { NODE_NAME } from './kubelet.ts';
import { freePorts } from './ports.ts';
import type { Session } from './processes.ts';

export const metricsServerBuildScript = join(repoRoot, 'devcluster/build/metrics-server.sh');

/** Absolute path of metrics-server, building it if needed (build.sh serialises with flock). */
export function resolveMetricsServer(log: (line: string) => void = () => {}): Promise<string> {
  return runBuildScript(metricsServerBuildScript, 'metrics-server', log);
}

/** Scrape every 10 s (metrics-server's minimum), so the autoscaler sees load within ~20 s. */
export const METRIC_RESOLUTION = '10s';

export function metricsServerArgs(o: { kubeconfigPath: string; address: string; port: number; certDir: string }): string[] {
  return [
    `--kubeconfig=${o.kubeconfigPath}`,
    `--authentication-kubeconfig=${o.kubeconfigPath}`,
    `--authorization-kubeconfig=${o.kubeconfigPath}`,
    `--bind-address=${o.address}`,
    `--secure-port=${o.port}`,
    `--cert-dir=${o.certDir}`,
    `--metric-resolution=${METRIC_RESOLUTION}`,
    '--kubelet-request-timeout=5s',
    // the kubelet listens on a free port the harness picked and serves a self-signed certificate
    `--kubelet-use-node-status-port`,
    `--kubelet-insecure-tls`,
    `--kubelet-preferred-address-types=InternalIP`,
    `--v=1`,
  ];
}

/** The aggregation-layer objects that route metrics.k8s.io to metrics-server at address:port. */
export function metricsApiManifests(address: string, port: number): string {
  return `apiVersion: v1
kind: Service
metadata:
  name: metrics-server
  namespace: kube-system
  labels: { app.kubernetes.io/managed-by: modelship-test-harness }
spec:
  ports: [{ name: https, port: 443, protocol: TCP, targetPort: ${port} }]
---
apiVersion: v1
kind: Endpoints
metadata:
  name: metrics-server
  namespace: kube-system
  labels: { app.kubernetes.io/managed-by: modelship-test-harness }
subsets:
  - addresses: [{ ip: ${JSON.stringify(address)} }]
    ports: [{ name: https, port: ${port}, protocol: TCP }]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1beta1.metrics.k8s.io
  labels: { app.kubernetes.io/managed-by: modelship-test-harness }
spec:
  group: metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  service: { name: metrics-server, namespace: kube-system, port: 443 }
  # metrics-server serves a self-signed certificate it generates at start
  insecureSkipTLSVerify: true
`;
}

/** Starts metrics-server on address:<free port>, routes metrics.k8s.io to it, waits for node metrics. */
export async function startMetricsServer(session: Session, o: { bin: string; cp: ControlPlane; address: string }): Promise<void> {
  const [port] = await freePorts(1);
  const kubeconfigPath = await o.cp.writeKubeconfigFor('modelship-test:metrics-server', ['system:masters']);
  const args = metricsServerArgs({ kubeconfigPath, address: o.address, port: port!, certDir: join(session.dir, 'metrics-server-certs') });
  const proc = await session.spawn('metrics-server', o.bin, args);
  const applied = await o.cp.kubectl(['apply', '--server-side', '--field-manager=modelship-test-harness', '-f', '-'], {
    input: metricsApiManifests(o.address, port!),
  });
  if (applied.code !== 0) throw new Error(`applying the metrics API objects failed:\n${applied.stderr}`);
  await session.waitHealthy(proc, 'node metrics through the metrics.k8s.io API', async () => {
    const r = await o.cp.kubectl(['get', '--raw', `/apis/metrics.k8s.io/v1beta1/nodes/${NODE_NAME}`], { timeoutMs: 10_000 });
    return r.code === 0 && r.stdout.includes('"usage"');
  });
}
