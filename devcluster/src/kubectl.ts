// kubectl as a child process (killed on exit), and kubeconfig files for the dev cluster's users.

import { createHash } from 'node:crypto';
import { runCaptured, type CommandResult } from './processes.ts';

export type { CommandResult as KubectlResult } from './processes.ts';

export interface KubectlOptions {
  input?: string;
  /** Run as this user (client certificate issued on demand) instead of admin (system:masters). */
  user?: { name: string; groups?: string[] };
  /** Default 120 s; the kubectl process is killed after that. */
  timeoutMs?: number;
}

export function runKubectl(
  kubectlBin: string,
  kubeconfig: string,
  cacheDir: string,
  args: string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  return runCaptured(kubectlBin, [`--kubeconfig=${kubeconfig}`, ...args], {
    env: { ...process.env, KUBECACHEDIR: cacheDir },
    ...opts,
  });
}

export function renderKubeconfig(o: { server: string; caPem: string; certPem: string; keyPem: string; user: string }): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const user = JSON.stringify(o.user);
  return `apiVersion: v1
kind: Config
clusters:
  - name: modelship-test
    cluster:
      server: ${o.server}
      certificate-authority-data: ${b64(o.caPem)}
users:
  - name: ${user}
    user:
      client-certificate-data: ${b64(o.certPem)}
      client-key-data: ${b64(o.keyPem)}
contexts:
  - name: modelship-test
    context:
      cluster: modelship-test
      user: ${user}
      namespace: default
current-context: modelship-test
`;
}

/** File-name-safe, collision-free base name for a user's cert and kubeconfig. */
export function userFileBase(user: string, groups: readonly string[]): string {
  const hash = createHash('sha256')
    .update(JSON.stringify([user, [...groups]]))
    .digest('hex')
    .slice(0, 10);
  const safe = user.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40);
  return `user-${safe}-${hash}`;
}
