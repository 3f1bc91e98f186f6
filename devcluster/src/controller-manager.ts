// kube-controller-manager: the garbage collector, Deployment / ReplicaSet and the other default
// controllers, acting as one user (system:kube-controller-manager) bound to cluster-admin.

import { join } from 'node:path';
import { httpCall, httpGet, type Tls } from './http.ts';
import { SERVICE_CLUSTER_IP_RANGE } from './kube-apiserver.ts';
import type { Pki } from './pki.ts';
import type { Session } from './processes.ts';

/**
 * With a real node, the HorizontalPodAutoscaler is tuned for test speed (defaults in brackets):
 * evaluate every 5 s (15 s), scale down after 20 s without a higher recommendation (5 min), and count
 * a new pod's CPU after 15 s (5 min initialization period, 30 s readiness delay).
 */
export const FAST_HPA_ARGS = [
  '--horizontal-pod-autoscaler-sync-period=5s',
  '--horizontal-pod-autoscaler-downscale-stabilization=20s',
  '--horizontal-pod-autoscaler-cpu-initialization-period=15s',
  '--horizontal-pod-autoscaler-initial-readiness-delay=5s',
];

export function controllerManagerArgs(o: { kubeconfigPath: string; port: number; pki: Pki; certDir: string; fastHpa?: boolean }): string[] {
  return [
    ...(o.fastHpa ? FAST_HPA_ARGS : []),
    `--kubeconfig=${o.kubeconfigPath}`,
    `--leader-elect=false`,
    `--controllers=*`,
    `--use-service-account-credentials=false`,
    `--service-account-private-key-file=${o.pki.serviceAccount.key}`,
    `--root-ca-file=${o.pki.ca.cert}`,
    `--cluster-signing-cert-file=${o.pki.ca.cert}`,
    `--cluster-signing-key-file=${o.pki.ca.key}`,
    `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
    `--bind-address=127.0.0.1`,
    `--secure-port=${o.port}`,
    `--cert-dir=${o.certDir}`,
  ];
}

/** The binding that lets the single controller-manager user do what every controller needs. */
export const CONTROLLER_MANAGER_BINDING = {
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRoleBinding',
  metadata: { name: 'modelship-test:kube-controller-manager' },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
  subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'system:kube-controller-manager' }],
};

export async function startControllerManager(
  session: Session,
  o: { bin: string; server: string; adminTls: Tls; pki: Pki; kubeconfigFor: (user: string) => Promise<string>; fastHpa: boolean },
): Promise<void> {
  // With --use-service-account-credentials=false every controller acts as this one user, whose
  // bootstrap role is meant for the shared informers only: give it cluster-admin, like the
  // per-controller service accounts have together.
  const binding = await httpCall(
    'POST',
    `${o.server}/apis/rbac.authorization.k8s.io/v1/clusterrolebindings`,
    o.adminTls,
    CONTROLLER_MANAGER_BINDING,
  );
  if (binding.status !== 201) throw new Error(`creating the controller-manager binding failed: ${binding.status} ${binding.body}`);
  const kubeconfigPath = await o.kubeconfigFor('system:kube-controller-manager');
  await session.startOnFreePorts(
    'kube-controller-manager',
    o.bin,
    1,
    ([port]) =>
      controllerManagerArgs({ kubeconfigPath, port: port!, pki: o.pki, certDir: join(session.dir, 'kcm-certs'), fastHpa: o.fastHpa }),
    async ([port]) => (await httpGet(`https://127.0.0.1:${port}/healthz`, { insecure: true })).status === 200,
  );
}
