// The operator's API calls share one undici Agent (operator/src/kube/clients.ts shareConnections):
// client-node alone makes a new one per call, so no connection is reused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HttpMethod, KubeConfig, RequestContext } from '@kubernetes/client-node';
import { shareConnections } from '../../operator/src/kube/clients.ts';

function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', skipTLSVerify: true }],
    users: [{ name: 'u', token: 'secret-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

async function dispatcherAndAuth(kc: KubeConfig) {
  const ctx = new RequestContext('https://127.0.0.1:6443/api/v1/pods', HttpMethod.GET);
  await kc.applySecurityAuthentication(ctx);
  return { dispatcher: ctx.getDispatcher(), auth: ctx.getHeaders()['Authorization'] };
}

test('client-node alone: a new dispatcher per call (why shareConnections exists)', async () => {
  const kc = kubeConfig();
  const [a, b] = [await dispatcherAndAuth(kc), await dispatcherAndAuth(kc)];
  assert.ok(a.dispatcher && b.dispatcher);
  assert.notEqual(a.dispatcher, b.dispatcher);
});

test('shareConnections: every call gets the same dispatcher, and still its own Authorization header', async () => {
  const kc = kubeConfig();
  shareConnections(kc);
  const calls = [await dispatcherAndAuth(kc), await dispatcherAndAuth(kc), await dispatcherAndAuth(kc)];
  assert.ok(calls[0]?.dispatcher);
  for (const c of calls) {
    assert.equal(c.dispatcher, calls[0]?.dispatcher);
    assert.equal(c.auth, 'Bearer secret-token');
  }
});
