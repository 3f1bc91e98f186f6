// spec.model.credentialsSecretRef and plainHTTP in the rendered pod: the Secret is a read-only
// volume of the fetch init container only (the serving container never mounts it, no env carries
// a credential), the runtime gets the file's path and plain http only for oci://, and a spec
// without the fields renders exactly the pod it rendered before they existed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseExperiment } from '../../operator/src/reconcile/experiment-settings.ts';
import { renderPodTemplate } from '../../operator/src/render/pod-template.ts';
import { RUNTIME_DEFAULTS, modelDeployment } from './operator-fixtures.ts';

const OCI = 'oci://registry.example:5000/models/iris:3';

test('oci:// with a credentials Secret: mounted read-only into fetch only, its path (not its content) in fetch env', () => {
  const md = modelDeployment({
    model: { version: '3', uri: OCI, format: 'onnx', credentialsSecretRef: { name: 'regcred' }, plainHTTP: true },
  });
  const t = renderPodTemplate(md, md.spec.model, RUNTIME_DEFAULTS);
  const spec = t.spec!;
  const vol = spec.volumes?.find((v) => v.secret);
  assert.deepEqual(vol, { name: 'model-credentials', secret: { secretName: 'regcred', defaultMode: 0o440, optional: true } });
  const fetch = spec.initContainers?.[0];
  const serve = spec.containers[0];
  assert.deepEqual(
    fetch?.volumeMounts?.find((m) => m.name === 'model-credentials'),
    { name: 'model-credentials', mountPath: '/var/run/modelship/model-credentials', readOnly: true },
  );
  assert.equal(
    serve?.volumeMounts?.some((m) => m.name === 'model-credentials'),
    false,
    'the serving container never mounts the Secret',
  );
  const env = Object.fromEntries((fetch?.env ?? []).map((e) => [e.name, e.value]));
  assert.equal(env['MODELSHIP_REGISTRY_AUTH_FILE'], '/var/run/modelship/model-credentials/.dockerconfigjson');
  assert.equal(env['MODELSHIP_OCI_PLAIN_HTTP'], 'true');
  assert.equal(env['MODELSHIP_MODEL_URI'], OCI);
  for (const c of [fetch, serve])
    assert.equal(
      c?.env?.some((e) => e.valueFrom?.secretKeyRef?.name === 'regcred'),
      false,
      'no env from the Secret',
    );
  assert.equal(
    serve?.env?.some((e) => e.name.startsWith('MODELSHIP_REGISTRY') || e.name === 'MODELSHIP_OCI_PLAIN_HTTP'),
    false,
  );
});

test('without the fields: the pod is the one rendered before they existed (no volume, no env, same hash)', () => {
  const md = modelDeployment({ model: { version: '3', uri: OCI, format: 'onnx' } });
  const t = renderPodTemplate(md, md.spec.model, RUNTIME_DEFAULTS);
  assert.equal(
    t.spec?.volumes?.some((v) => v.secret),
    false,
  );
  assert.equal(
    t.spec?.initContainers?.[0]?.env?.some((e) => e.name === 'MODELSHIP_REGISTRY_AUTH_FILE' || e.name === 'MODELSHIP_OCI_PLAIN_HTTP'),
    false,
  );
  const withFalse = renderPodTemplate(md, { ...md.spec.model, plainHTTP: false }, RUNTIME_DEFAULTS);
  assert.deepEqual(withFalse, t, 'plainHTTP: false renders the same pod as unset');
});

test('plainHTTP and the auth file are oci:// only: an https model with a Secret gets the mount but no registry env', () => {
  const md = modelDeployment({
    model: { version: '3', uri: 'https://m/iris.onnx', format: 'onnx', credentialsSecretRef: { name: 's' }, plainHTTP: true },
  });
  const fetch = renderPodTemplate(md, md.spec.model, RUNTIME_DEFAULTS).spec?.initContainers?.[0];
  assert.equal(
    fetch?.env?.some((e) => e.name === 'MODELSHIP_REGISTRY_AUTH_FILE' || e.name === 'MODELSHIP_OCI_PLAIN_HTTP'),
    false,
  );
  assert.ok(fetch?.volumeMounts?.some((m) => m.name === 'model-credentials'));
});

test("an experiment pulls with its own credentials, not the main model's", () => {
  const md = modelDeployment({
    model: { version: '1', uri: OCI, format: 'onnx', credentialsSecretRef: { name: 'main-cred' } },
    experiment: { model: { version: '2', uri: 'oci://other.example/iris:2', credentialsSecretRef: { name: 'exp-cred' } }, weight: 10 },
  });
  const e = parseExperiment(md, RUNTIME_DEFAULTS);
  const secrets = e?.template.spec?.volumes?.filter((v) => v.secret).map((v) => v.secret?.secretName);
  assert.deepEqual(secrets, ['exp-cred']);
  const plain = modelDeployment({
    model: { version: '1', uri: OCI, format: 'onnx', credentialsSecretRef: { name: 'main-cred' } },
    experiment: { model: { version: '2', uri: 'oci://other.example/iris:2' }, weight: 10 },
  });
  assert.equal(
    parseExperiment(plain, RUNTIME_DEFAULTS)?.template.spec?.volumes?.some((v) => v.secret),
    false,
  );
});
