// The e2e cluster for a test file: the one `npm run e2e` started (MODELSHIP_TEST_CLUSTER_DIR), or a
// fresh one when a file runs alone (`node --test test/e2e/x.test.ts`). Sets KUBECONFIG for clients().
import { startCluster, type ClusterInfo } from './cluster.ts';
import { readSessionState } from './processes.ts';

export interface E2eCluster {
  kubeconfigPath: string;
  /** Admin client certificate / key / CA (PEM paths) for raw HTTPS calls to the API server. */
  server: string;
  cpDir: string;
  runtimeImage: string;
  operatorImage: string;
  modelServerUrl: string;
  stop(): Promise<void>;
}

export async function getE2eCluster(): Promise<E2eCluster> {
  const dir = process.env.MODELSHIP_TEST_CLUSTER_DIR;
  let result: E2eCluster;
  if (dir) {
    const s = readSessionState<ClusterInfo>(dir);
    if (!s?.kubeconfigPath || !s.server || !s.runtimeImage || !s.operatorImage || !s.modelServerUrl) {
      throw new Error(`MODELSHIP_TEST_CLUSTER_DIR=${dir} holds no started cluster`);
    }
    result = {
      kubeconfigPath: s.kubeconfigPath,
      server: s.server,
      cpDir: s.dir,
      runtimeImage: s.runtimeImage,
      operatorImage: s.operatorImage,
      modelServerUrl: s.modelServerUrl,
      stop: async () => {},
    };
  } else {
    const c = await startCluster({ log: (l) => process.stderr.write(`cluster: ${l}\n`) });
    result = {
      kubeconfigPath: c.kubeconfigPath,
      server: c.server,
      cpDir: c.cp.dir,
      runtimeImage: c.runtimeImage,
      operatorImage: c.operatorImage,
      modelServerUrl: c.modelServerUrl,
      stop: () => c.stop(),
    };
  }
  process.env.KUBECONFIG = result.kubeconfigPath;
  return result;
}
