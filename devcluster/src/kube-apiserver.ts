// kube-apiserver: RBAC, client-certificate auth, an audit log of writes (JSON lines, Metadata level).
// With nodes: Node,RBAC authorization with NodeRestriction, a client certificate towards kubelets
// and the aggregation layer's front-proxy certificate (metrics-server).
// Flags follow envtest (reference/local-cluster.md §2) and hack/local-up-cluster.sh (§6).

import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { httpGet, type Tls } from './http.ts';
import { renderKubeconfig } from './kubectl.ts';
import { issueClientCert, type CertPair, type Pki } from './pki.ts';
import {
  isAlive,
  isOurProcess,
  readSessionState,
  replaceRecordedProcess,
  spawnLogged,
  stopProcs,
  tail,
  type Session,
} from './processes.ts';
import { sleep, waitFor } from './wait.ts';

/** A /16 so 1,000 ModelDeployments (one Service each) fit with room to spare; a /24 holds 254. */
export const SERVICE_CLUSTER_IP_RANGE = '10.0.0.0/16';
export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

/** Metadata for writes, nothing else: the log is a count of write requests per user. */
export const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
  - level: None
`;

export function apiserverArgs(o: {
  etcdUrl: string;
  port: number;
  pki: Pki;
  certDir: string;
  auditPolicyPath: string;
  auditLogPath: string;
  /** withNodes: the API server's client certificate towards kubelets. */
  kubeletClient?: CertPair;
  /** The aggregation layer's client certificate towards extension API servers (metrics-server, the operator). */
  frontProxyClient?: CertPair;
  address?: string;
}): string[] {
  const address = o.address ?? '127.0.0.1';
  const aggregation = o.frontProxyClient
    ? [
        `--requestheader-client-ca-file=${o.pki.ca.cert}`,
        `--requestheader-allowed-names=front-proxy-client`,
        `--requestheader-username-headers=X-Remote-User`,
        `--requestheader-group-headers=X-Remote-Group`,
        `--requestheader-extra-headers-prefix=X-Remote-Extra-`,
        `--proxy-client-cert-file=${o.frontProxyClient.cert}`,
        `--proxy-client-key-file=${o.frontProxyClient.key}`,
        // extension API servers run on the host, behind a selector-less Service: dial the endpoint
        `--enable-aggregator-routing=true`,
      ]
    : [];
  const nodes = o.kubeletClient
    ? [
        `--authorization-mode=Node,RBAC`,
        `--enable-admission-plugins=NodeRestriction`,
        `--kubelet-client-certificate=${o.kubeletClient.cert}`,
        `--kubelet-client-key=${o.kubeletClient.key}`,
        // logs / exec / port-forward: dial the kubelet at the address it registers (--node-ip, the
        // bridge's gateway); the default tries Hostname first, a name nothing here resolves
        `--kubelet-preferred-address-types=InternalIP,Hostname`,
      ]
    : [`--authorization-mode=RBAC`, `--disable-admission-plugins=ServiceAccount`];
  return [
    `--etcd-servers=${o.etcdUrl}`,
    `--bind-address=${address}`,
    `--advertise-address=${address}`,
    `--secure-port=${o.port}`,
    `--cert-dir=${o.certDir}`,
    `--tls-cert-file=${o.pki.serving.cert}`,
    `--tls-private-key-file=${o.pki.serving.key}`,
    `--client-ca-file=${o.pki.ca.cert}`,
    ...nodes,
    ...aggregation,
    `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
    `--allow-privileged=true`,
    `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
    `--service-account-key-file=${o.pki.serviceAccount.pub}`,
    `--service-account-signing-key-file=${o.pki.serviceAccount.key}`,
    `--audit-policy-file=${o.auditPolicyPath}`,
    `--audit-log-path=${o.auditLogPath}`,
    `--audit-log-format=json`,
    `--audit-log-mode=blocking`,
  ];
}

export interface ApiServer {
  /** https://<address>:<port> */
  server: string;
  /** Admin (O=system:masters) client-cert kubeconfig, CA embedded. */
  kubeconfigPath: string;
  auditLogPath: string;
  /** Admin credentials for raw HTTPS calls. */
  adminTls: Tls;
}

/**
 * Starts kube-apiserver in the session on `address` (default 127.0.0.1); resolves once /readyz
 * answers and the default namespace exists, with the admin kubeconfig written.
 */
export async function startApiServer(
  session: Session,
  o: { bin: string; etcdUrl: string; pki: Pki; address: string; withNodes: boolean },
): Promise<ApiServer> {
  const { dir } = session;
  const auditPolicyPath = join(dir, 'audit-policy.yaml');
  const auditLogPath = join(dir, 'audit.log');
  const pkiDir = o.pki.dir;
  // the aggregation layer is on in every control plane, so integration tests can register extension
  // API servers (the operator's custom.metrics.k8s.io) as e2e does (metrics-server)
  const [, kubeletClient, frontProxyClient, caPem, certPem, keyPem] = await Promise.all([
    writeFile(auditPolicyPath, AUDIT_POLICY),
    o.withNodes
      ? issueClientCert(pkiDir, o.pki.ca, 'apiserver-kubelet-client', 'kube-apiserver-kubelet-client', ['system:masters'])
      : undefined,
    issueClientCert(pkiDir, o.pki.ca, 'front-proxy-client', 'front-proxy-client', []),
    ...[o.pki.ca.cert, o.pki.admin.cert, o.pki.admin.key].map((f) => readFile(f, 'utf8')),
  ]);
  const adminTls: Tls = { ca: Buffer.from(caPem!), cert: Buffer.from(certPem!), key: Buffer.from(keyPem!) };
  const [port] = await session.startOnFreePorts(
    'kube-apiserver',
    o.bin,
    1,
    ([p]) =>
      apiserverArgs({
        etcdUrl: o.etcdUrl,
        port: p!,
        pki: o.pki,
        certDir: join(dir, 'apiserver-certs'),
        auditPolicyPath,
        auditLogPath,
        address: o.address,
        ...(kubeletClient ? { kubeletClient } : {}),
        frontProxyClient,
      }),
    async ([p]) => (await httpGet(`https://${o.address}:${p}/readyz`, adminTls)).status === 200,
  );
  const server = `https://${o.address}:${port}`;
  const kubeconfigPath = join(dir, 'kubeconfig');
  await writeFile(kubeconfigPath, renderKubeconfig({ server, caPem: caPem!, certPem: certPem!, keyPem: keyPem!, user: 'admin' }), {
    mode: 0o600,
  });
  await waitFor(async () => (await httpGet(`${server}/api/v1/namespaces/default`, adminTls)).status === 200, {
    timeoutMs: session.timeoutMs,
    description: 'the default namespace',
  });
  return { server, kubeconfigPath, auditLogPath, adminTls };
}

/**
 * Fault injection (e2e fault tests): stops the dev cluster's kube-apiserver (SIGTERM, SIGKILL
 * after `graceMs`, default 10 s: with clients' watches open its own graceful shutdown waits 60 s
 * for them) and starts it again with the same command line, from any process attached to
 * `dir`. The new PID replaces the old one in the state file, where the owner's stop() finds it.
 * Resolves once /readyz answers 200; returns how long stopping, starting and the whole outage took.
 */
export async function restartApiserver(
  dir: string,
  opts: { downMs?: number; graceMs?: number; timeoutMs?: number } = {},
): Promise<{ oldPid: number; newPid: number; stopMs: number; startMs: number; downMs: number }> {
  const state = readSessionState<{ server: string }>(dir);
  const old = state?.processes.find((p) => p.name === 'kube-apiserver' && isOurProcess(p));
  if (!state?.server || !old) throw new Error(`no running kube-apiserver recorded in ${dir}`);
  const args = readFileSync(`/proc/${old.pid}/cmdline`, 'utf8').split('\0').slice(1, -1);
  const stoppedAt = Date.now();
  await stopProcs([old], opts.graceMs ?? 10_000);
  if (isAlive(old.pid)) throw new Error(`kube-apiserver (pid ${old.pid}) did not stop`);
  const stopMs = Date.now() - stoppedAt;
  if (opts.downMs) await sleep(opts.downMs);
  const startedAt = Date.now();
  const proc = spawnLogged(old.name, old.bin, args, old.logPath, { detached: true });
  await replaceRecordedProcess(dir, old.pid, proc);
  const pki = join(dir, 'pki');
  const tls: Tls = {
    ca: readFileSync(join(pki, 'ca.crt')),
    cert: readFileSync(join(pki, 'admin.crt')),
    key: readFileSync(join(pki, 'admin.key')),
  };
  const server = state.server;
  await waitFor(
    async () => {
      if (!isAlive(proc.pid)) throw new Error(`the restarted kube-apiserver exited; ${old.logPath} ends with:\n${await tail(old.logPath)}`);
      return (await httpGet(`${server}/readyz`, tls)).status === 200;
    },
    { timeoutMs: opts.timeoutMs ?? 60_000, intervalMs: 100, description: 'the restarted kube-apiserver to become ready' },
  );
  return { oldPid: old.pid, newPid: proc.pid, stopMs, startMs: Date.now() - startedAt, downMs: Date.now() - stoppedAt };
}
