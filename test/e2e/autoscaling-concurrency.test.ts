// Autoscaling on inference concurrency, with no Prometheus, adapter or KEDA: the operator (a host
// process here) serves custom.metrics.k8s.io from the runtime pods' own /metrics, registered through
// the API server's aggregation layer (APIService → selector-less Service + Endpoints at the bridge
// gateway, as metrics-server is), and the real HPA controller (FAST_HPA_ARGS) scales on
// modelship_concurrency. The load is honest low-CPU concurrency: clients whose request bodies arrive
// in two halves HOLD_MS apart (well within the runtime's 10 s body idle timeout), so each request is
// in flight for ~HOLD_MS while costing the pod almost no CPU. CPU from metrics.k8s.io is recorded
// next to the concurrency to show the CPU autoscaler (default target 80 %) would not have moved.
// Checked: replicas rise under load, fall back to minReplicas after (spec.autoscaling.behavior's
// scale-down window, not the controller's default), 0 failed requests.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiregistrationV1Api } from '@kubernetes/client-node';
import { GATEWAY_IP } from '@modelship/devcluster/network';
import { waitFor } from '@modelship/devcluster/wait';
import type { OperatorProcess } from '@modelship/devcluster/operator-process';
import { clients, condition, getMd, type Clients } from '@modelship/devcluster/kube-clients';
import { getE2eCluster, type E2eCluster } from '@modelship/devcluster/e2e-cluster';
import { createAndWaitReady, exampleIris, restrictedNamespace, startE2eOperator } from '@modelship/devcluster/iris';
import { IRIS_ROW } from '@modelship/devcluster/iris-binary';
import { irisServiceUrl } from './faults.ts';
import { selfSignedPair } from '@modelship/devcluster/test-ca';

const SERVICE = 'modelship-custom-metrics';
const API_SERVICE = 'v1beta2.custom.metrics.k8s.io';
/**
 * Held requests cost ~12m of CPU per pod, so utilisation stays far under a CPU target however many
 * wait; and maxReplicas (3) x the request must fit the dev node's 2 CPUs, or the third pod is never
 * scheduled (a clean-clone run saw it Pending with 1 CPU each).
 */
const CPU_REQUEST = '300m';
const CPU_TARGET_PERCENT = 80;
const TARGET_CONCURRENCY = 2;
const CLIENTS = 6;
const HOLD_MS = 2_000;

/** One inference whose body arrives in two halves HOLD_MS apart, on a fresh connection (kube-proxy spreads them). */
function slowInference(url: string): Promise<string | undefined> {
  const body = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: IRIS_ROW }] });
  const half = Math.floor(body.length / 2);
  return new Promise((resolve) => {
    const req = httpRequest(
      url,
      { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve(res.statusCode === 200 ? undefined : `HTTP ${res.statusCode} ${text.slice(0, 200)}`));
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('no answer in 30 s')));
    req.on('error', (err) => resolve(err.message));
    req.write(body.slice(0, half));
    setTimeout(() => req.end(body.slice(half)), HOLD_MS);
  });
}

/** CLIENTS clients, each sending one slow inference after another until stopped. */
function startSlowClients(url: string): { stop: () => Promise<{ ok: number; failed: number; failures: string[] }> } {
  let running = true;
  let ok = 0;
  const failures: string[] = [];
  const loops = Array.from({ length: CLIENTS }, async () => {
    while (running) {
      const failure = await slowInference(url);
      if (failure) failures.push(failure);
      else ok++;
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return { ok, failed: failures.length, failures: failures.slice(0, 5) };
    },
  };
}

/** A CPU quantity ("12345678n", "15m", "1") in cores. */
function cores(q: string): number {
  const m = /^([0-9.]+)([numk]?)$/.exec(q);
  if (!m) return NaN;
  return Number(m[1]) * ({ n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, '': 1 } as Record<string, number>)[m[2] as string]!;
}

describe('e2e: autoscaling on concurrency (the operator’s custom.metrics.k8s.io + the real HPA controller)', { timeout: 600_000 }, () => {
  let cluster: E2eCluster;
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;
  let certDir = '';
  let registration: ApiregistrationV1Api;

  const sample = async () => {
    const d = await c.apps.readNamespacedDeployment({ name: 'iris', namespace: ns });
    const h = await c.autoscaling.readNamespacedHorizontalPodAutoscaler({ name: 'iris', namespace: ns });
    const pods = h.status?.currentMetrics?.find((m) => m.type === 'Pods')?.pods?.current.averageValue;
    let cpuPercent: number | undefined;
    try {
      const list = (await c.custom.listNamespacedCustomObject({
        group: 'metrics.k8s.io',
        version: 'v1beta1',
        namespace: ns,
        plural: 'pods',
      })) as {
        items: Array<{ containers: Array<{ name: string; usage: { cpu: string } }> }>;
      };
      const used = list.items.map((p) => p.containers.filter((x) => x.name === 'serve').reduce((s, x) => s + cores(x.usage.cpu), 0));
      if (used.length > 0) cpuPercent = (100 * used.reduce((a, b) => a + b, 0)) / used.length / cores(CPU_REQUEST);
    } catch {
      /* no pod metrics yet */
    }
    return {
      replicas: d.spec?.replicas ?? 0,
      ready: d.status?.readyReplicas ?? 0,
      concurrency: pods === undefined ? undefined : cores(String(pods)),
      cpuPercent,
    };
  };
  const fmt = (s: Awaited<ReturnType<typeof sample>>) =>
    `replicas ${s.replicas} (ready ${s.ready}), concurrency/pod ${s.concurrency?.toFixed(2) ?? '?'} (target ${TARGET_CONCURRENCY}), cpu/pod ${
      s.cpuPercent?.toFixed(1) ?? '?'
    }% of request (a CPU target would be ${CPU_TARGET_PERCENT}%)`;

  before(async () => {
    cluster = await getE2eCluster();
    c = clients();
    registration = c.kc.makeApiClient(ApiregistrationV1Api);
    ns = await restrictedNamespace(c, 'e2e-hpa-conc');
    certDir = await mkdtemp(join(tmpdir(), 'modelship-cm-'));
    const { certFile: cert, keyFile: key } = selfSignedPair(certDir, 'tls', SERVICE, [`DNS:${SERVICE}.kube-system.svc`]);
    op = await startE2eOperator(cluster, ns, {
      args: [
        '--custom-metrics-cert-file',
        cert,
        '--custom-metrics-key-file',
        key,
        '--custom-metrics-port',
        '0',
        '--custom-metrics-bind-address',
        GATEWAY_IP,
      ],
    });
    const listening = await waitFor(async () => op.logs().find((l) => l.message === 'custom metrics API listening'), {
      timeoutMs: 30_000,
      description: 'the operator’s custom metrics listener',
    });
    const port = listening.port as number;
    await c.core.createNamespacedService({
      namespace: 'kube-system',
      body: { metadata: { name: SERVICE }, spec: { ports: [{ name: 'https', port: 443, targetPort: port }] } },
    });
    await c.core.createNamespacedEndpoints({
      namespace: 'kube-system',
      body: { metadata: { name: SERVICE }, subsets: [{ addresses: [{ ip: GATEWAY_IP }], ports: [{ name: 'https', port }] }] },
    });
    await registration.createAPIService({
      body: {
        metadata: { name: API_SERVICE },
        spec: {
          group: 'custom.metrics.k8s.io',
          version: 'v1beta2',
          groupPriorityMinimum: 100,
          versionPriority: 200,
          service: { name: SERVICE, namespace: 'kube-system', port: 443 },
          caBundle: (await readFile(cert)).toString('base64'),
        },
      },
    });
    await waitFor(
      async () =>
        (await registration.readAPIService({ name: API_SERVICE })).status?.conditions?.find((x) => x.type === 'Available')?.status ===
        'True',
      { timeoutMs: 60_000, intervalMs: 1_000, description: 'the custom metrics APIService Available' },
    );
    const md = exampleIris(cluster.modelServerUrl);
    md.spec.resources = { requests: { cpu: CPU_REQUEST, memory: '128Mi' } };
    md.spec.autoscaling = {
      minReplicas: 1,
      maxReplicas: 3,
      metric: 'concurrency',
      targetConcurrency: TARGET_CONCURRENCY,
      // shorter than the controller's (FAST_HPA_ARGS: 20 s) to show behavior reaches the HPA
      behavior: { scaleDown: { stabilizationWindowSeconds: 10, policies: [{ type: 'Percent', value: 100, periodSeconds: 5 }] } },
    };
    await createAndWaitReady(c, ns, md);
  });

  after(async () => {
    await registration?.deleteAPIService({ name: API_SERVICE }).catch(() => {});
    await c?.core.deleteNamespacedService({ name: SERVICE, namespace: 'kube-system' }).catch(() => {});
    await c?.core.deleteNamespacedEndpoints({ name: SERVICE, namespace: 'kube-system' }).catch(() => {});
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => {});
    if (certDir) await rm(certDir, { recursive: true, force: true });
    await cluster?.stop();
  });

  it('held requests raise concurrency with CPU low → more replicas (no failed request); load stops → back to minReplicas', async (t) => {
    const hpa = await c.autoscaling.readNamespacedHorizontalPodAutoscaler({ name: 'iris', namespace: ns });
    assert.deepEqual(hpa.spec?.metrics?.[0]?.pods?.metric.name, 'modelship_concurrency');
    assert.equal(hpa.spec?.behavior?.scaleDown?.stabilizationWindowSeconds, 10);
    assert.equal((await sample()).replicas, 1, 'starts at minReplicas');
    await waitFor(async () => (await sample()).concurrency !== undefined || undefined, {
      timeoutMs: 90_000,
      intervalMs: 2_000,
      description: 'the HPA to read modelship_concurrency',
    });
    const t0 = Date.now();
    const record = async (phase: string) => {
      const s = await sample();
      const line = `${phase} t=${((Date.now() - t0) / 1000).toFixed(0)}s ${fmt(s)}`;
      t.diagnostic(line);
      return s;
    };
    await record('idle');

    const url = await irisServiceUrl(c, ns);
    const load = startSlowClients(url);
    let peak = 0;
    let maxCpu = 0;
    let up: Awaited<ReturnType<typeof sample>>;
    let stoppedAt: number | undefined;
    try {
      up = await waitFor(
        async () => {
          const s = await record('load');
          peak = Math.max(peak, s.concurrency ?? 0);
          maxCpu = Math.max(maxCpu, s.cpuPercent ?? 0);
          return s.replicas > 1 && s.ready === s.replicas ? s : undefined;
        },
        { timeoutMs: 150_000, intervalMs: 5_000, description: 'the HPA to scale iris up on concurrency' },
      );
      t.diagnostic(`scaled up to ${up.replicas} ready replicas ${((Date.now() - t0) / 1000).toFixed(0)}s after the load started`);
      // keep the load on while the new pods serve
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 5_000));
        const s = await record('load');
        maxCpu = Math.max(maxCpu, s.cpuPercent ?? 0);
      }
    } finally {
      const result = await load.stop();
      stoppedAt = Date.now();
      t.diagnostic(`load: ${CLIENTS} clients, ${result.ok} ok, ${result.failed} failed`);
      assert.equal(result.failed, 0, `failed requests: ${result.failures.join('; ')}`);
    }
    assert.ok(up.replicas <= 3, 'never above maxReplicas');
    assert.ok(peak > TARGET_CONCURRENCY, `concurrency per pod rose above the target (peak ${peak})`);
    assert.ok(maxCpu < CPU_TARGET_PERCENT, `CPU stayed under a CPU target meanwhile (max ${maxCpu.toFixed(1)}%)`);
    await waitFor(async () => condition(await getMd(c, ns, 'iris'), 'Ready')?.status === 'True', {
      timeoutMs: 90_000,
      intervalMs: 1_000,
      description: 'iris Ready=True with the scaled-up replicas',
    });

    await waitFor(async () => ((await record('after')).replicas === 1 ? true : undefined), {
      timeoutMs: 150_000,
      intervalMs: 5_000,
      description: 'the HPA to scale iris back down to minReplicas',
    });
    t.diagnostic(`scaled back down to 1 replica ${((Date.now() - (stoppedAt ?? Date.now())) / 1000).toFixed(0)}s after the load stopped`);
  });
});
