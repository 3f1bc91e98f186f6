// `npm run cluster:status`: what it prints for a recorded control plane, a recorded node cluster,
// a stale record and no record (the exit code follows `running`).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statusLines, type RecordedState } from '@modelship/devcluster/cli';
import { CLUSTER_DIR_PREFIX } from '@modelship/devcluster/cluster';
import { DIR_PREFIX } from '@modelship/devcluster/controlplane';

const me = { name: 'node', bin: process.execPath, pid: process.pid, logPath: '/dev/null' };
const state = (kind: string, processes = [me]): RecordedState => ({
  version: 2,
  kind,
  ownerPid: process.pid,
  detached: true,
  dir: '/tmp/x',
  processes,
  server: 'https://10.244.0.1:6443',
  kubeconfigPath: '/tmp/x/kubeconfig',
});

describe('cluster CLI status', () => {
  it('a running control plane: kind, server, processes by name and the KUBECONFIG line', () => {
    const { lines, running } = statusLines(state(DIR_PREFIX));
    assert.equal(running, true);
    assert.equal(lines[0], 'running: control-plane at https://10.244.0.1:6443 (dir /tmp/x)');
    assert.equal(lines[1], `processes: node=${process.pid}`);
    assert.equal(lines[2], 'export KUBECONFIG=/tmp/x/kubeconfig');
  });

  it('a full node is reported as such', () => {
    assert.match(statusLines(state(CLUSTER_DIR_PREFIX)).lines[0]!, /^running: node at /);
  });

  it('a record whose processes are gone is stale, not running', () => {
    const gone = { ...me, pid: 2 ** 22 + 1 };
    const { lines, running } = statusLines(state(DIR_PREFIX, [gone]));
    assert.equal(running, false);
    assert.match(lines[0]!, /^NOT running \(stale record; run down\)/);
  });

  it('no record: "not running"', () => {
    assert.deepEqual(statusLines(undefined), { lines: ['not running'], running: false });
  });
});
