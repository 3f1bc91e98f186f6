// devcluster/src/gateway.ts: the GatewayClass/Gateway manifests and Traefik's command line.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GATEWAY_CLASS, TRAEFIK_CONTROLLER, gatewayManifests, traefikArgs } from '@modelship/devcluster/gateway';

test('the Gateway has one HTTP listener on the given port, admits routes from every namespace, and uses the Traefik class', () => {
  const [cls, gw] = gatewayManifests('e2e', 'public', 41234) as Array<{ kind: string; metadata: object; spec: Record<string, unknown> }>;
  assert.equal(cls?.kind, 'GatewayClass');
  assert.deepEqual(cls?.spec, { controllerName: TRAEFIK_CONTROLLER });
  assert.equal(gw?.kind, 'Gateway');
  assert.deepEqual(gw?.metadata, { name: 'public', namespace: 'e2e' });
  assert.deepEqual(gw?.spec, {
    gatewayClassName: GATEWAY_CLASS,
    listeners: [{ name: 'http', protocol: 'HTTP', port: 41234, allowedRoutes: { namespaces: { from: 'All' } } }],
  });
});

test("Traefik's entry point port equals the listener port (Traefik binds a listener to the entry point with its port); no outbound calls", () => {
  const args = traefikArgs({ address: '127.0.0.1', port: 41234, pingPort: 41235 });
  assert.ok(args.includes('--entryPoints.web.address=127.0.0.1:41234'));
  assert.ok(args.includes('--entryPoints.ping.address=127.0.0.1:41235'));
  assert.ok(args.includes('--providers.kubernetesgateway=true'));
  assert.ok(args.includes('--global.checkNewVersion=false'));
  assert.ok(args.includes('--global.sendAnonymousUsage=false'));
});
