// A TCP proxy in front of the real API server that can be made unreachable on demand: the
// network fault an operator sees when its node is cut off. TLS passes through untouched.
import net from 'node:net';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export interface FaultProxy {
  /** A kubeconfig file like `kc` but with every cluster's server pointed at this proxy. */
  kubeconfig: string;
  /** From now on: open connections are cut, new ones are accepted and never answered. */
  blackhole: () => void;
  close: () => Promise<void>;
}

export async function startFaultProxy(kc: KubeConfig, name: string): Promise<FaultProxy> {
  const target = new URL(kc.getCurrentCluster()?.server as string);
  const sockets = new Set<net.Socket>();
  let blackholed = false;
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    if (blackholed) return; // accepted, never answered: requests hang until the client gives up
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const proxied = new KubeConfig();
  proxied.loadFromOptions({
    clusters: kc.clusters.map((c) => ({ ...c, server: `${target.protocol}//127.0.0.1:${port}` })),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  const file = path.join(process.env.MODELSHIP_TEST_CP_DIR ?? os.tmpdir(), `kubeconfig-proxy-${name}-${port}`);
  await writeFile(file, proxied.exportConfig(), { mode: 0o600 });

  return {
    kubeconfig: file,
    blackhole: () => {
      blackholed = true;
      for (const s of sockets) s.destroy();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
