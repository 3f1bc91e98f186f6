// kube-proxy (iptables mode): Services' ClusterIPs on the node.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ControlPlane } from './controlplane.ts';
import { httpGet } from './http.ts';
import { NODE_NAME } from './kubelet.ts';
import { POD_CIDR } from './network.ts';
import { freePorts } from './ports.ts';
import type { Session } from './processes.ts';

export function kubeProxyConfig(o: { kubeconfigPath: string; healthzPort: number; metricsPort: number }): string {
  return `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: ${JSON.stringify(o.kubeconfigPath)}
hostnameOverride: ${NODE_NAME}
mode: iptables
clusterCIDR: ${POD_CIDR}
detectLocalMode: ClusterCIDR
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:${o.healthzPort}
metricsBindAddress: 127.0.0.1:${o.metricsPort}
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
iptables:
  localhostNodePorts: false
  syncPeriod: 30s
  minSyncPeriod: 0s
`;
}

export async function startKubeProxy(session: Session, o: { bin: string; cp: ControlPlane }): Promise<void> {
  const [healthzPort, metricsPort] = await freePorts(2);
  const configPath = join(session.dir, 'kube-proxy.yaml');
  const kubeconfigPath = await o.cp.writeKubeconfigFor('system:kube-proxy', []);
  await writeFile(configPath, kubeProxyConfig({ kubeconfigPath, healthzPort: healthzPort!, metricsPort: metricsPort! }));
  const proc = await session.spawn('kube-proxy', o.bin, [`--config=${configPath}`, '--v=1']);
  await session.waitHealthy(proc, 'kube-proxy', async () => (await httpGet(`http://127.0.0.1:${healthzPort}/healthz`)).status === 200);
}
