// The model server killed in the middle of a `fetch` (issue 9, fault campaign): a rollout points
// at a second model server on the node (devcluster/src/model-server.ts, throttled so the download
// takes ~16 s); it is SIGKILLed while the new pod's `fetch` downloads. The fetch fails with a clear
// message naming the file, and the operator rolls back (Degraded, RolledBack) while the old
// version keeps serving: 0 failed requests under load.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repoRoot } from '@modelship/devcluster/binaries';
import { GATEWAY_IP } from '@modelship/devcluster/network';
import { waitFor } from '@modelship/devcluster/wait';
import type { OperatorProcess } from '@modelship/devcluster/operator-process';
import { clients, condition, getMd, patchMd, type Clients } from '@modelship/devcluster/kube-clients';
import { getE2eCluster, type E2eCluster } from '@modelship/devcluster/e2e-cluster';
import { containerLog } from '@modelship/devcluster/container-log';
import { describeLoad, modelPods, seconds, settledOn, irisUnderLoad } from './faults.ts';
import { restrictedNamespace, startE2eOperator } from '@modelship/devcluster/iris';
import type { Load } from './load.ts';

const MODEL_BYTES = 32 * 1024 * 1024;
const BYTES_PER_SECOND = 2_000_000;

describe('e2e faults: the model server killed mid-fetch', { timeout: 600_000 }, () => {
  let cluster: E2eCluster;
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;
  let load: Load | undefined;
  let server: ChildProcess | undefined;
  let dir: string;

  before(async () => {
    cluster = await getE2eCluster();
    c = clients();
    ns = await restrictedNamespace(c, 'e2e-faults-fetch');
    op = await startE2eOperator(cluster, ns);
    load = await irisUnderLoad(c, ns, cluster.modelServerUrl, 500);
    dir = mkdtempSync(join(tmpdir(), 'modelship-faults-fetch-'));
  });

  after(async () => {
    server?.kill('SIGKILL');
    await load?.stop();
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    await cluster?.stop();
  });

  it('a clear fetch failure, the rollout rolled back, 0 failed requests', async (t) => {
    const model = randomBytes(MODEL_BYTES);
    mkdirSync(join(dir, 'big'));
    writeFileSync(join(dir, 'big', 'model.onnx'), model);
    const sha256 = createHash('sha256').update(model).digest('hex');
    const srv = spawn(
      process.execPath,
      [
        join(repoRoot, 'devcluster/src/model-server.ts'),
        '--root',
        dir,
        '--host',
        GATEWAY_IP,
        '--port',
        '0',
        '--bytes-per-second',
        String(BYTES_PER_SECOND),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    server = srv;
    let out = '';
    srv.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const url = await waitFor(async () => /listening (\S+)/.exec(out)?.[1], { timeoutMs: 30_000, description: 'the second model server' });

    await patchMd(c, ns, 'iris', { spec: { model: { version: '2', uri: `${url}/big/model.onnx`, sha256 } } });
    await waitFor(async () => out.includes('sending /big/model.onnx'), {
      timeoutMs: 120_000,
      intervalMs: 100,
      description: 'the new pod to start downloading',
    });
    const startedAt = Date.now();
    await new Promise((r) => setTimeout(r, 2_000));
    srv.kill('SIGKILL');
    const killedAt = Date.now();
    const expectedMs = (MODEL_BYTES / BYTES_PER_SECOND) * 1000;
    t.diagnostic(`model server SIGKILLed ${seconds(killedAt - startedAt)} into a download of ~${seconds(expectedMs)}`);

    let fetchLog = '';
    const md = await waitFor(
      async () => {
        for (const p of await modelPods(c, ns, 'iris')) {
          if (p.metadata?.labels?.['modelship.dev/model-version'] !== '2') continue;
          try {
            fetchLog = containerLog(p, 'fetch');
          } catch {
            // not started yet, or already removed with its pod
          }
        }
        const m = await getMd(c, ns, 'iris');
        return m.status?.failedVersion === '2' && condition(m, 'Degraded')?.status === 'True' ? m : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 250, description: 'the rollback of version 2' },
    );
    const degraded = condition(md, 'Degraded');
    t.diagnostic(`rolled back ${seconds(Date.now() - killedAt)} after the kill: ${degraded?.reason}: ${degraded?.message}`);
    assert.equal(degraded?.reason, 'RolledBack');
    assert.match(degraded?.message ?? '', /model fetch failed: .*big\/model\.onnx/);
    // the first attempt was cut off mid-download; the retries found no server
    const attempts = fetchLog
      .split('\n')
      .filter((l) => l.includes('fetch attempt failed'))
      .map((l) => /"error":"([^"]*)"/.exec(l)?.[1]);
    t.diagnostic(`fetch attempts that failed before the last: ${JSON.stringify(attempts)}`);
    assert.match(attempts[0] ?? '', /download of .*big\/model\.onnx failed/, fetchLog);
    const entry = md.status?.history?.find((h) => h.version === '2');
    assert.equal(entry?.outcome, 'RolledBack');
    assert.equal(entry?.reason, 'FetchFailed');
    assert.equal(md.status?.currentVersion, '1');

    await settledOn(c, ns, 'iris', '1', { ready: false });
    const result = await load!.stop();
    load = undefined;
    t.diagnostic(`whole test: ${describeLoad(result)}`);
    assert.equal(result.failed, 0, result.failures.join('; '));
  });
});
