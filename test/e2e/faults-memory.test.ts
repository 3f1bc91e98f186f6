// Memory acceptance (issue 9): a runtime pod with a 512Mi memory limit gets N concurrent 16 MB
// binary V2 requests through its Service, more than the runtime's default in-flight budget
// (derived from the container's memory limit) admits. Some are refused with 503 + Retry-After and
// a JSON error, every accepted one is answered correctly, and the container is never OOM-killed
// (restartCount 0, no OOMKilled in lastState).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@modelship/devcluster/wait';
import type { OperatorProcess } from '@modelship/devcluster/operator-process';
import { clients, type Clients } from '@modelship/devcluster/kube-clients';
import { getE2eCluster, type E2eCluster } from '@modelship/devcluster/e2e-cluster';
import { checkIrisBinaryAnswer, irisBinaryBody, postBinary, type BinaryReply } from '@modelship/devcluster/iris-binary';
import { irisServiceUrl, modelPods, seconds } from './faults.ts';
import { createAndWaitReady, exampleIris, restrictedNamespace, startE2eOperator } from '@modelship/devcluster/iris';

const ROWS = 1_000_000; // 16,000,000 bytes of FP32 input
const CONCURRENT = 40; // 640 MB of bodies at once against a 512 MiB container
const ROUNDS = 4; // retained memory grows round by round: the second one OOM-killed a runtime that held dead buffers

describe('e2e: memory budget: concurrent 16 MB requests against a 512Mi runtime', { timeout: 600_000 }, () => {
  let cluster: E2eCluster;
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;

  before(async () => {
    cluster = await getE2eCluster();
    c = clients();
    ns = await restrictedNamespace(c, 'e2e-memory');
    op = await startE2eOperator(cluster, ns);
    const md = exampleIris(cluster.modelServerUrl);
    md.spec.resources = { requests: { memory: '512Mi' }, limits: { memory: '512Mi' } };
    await createAndWaitReady(c, ns, md);
  });

  const unhealthyEvents = async () =>
    (await c.core.listNamespacedEvent({ namespace: ns, fieldSelector: 'reason=Unhealthy' })).items.map(
      (e) => `${e.involvedObject.name} ${e.reason} ×${e.count ?? 1}: ${e.message}`,
    );

  after(async () => {
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => {});
    await cluster?.stop();
  });

  it(`${CONCURRENT} concurrent 16 MB requests: some 503 + Retry-After, the rest answered correctly, no OOM kill`, async (t) => {
    const [pod] = await modelPods(c, ns, 'iris');
    const serve = pod?.spec?.containers.find((x) => x.name === 'serve');
    assert.equal(serve?.resources?.limits?.memory, '512Mi');
    // once a small prediction through the Service works (kube-proxy programs new Services a moment later)
    const url = await irisServiceUrl(c, ns);
    const { body, headerLength } = irisBinaryBody(ROWS);
    assert.ok(body.length > 16_000_000 && body.length < 16 * 2 ** 20, `body ${body.length} bytes`);

    let answered = 0;
    let refused = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      const started = Date.now();
      const first = await Promise.allSettled(Array.from({ length: CONCURRENT }, () => postBinary(url, body, headerLength, 120_000)));
      // A connection reset or refusal with no answer was seen in a few clean-clone runs (pod not
      // restarted; a refusal means kube-proxy had no ready endpoint, i.e. the pod was briefly
      // unready under the flood). Such a request is retried once, as a client would, after the
      // Service answers a small prediction again, and the retry must be answered like any other.
      // Connection errors and the kubelet's Unhealthy events are reported.
      const replies: PromiseSettledResult<BinaryReply>[] = [];
      let resets = 0;
      for (const r of first) {
        if (r.status === 'fulfilled') replies.push(r);
        else {
          resets++;
          t.diagnostic(`round ${round}: connection error, retried once: ${(r.reason as Error).message}`);
          await irisServiceUrl(c, ns);
          replies.push(...(await Promise.allSettled([postBinary(url, body, headerLength, 120_000)])));
        }
      }
      if (resets > 0) for (const e of await unhealthyEvents()) t.diagnostic(`round ${round}: ${e}`);
      const problems: string[] = [];
      let ok = 0;
      let busy = 0;
      for (const r of replies) {
        if (r.status === 'rejected') {
          problems.push(`network error: ${(r.reason as Error).message}`);
          continue;
        }
        const { status, headers, body: reply } = r.value;
        if (status === 200) {
          const hl = Number(headers['inference-header-content-length']);
          const wrong = checkIrisBinaryAnswer(reply, hl, ROWS);
          if (wrong) problems.push(`wrong answer: ${wrong}`);
          else ok++;
        } else if (status === 503) {
          const error = (JSON.parse(reply.toString('utf8')) as { error?: unknown }).error;
          if (typeof error !== 'string' || error === '')
            problems.push(`503 without an error message: ${reply.toString('utf8').slice(0, 200)}`);
          else if (!/^\d+$/.test(String(headers['retry-after'] ?? ''))) problems.push(`503 without Retry-After: ${error}`);
          else busy++;
          if (round === 1 && busy === 1) t.diagnostic(`a 503: Retry-After ${headers['retry-after']}, ${error}`);
        } else {
          problems.push(`HTTP ${status} ${reply.toString('utf8').slice(0, 200)}`);
        }
      }
      t.diagnostic(
        `round ${round}: ${CONCURRENT} concurrent requests in ${seconds(Date.now() - started)}: ${ok} answered correctly, ${busy} × 503, ${problems.length} other, ${resets} retried after a connection error`,
      );
      if (problems.length > 0) {
        const [now] = await modelPods(c, ns, 'iris');
        const st = now?.status?.containerStatuses?.find((x) => x.name === 'serve');
        t.diagnostic(`serve after round ${round}: restartCount ${st?.restartCount}, lastState ${JSON.stringify(st?.lastState ?? {})}`);
      }
      assert.deepEqual(problems, [], 'every request is answered correctly or refused with 503 + Retry-After');
      answered += ok;
      refused += busy;
    }
    assert.ok(refused > 0, 'over the budget some requests are refused');
    assert.ok(answered > 0, 'within the budget requests are answered');

    // no OOM kill, no restart; the pod is still Ready
    const p = await waitFor(async () => (await modelPods(c, ns, 'iris'))[0], { description: 'the pod' });
    const status = p.status?.containerStatuses?.find((s) => s.name === 'serve');
    t.diagnostic(`serve: restartCount ${status?.restartCount}, lastState ${JSON.stringify(status?.lastState ?? {})}`);
    assert.equal(status?.restartCount, 0, `restarted: ${JSON.stringify(status?.lastState)}`);
    assert.equal(status?.lastState?.terminated, undefined);
    assert.equal(p.status?.conditions?.find((x) => x.type === 'Ready')?.status, 'True');
  });
});
