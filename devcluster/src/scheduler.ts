// kube-scheduler (clusters with a node): no leader election on one node.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { httpGet } from './http.ts';
import type { Session } from './processes.ts';

export function schedulerConfig(kubeconfigPath: string): string {
  return `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: ${JSON.stringify(kubeconfigPath)}
leaderElection:
  leaderElect: false
`;
}

export function schedulerArgs(o: { configPath: string; port: number; certDir: string }): string[] {
  return [`--config=${o.configPath}`, `--bind-address=127.0.0.1`, `--secure-port=${o.port}`, `--cert-dir=${o.certDir}`];
}

export async function startScheduler(
  session: Session,
  o: { bin: string; kubeconfigFor: (user: string) => Promise<string> },
): Promise<void> {
  const configPath = join(session.dir, 'kube-scheduler.yaml');
  await writeFile(configPath, schedulerConfig(await o.kubeconfigFor('system:kube-scheduler')));
  await session.startOnFreePorts(
    'kube-scheduler',
    o.bin,
    1,
    ([port]) => schedulerArgs({ configPath, port: port!, certDir: join(session.dir, 'scheduler-certs') }),
    async ([port]) => (await httpGet(`https://127.0.0.1:${port}/healthz`, { insecure: true })).status === 200,
  );
}
