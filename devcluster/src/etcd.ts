// etcd: the control plane's store, on loopback, without fsync (throwaway data).

import { join } from 'node:path';
import { httpGet } from './http.ts';
import type { Session } from './processes.ts';

export function etcdArgs(o: { dataDir: string; clientPort: number; peerPort: number }): string[] {
  const client = `http://127.0.0.1:${o.clientPort}`;
  return [
    `--name=modelship-test`,
    `--data-dir=${o.dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=http://127.0.0.1:${o.peerPort}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${o.peerPort}`,
    `--initial-cluster=modelship-test=http://127.0.0.1:${o.peerPort}`,
    `--unsafe-no-fsync=true`,
    `--log-level=warn`,
  ];
}

/** Starts etcd in the session; resolves to its client URL once /health says true. */
export async function startEtcd(session: Session, bin: string): Promise<{ url: string }> {
  const [client] = await session.startOnFreePorts(
    'etcd',
    bin,
    2,
    ([clientPort, peerPort]) => etcdArgs({ dataDir: join(session.dir, 'etcd'), clientPort: clientPort!, peerPort: peerPort! }),
    async ([clientPort]) => {
      const r = await httpGet(`http://127.0.0.1:${clientPort}/health`);
      return r.status === 200 && /"health":\s*"true"/.test(r.body);
    },
  );
  return { url: `http://127.0.0.1:${client}` };
}
