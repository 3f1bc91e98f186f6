// kubernetes auth mode, bad configuration of the real runtime process: exit 2 (bad configuration)
// with a message naming the problem, before listening; never serving without the check.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { modelPath, spawnRuntime } from '@modelship/devcluster/runtime-process';

const dir = mkdtempSync(join(tmpdir(), 'modelship-kauth-cfg-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const base = (caFile: string) => [
  'serve',
  '--model-path',
  modelPath('iris'),
  '--host',
  '127.0.0.1',
  '--port',
  '0',
  '--auth-mode',
  'kubernetes',
  '--auth-namespace',
  'ml',
  '--auth-resource-name',
  'iris',
  '--kube-api-url',
  'https://127.0.0.1:1',
  '--kube-ca-file',
  caFile,
];

test('kubernetes mode: an unreadable CA file or one without a certificate exits 2 before listening', async () => {
  const notPem = join(dir, 'not-pem');
  writeFileSync(notPem, 'hello');
  for (const [file, re] of [
    [join(dir, 'missing.crt'), /cannot read the API server's CA .*missing\.crt: ENOENT/],
    [notPem, /holds no PEM certificate/],
  ] as const) {
    const r = spawnRuntime(base(file));
    assert.equal(await r.exited, 2, r.output());
    assert.match(r.output(), re);
    assert.ok(!r.logs.some((l) => l.message === 'listening'), 'never listened');
  }
});

test('kubernetes mode with an API key, or without the ModelDeployment, exits 2 naming the setting', async () => {
  const withKey = spawnRuntime(base(join(dir, 'x')), { MODELSHIP_API_KEY: 'secret' });
  assert.equal(await withKey.exited, 2);
  assert.match(withKey.output(), /--auth-mode kubernetes contradicts --api-key/);
  assert.ok(!withKey.output().includes('secret'), 'the key is not echoed');
  const args = base(join(dir, 'x'));
  args.splice(args.indexOf('--auth-resource-name'), 2);
  const noName = spawnRuntime(args);
  assert.equal(await noName.exited, 2);
  assert.match(noName.output(), /needs --auth-resource-name \(MODELSHIP_AUTH_RESOURCE_NAME\)/);
});
