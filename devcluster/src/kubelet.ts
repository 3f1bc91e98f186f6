// kubelet: the node (cgroup v1, cgroupfs, containerd over our socket), registered as NODE_NAME at
// the bridge's gateway address, with a client certificate of system:node:<name>.

import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ControlPlane } from './controlplane.ts';
import { GATEWAY_IP } from './network.ts';
import { freePorts } from './ports.ts';
import type { Session } from './processes.ts';

export const NODE_NAME = 'modelship-node';
/** A Service IP nothing answers on: pods get a resolv.conf when the cluster runs no DNS. */
export const CLUSTER_DNS_DUMMY = '10.0.0.10';
export const CLUSTER_DOMAIN = 'cluster.local';

export interface KubeletPaths {
  rootDir: string;
  podLogsDir: string;
  volumePluginDir: string;
  resolvConf: string;
}

/**
 * kubelet on cgroup v1 (failCgroupV1: false), cgroupfs like containerd's runc, no swap check, the
 * node's address on our bridge, the API server's CA for client certs, webhook authorization.
 * maxOpenFiles is kept at the current limit: raising rlimits is not permitted on the build VM.
 */
export function kubeletConfig(
  o: KubeletPaths & {
    containerdSocket: string;
    clientCaFile: string;
    port: number;
    healthzPort: number;
    maxOpenFiles: number;
    /** The nameserver pods get: the cluster DNS address, or CLUSTER_DNS_DUMMY without one. */
    clusterDns: string;
  },
): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: true
failSwapOn: false
containerRuntimeEndpoint: unix://${o.containerdSocket}
imageServiceEndpoint: unix://${o.containerdSocket}
address: ${GATEWAY_IP}
port: ${o.port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${o.healthzPort}
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: ${JSON.stringify(o.clientCaFile)} }
authorization:
  mode: Webhook
clusterDomain: ${CLUSTER_DOMAIN}
clusterDNS: [${o.clusterDns}]
resolvConf: ${JSON.stringify(o.resolvConf)}
podLogsDirectory: ${JSON.stringify(o.podLogsDir)}
volumePluginDir: ${JSON.stringify(o.volumePluginDir)}
maxOpenFiles: ${o.maxOpenFiles}
maxPods: 50
podPidsLimit: 1024
protectKernelDefaults: false
makeIPTablesUtilChains: false
runtimeRequestTimeout: 5m
serializeImagePulls: false
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  imagefs.available: 1%
  nodefs.inodesFree: 1%
nodeStatusUpdateFrequency: 4s
nodeStatusReportFrequency: 10s
syncFrequency: 10s
fileCheckFrequency: 20s
shutdownGracePeriod: 0s
featureGates: {}
`;
}

export function kubeletArgs(o: {
  configPath: string;
  kubeconfigPath: string;
  rootDir: string;
  certDir: string;
  containerdSocket: string;
}): string[] {
  return [
    // cAdvisor's containerd client (container stats for /metrics/resource), else /run/containerd/containerd.sock
    `--containerd=${o.containerdSocket}`,
    `--config=${o.configPath}`,
    `--kubeconfig=${o.kubeconfigPath}`,
    `--root-dir=${o.rootDir}`,
    `--cert-dir=${o.certDir}`,
    `--hostname-override=${NODE_NAME}`,
    `--node-ip=${GATEWAY_IP}`,
    `--v=1`,
  ];
}

function softNofile(): number {
  try {
    const n = Number(execFileSync('/bin/sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 1024;
  } catch {
    return 1024;
  }
}

/** Starts kubelet and waits until the node reports Ready. */
export async function startKubelet(
  session: Session,
  o: { bin: string; cp: ControlPlane; containerdSocket: string; clusterDns?: string; timeoutMs?: number },
): Promise<void> {
  const { dir } = session;
  const rootDir = join(dir, 'kubelet');
  await mkdir(rootDir, { recursive: true });
  await writeFile(join(dir, 'resolv.conf'), `nameserver ${GATEWAY_IP}\noptions ndots:1 timeout:1 attempts:1\n`);
  const [port, healthzPort] = await freePorts(2);
  const configPath = join(dir, 'kubelet.yaml');
  await writeFile(
    configPath,
    kubeletConfig({
      rootDir,
      podLogsDir: join(dir, 'pod-logs'),
      volumePluginDir: join(dir, 'volume-plugins'),
      resolvConf: join(dir, 'resolv.conf'),
      containerdSocket: o.containerdSocket,
      clientCaFile: o.cp.caCertPath,
      port: port!,
      healthzPort: healthzPort!,
      maxOpenFiles: softNofile(),
      clusterDns: o.clusterDns ?? CLUSTER_DNS_DUMMY,
    }),
  );
  const kubeconfigPath = await o.cp.writeKubeconfigFor(`system:node:${NODE_NAME}`, ['system:nodes']);
  const args = kubeletArgs({
    configPath,
    kubeconfigPath,
    rootDir,
    certDir: join(dir, 'kubelet-pki'),
    containerdSocket: o.containerdSocket,
  });
  const proc = await session.spawn('kubelet', o.bin, args);
  const jsonpath = 'jsonpath={.status.conditions[?(@.type=="Ready")].status}';
  await session.waitHealthy(
    proc,
    `node ${NODE_NAME} Ready`,
    async () => {
      const r = await o.cp.kubectl(['get', 'node', NODE_NAME, '-o', jsonpath], { timeoutMs: 10_000 });
      return r.code === 0 && r.stdout.trim() === 'True';
    },
    o.timeoutMs,
  );
}
