// Dev cluster for humans: `node devcluster/src/cli.ts up|down|status`.
//   up     starts etcd + kube-apiserver + kube-controller-manager with crds/ installed, leaves them
//          running detached, records them in <cache>/dev-cluster.json, prints `export KUBECONFIG=...`
//          (if one is already running, just prints its KUBECONFIG)
//   down   stops exactly the recorded PIDs, removes the temp dir and the record
//   status prints the recorded cluster, or "not running"

import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheRoot, repoRoot } from './binaries.ts';
import { startControlPlane, stopRecordedControlPlane, type ControlPlaneState } from './controlplane.ts';
import { isOurProcess } from './processes.ts';
import { errorMessage } from './wait.ts';

const recordPath = join(cacheRoot(), 'dev-cluster.json');
const say = (line: string) => process.stderr.write(`${line}\n`);

function readRecord(): ControlPlaneState | undefined {
  if (!existsSync(recordPath)) return undefined;
  try {
    return JSON.parse(readFileSync(recordPath, 'utf8')) as ControlPlaneState;
  } catch {
    return undefined;
  }
}

const running = (s: ControlPlaneState) => s.processes.length > 0 && s.processes.every(isOurProcess);

async function down(): Promise<number> {
  const state = readRecord();
  if (!state) {
    say(`no dev cluster recorded (${recordPath})`);
    return 0;
  }
  const pids = state.processes.filter(isOurProcess).map((p) => p.pid);
  await stopRecordedControlPlane(state);
  await rm(recordPath, { force: true });
  say(pids.length > 0 ? `stopped pids ${pids.join(' ')}; removed ${state.dir}` : `removed stale record; ${state.dir} cleaned up`);
  return 0;
}

async function up(): Promise<number> {
  const existing = readRecord();
  if (existing) {
    if (running(existing)) {
      say(`dev cluster already running at ${existing.server} (pids ${existing.processes.map((p) => p.pid).join(' ')})`);
      process.stdout.write(`export KUBECONFIG=${existing.kubeconfigPath}\n`);
      return 0;
    }
    say('recorded dev cluster is not (fully) running; cleaning it up');
    await down();
  }
  const cp = await startControlPlane({
    crdDir: join(repoRoot, 'crds'),
    detached: true,
    log: (line) => say(`harness: ${line}`),
  });
  const state = JSON.parse(readFileSync(join(cp.dir, 'controlplane.json'), 'utf8')) as ControlPlaneState;
  await mkdir(cacheRoot(), { recursive: true });
  await writeFile(recordPath, `${JSON.stringify(state, null, 2)}\n`);
  say(`dev cluster running at ${cp.server} (pids ${cp.pids.join(' ')}, dir ${cp.dir}); stop it with: npm run cluster:down`);
  process.stdout.write(`export KUBECONFIG=${cp.kubeconfigPath}\n`);
  return 0;
}

function status(): number {
  const state = readRecord();
  if (!state) {
    process.stdout.write('not running\n');
    return 1;
  }
  const alive = running(state);
  process.stdout.write(
    `${alive ? 'running' : 'NOT running (stale record; run down)'} ${state.server} pids ${state.processes.map((p) => p.pid).join(' ')}\n` +
      `export KUBECONFIG=${state.kubeconfigPath}\n`,
  );
  return alive ? 0 : 1;
}

const cmd = process.argv[2];
try {
  let code: number;
  if (cmd === 'up') code = await up();
  else if (cmd === 'down') code = await down();
  else if (cmd === 'status') code = status();
  else {
    say('usage: node devcluster/src/cli.ts up|down|status');
    code = 2;
  }
  process.exit(code);
} catch (err) {
  say(`cluster ${cmd}: ${errorMessage(err)}`);
  process.exit(1);
}
