// The single-node e2e cluster for humans: `node devcluster/src/cluster-cli.ts up|down|status|smoke`.
//   up      start it detached (processes outlive this command), print `export KUBECONFIG=...`
//   down    stop the recorded cluster and remove everything it created
//   status  print the recorded cluster, or "not running"
//   smoke   start, print the node, stop (checks the machine can run it)

import { recordedClusterDir, startCluster, stopRecordedCluster, type ClusterState } from './cluster.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isOurProcess } from './processes.ts';
import { errorMessage } from './wait.ts';

const say = (line: string) => process.stderr.write(`${line}\n`);

function recorded(): ClusterState | undefined {
  const dir = recordedClusterDir();
  if (!dir) return undefined;
  try {
    return JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

export async function clusterUp(): Promise<ClusterState> {
  const existing = recorded();
  if (existing?.detached && existing.processes.length > 0 && existing.processes.every(isOurProcess)) {
    say(`cluster already running (dir ${existing.dir})`);
    return existing;
  }
  const c = await startCluster({ detached: true, log: (l) => say(`cluster: ${l}`) });
  return JSON.parse(readFileSync(join(c.dir, 'cluster.json'), 'utf8')) as ClusterState;
}

export async function clusterDown(): Promise<boolean> {
  const dir = recordedClusterDir();
  if (!dir) return false;
  await stopRecordedCluster(dir, (l) => say(`cluster: ${l}`));
  return true;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const cmd = process.argv[2];
  try {
    if (cmd === 'up') {
      const s = await clusterUp();
      process.stdout.write(`export KUBECONFIG=${s.kubeconfigPath}\n`);
    } else if (cmd === 'down') {
      say((await clusterDown()) ? 'cluster stopped' : 'no cluster recorded');
    } else if (cmd === 'status') {
      const s = recorded();
      if (!s) {
        process.stdout.write('not running\n');
        process.exitCode = 1;
      } else {
        const alive = s.processes.every(isOurProcess);
        process.stdout.write(
          `${alive ? 'running' : 'NOT fully running'} ${s.server} dir ${s.dir}\nexport KUBECONFIG=${s.kubeconfigPath}\n`,
        );
      }
    } else if (cmd === 'smoke') {
      const c = await startCluster({ log: (l) => say(`cluster: ${l}`) });
      const nodes = await c.kubectl(['get', 'nodes', '-o', 'wide']);
      process.stdout.write(nodes.stdout);
      await c.stop();
    } else {
      say('usage: node devcluster/src/cluster-cli.ts up|down|status|smoke');
      process.exitCode = 2;
    }
  } catch (err) {
    say(`cluster ${cmd}: ${errorMessage(err)}`);
    process.exitCode = 1;
  }
}
