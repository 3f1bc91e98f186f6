// The operator-runtime contract, end to end without a cluster: pods rendered by the operator's
// real render function are parsed by the runtime's own configuration parser, as the kubelet would
// start them (the image's entrypoint + the container's args + its environment).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basename, dirname, join } from 'node:path';
import fc from 'fast-check';
import type { V1Container, V1PodTemplateSpec } from '@kubernetes/client-node';
import type { ModelDeployment, ModelSpec } from '../../operator/src/api/types.generated.ts';
import { parseConfig as parseOperatorConfig, type RuntimeDefaults } from '../../operator/src/config.ts';
import { renderPodTemplate } from '../../operator/src/render/pod-template.ts';
import { envNamesOf, parseConfig as parseRuntimeConfig, type FetchConfig, type ServeConfig } from '../../runtime/src/config.ts';
import { readFileSync } from 'node:fs';
import { crdPath, parseCrd, storageVersion } from '../../operator/scripts/generate-api-types.ts';
import {
  ACCESS_LOG_DEFAULT,
  ACCESS_LOG_PATTERN,
  COMMAND,
  CONTAINER,
  ENV,
  HTTP_PATH,
  parseAccessLog,
  type RuntimeCommand,
} from '../../contract/runtime-contract.ts';

/** What the kubelet resolves a secretKeyRef to in this test. */
const SECRET_VALUE = 'contract-test-key';
/** Kubernetes' default terminationMessagePath, read by the operator's failure signals. */
const KUBERNETES_TERMINATION_MESSAGE_PATH = '/dev/termination-log';

function operatorDefaults(env: Record<string, string> = {}): RuntimeDefaults {
  const config = parseOperatorConfig([], env);
  if (config === 'help') throw new Error('unexpected help');
  return config.runtime;
}

function modelDeployment(spec: Partial<ModelDeployment['spec']> = {}, model: Partial<ModelSpec> = {}): ModelDeployment {
  return {
    apiVersion: 'modelship.dev/v1alpha1',
    kind: 'ModelDeployment',
    metadata: { name: 'iris', namespace: 'ml', uid: 'uid-1', generation: 1 },
    spec: { model: { version: '1', uri: 'https://models.example.com/iris/1/model.onnx', format: 'onnx', ...model }, replicas: 2, ...spec },
  };
}

/** The container's environment as the kubelet hands it over: secretKeyRef values resolved. */
function containerEnv(c: V1Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef) env[e.name] = SECRET_VALUE;
    else assert.fail(`${c.name}: ${e.name} has neither a value nor a secretKeyRef`);
  }
  return env;
}

/** Parses one rendered container with the runtime's parser, after checking every variable is one it reads. */
function parseContainer(c: V1Container, command: RuntimeCommand): FetchConfig | ServeConfig {
  assert.equal(c.command, undefined, `${c.name}: the image's entrypoint (the runtime) must run`);
  assert.equal(c.args?.[0], command, `${c.name}: first argument is the runtime command`);
  const env = containerEnv(c);
  const known = envNamesOf(command);
  const unread = Object.keys(env).filter((name) => !known.has(name));
  assert.deepEqual(unread, [], `${c.name}: the operator renders variables the runtime's \`${command}\` does not read`);
  return parseRuntimeConfig(c.args ?? [], env);
}

interface Parsed {
  fetchContainer: V1Container;
  serveContainer: V1Container;
  fetch: FetchConfig;
  serve: ServeConfig;
}

function parsePod(t: V1PodTemplateSpec): Parsed {
  const fetchContainer = t.spec?.initContainers?.find((c) => c.name === CONTAINER.fetch);
  const serveContainer = t.spec?.containers.find((c) => c.name === CONTAINER.serve);
  assert.ok(fetchContainer, 'fetch init container rendered');
  assert.ok(serveContainer, 'serve container rendered');
  const fetch = parseContainer(fetchContainer, COMMAND.fetch);
  const serve = parseContainer(serveContainer, COMMAND.serve);
  assert.equal(fetch.command, COMMAND.fetch);
  assert.equal(serve.command, COMMAND.serve);
  return { fetchContainer, serveContainer, fetch, serve };
}

const mountAt = (c: V1Container, path: string) => c.volumeMounts?.find((m) => m.mountPath === path);

/** The Secret (or ConfigMap) and key the kubelet puts at `file` in the container, read-only. */
function mountedKey(t: V1PodTemplateSpec, c: V1Container, file: string): { secret?: string; configMap?: string; key: string } {
  const mount = mountAt(c, dirname(file));
  assert.ok(mount?.readOnly, `${file}: its directory is a read-only mount`);
  const volume = t.spec?.volumes?.find((v) => v.name === mount.name);
  const source = volume?.secret ?? volume?.configMap;
  assert.ok(source, `${file}: mounted from a Secret or ConfigMap`);
  const item = source.items?.find((i) => i.path === basename(file));
  // without items every key of the object is a file of its name
  const key = item?.key ?? (source.items ? assert.fail(`${file}: no item maps to it`) : basename(file));
  return { ...(volume?.secret ? { secret: volume.secret.secretName } : { configMap: volume?.configMap?.name }), key };
}

/** The runtime, configured from the rendered pod, does what the ModelDeployment asks. */
function assertPodServes(md: ModelDeployment, model: ModelSpec, defaults: RuntimeDefaults, t: V1PodTemplateSpec): Parsed {
  const parsed = parsePod(t);
  const { fetchContainer, serveContainer, fetch, serve } = parsed;
  const runtime = md.spec.runtime ?? {};

  // the model: fetched to the file serve loads, through one shared volume
  assert.equal(fetch.modelUri, model.uri);
  assert.equal(fetch.modelSha256, model.sha256?.toLowerCase());
  assert.equal(serve.modelSha256, undefined, 'fetch verified the file already');
  assert.equal(serve.modelPath, fetch.modelPath);
  const written = mountAt(fetchContainer, dirname(fetch.modelPath));
  const read = mountAt(serveContainer, dirname(serve.modelPath));
  assert.ok(written && !written.readOnly, `fetch can write ${fetch.modelPath}`);
  assert.equal(read?.name, written.name, `serve reads ${serve.modelPath} from the volume fetch wrote`);

  // pvc://<claim>/<path>: the claim is mounted where fetch looks for it
  const pvc = /^pvc:\/\/([^/]+)\//.exec(model.uri);
  if (pvc) {
    const claim = pvc[1] as string;
    const mount = mountAt(fetchContainer, join(fetch.pvcRoot, claim));
    assert.ok(mount, `claim ${claim} mounted at ${join(fetch.pvcRoot, claim)}`);
    const volume = t.spec?.volumes?.find((v) => v.name === mount.name);
    assert.equal(volume?.persistentVolumeClaim?.claimName, claim);
  }

  // the served model
  assert.equal(serve.modelName, model.name ?? md.spec.model.name ?? md.metadata?.name);
  assert.equal(serve.modelVersion, model.version);

  // ports and probes: the kubelet and the Service reach what the runtime listens on
  const httpPort = serveContainer.ports?.find((p) => p.name === 'http');
  assert.equal(serve.port, httpPort?.containerPort, 'runtime listens on the container port named http');
  for (const probe of [serveContainer.readinessProbe, serveContainer.livenessProbe, serveContainer.startupProbe]) {
    assert.equal(probe?.httpGet?.port, 'http');
  }
  assert.equal(serveContainer.readinessProbe?.httpGet?.path, HTTP_PATH.ready);
  assert.equal(serveContainer.livenessProbe?.httpGet?.path, HTTP_PATH.live);
  const metricsPort = serveContainer.ports?.find((p) => p.name === 'metrics');
  assert.equal(serve.metricsPort, defaults.metricsPort === 0 ? undefined : defaults.metricsPort);
  assert.equal(metricsPort?.containerPort, serve.metricsPort);

  // batching, authentication, shutdown
  assert.equal(serve.maxBatchSize, runtime.batching?.maxBatchSize ?? defaults.maxBatchSize);
  assert.equal(serve.maxBatchDelayUs, runtime.batching?.maxDelayMicroseconds ?? defaults.maxBatchDelayMicroseconds);
  // the API key and TLS files come from the Secrets the spec names, as volumes the kubelet updates in place
  assert.equal(serve.apiKey, undefined, 'never an env var: it could not be rotated without a restart');
  const keyRef = runtime.apiKeySecretRef;
  assert.equal(serve.apiKeyFile !== undefined, keyRef !== undefined);
  if (keyRef && serve.apiKeyFile)
    assert.deepEqual(mountedKey(t, serveContainer, serve.apiKeyFile), { secret: keyRef.name, key: keyRef.key });
  const tls = md.spec.service?.tls;
  assert.equal(serve.tls !== undefined, tls !== undefined);
  if (tls && serve.tls) {
    assert.deepEqual(mountedKey(t, serveContainer, serve.tls.certFile), { secret: tls.secretName, key: 'tls.crt' });
    assert.deepEqual(mountedKey(t, serveContainer, serve.tls.keyFile), { secret: tls.secretName, key: 'tls.key' });
    const ca = tls.clientCA;
    assert.equal(serve.tls.clientCaFile !== undefined, ca !== undefined);
    if (ca && serve.tls.clientCaFile)
      assert.deepEqual(
        mountedKey(t, serveContainer, serve.tls.clientCaFile),
        ca.secretName ? { secret: ca.secretName, key: ca.key ?? 'ca.crt' } : { configMap: ca.configMapName, key: ca.key ?? 'ca.crt' },
      );
  }
  for (const probe of [serveContainer.readinessProbe, serveContainer.livenessProbe, serveContainer.startupProbe])
    assert.equal(probe?.httpGet?.scheme ?? 'HTTP', tls ? 'HTTPS' : 'HTTP', 'the probes speak what the runtime serves');
  assert.deepEqual(serve.accessLog, parseAccessLog(runtime.accessLog ?? ACCESS_LOG_DEFAULT));
  // unset renders no variable: the pod of a spec without the field is unchanged (no rollout on an operator upgrade)
  assert.equal(
    serveContainer.env?.some((e) => e.name === ENV.accessLog),
    runtime.accessLog !== undefined,
  );
  assert.equal(serve.drainDelaySeconds, defaults.drainDelaySeconds);
  assert.equal(serve.shutdownTimeoutSeconds, defaults.shutdownTimeoutSeconds);
  assert.ok(
    (t.spec?.terminationGracePeriodSeconds ?? 30) > serve.drainDelaySeconds + serve.shutdownTimeoutSeconds,
    'the kubelet waits out the drain delay and the shutdown timeout',
  );

  // failure messages land where Kubernetes reads the termination message
  for (const [c, config] of [
    [fetchContainer, fetch],
    [serveContainer, serve],
  ] as const) {
    assert.equal(config.terminationLogPath, c.terminationMessagePath ?? KUBERNETES_TERMINATION_MESSAGE_PATH);
  }
  return parsed;
}

const variants: { name: string; md: ModelDeployment; operatorEnv?: Record<string, string>; model?: Partial<ModelSpec> }[] = [
  { name: 'https model, operator defaults', md: modelDeployment() },
  {
    name: 'API key from a Secret, sha256, explicit model name',
    md: modelDeployment({ runtime: { apiKeySecretRef: { name: 'iris-key', key: 'token' } } }, { name: 'flowers', sha256: 'AB'.repeat(32) }),
  },
  { name: 'pvc:// model', md: modelDeployment({}, { uri: 'pvc://models/iris/1/model.onnx' }) },
  { name: 'HTTPS from a TLS Secret', md: modelDeployment({ service: { tls: { secretName: 'iris-tls' } } }) },
  {
    name: 'HTTPS with mTLS (client CA in a ConfigMap) and an API key',
    md: modelDeployment({
      service: { port: 443, tls: { secretName: 'iris-tls', clientCA: { configMapName: 'callers-ca', key: 'bundle.pem' } } },
      runtime: { apiKeySecretRef: { name: 'iris-key', key: 'token' } },
    }),
  },
  {
    name: 'mTLS with the client CA in a Secret',
    md: modelDeployment({ service: { tls: { secretName: 't', clientCA: { secretName: 'ca' } } } }),
  },
  { name: 'file:// model', md: modelDeployment({}, { uri: 'file:///srv/models/iris.onnx' }) },
  {
    name: 'batching set on the ModelDeployment',
    md: modelDeployment({ runtime: { batching: { maxBatchSize: 8, maxDelayMicroseconds: 500 } } }),
  },
  { name: 'batching off', md: modelDeployment({ runtime: { batching: { maxBatchSize: 1 } } }) },
  { name: 'access log sampled 1 in 100', md: modelDeployment({ runtime: { accessLog: '1/100' } }) },
  { name: 'access log on', md: modelDeployment({ runtime: { accessLog: 'on' } }) },
  {
    name: 'metrics on the inference port, custom drain and shutdown',
    md: modelDeployment(),
    operatorEnv: {
      MODELSHIP_RUNTIME_METRICS_PORT: '0',
      MODELSHIP_DRAIN_DELAY_SECONDS: '0',
      MODELSHIP_SHUTDOWN_TIMEOUT_SECONDS: '600',
      MODELSHIP_DEFAULT_MAX_BATCH_SIZE: '1024',
      MODELSHIP_DEFAULT_MAX_BATCH_DELAY_US: '1000000',
    },
  },
  { name: 'metrics on another port', md: modelDeployment(), operatorEnv: { MODELSHIP_RUNTIME_METRICS_PORT: '9464' } },
  {
    name: 'resources set',
    md: modelDeployment({ resources: { requests: { cpu: '500m', memory: '512Mi' }, limits: { cpu: 2, memory: '2Gi' } } }),
  },
  {
    name: 'rollback: an older model rendered with the current spec',
    md: modelDeployment({ runtime: { batching: { maxBatchSize: 4 } } }, { version: '7' }),
    model: { version: '6', uri: 'https://models.example.com/iris/6/model.onnx' },
  },
];

for (const v of variants) {
  test(`rendered pod parses with the runtime's own parser: ${v.name}`, () => {
    const defaults = operatorDefaults(v.operatorEnv);
    const model = { ...v.md.spec.model, ...v.model };
    assertPodServes(v.md, model, defaults, renderPodTemplate(v.md, model, defaults));
  });
}

test('the operator and the runtime state the same defaults', () => {
  const operator = operatorDefaults();
  const runtime = parseRuntimeConfig([COMMAND.serve], { MODELSHIP_MODEL_PATH: '/m.onnx' });
  assert.equal(runtime.command, COMMAND.serve);
  if (runtime.command !== COMMAND.serve) return;
  assert.equal(operator.maxBatchSize, runtime.maxBatchSize);
  assert.equal(operator.maxBatchDelayMicroseconds, runtime.maxBatchDelayUs);
  assert.equal(operator.drainDelaySeconds, runtime.drainDelaySeconds);
  assert.equal(operator.shutdownTimeoutSeconds, runtime.shutdownTimeoutSeconds);
  // the operator sets the port explicitly; the runtime's own default (and the image's) must agree
  const rendered = parsePod(renderPodTemplate(modelDeployment(), modelDeployment().spec.model, operator));
  assert.equal(rendered.serve.port, runtime.port);
  const fetch = parseRuntimeConfig([COMMAND.fetch], { MODELSHIP_MODEL_URI: 'pvc://c/m.onnx', MODELSHIP_MODEL_PATH: '/m.onnx' });
  assert.equal(fetch.command === COMMAND.fetch && fetch.pvcRoot, rendered.fetch.pvcRoot);
});

/** The CRD's pattern of spec.runtime.accessLog, as written in the CRD file. */
const crdAccessLogPattern = (() => {
  const crd = parseCrd(readFileSync(crdPath, 'utf8'));
  const spec = storageVersion(crd).schema.openAPIV3Schema.properties?.['spec'];
  return spec?.properties?.['runtime']?.properties?.['accessLog']?.pattern as string;
})();

test('spec.runtime.accessLog: the CRD admits exactly what the runtime parses (the contract pattern)', () => {
  assert.equal(crdAccessLogPattern, ACCESS_LOG_PATTERN);
  const re = new RegExp(ACCESS_LOG_PATTERN);
  for (const v of ['off', 'on', '1/1', '1/2', '1/100', '1/999999', '1/1000000', '1/0', '1/1000001', '1/01', 'ON', '', '1/-1', '2/3', ' on'])
    assert.equal(re.test(v), !('error' in parseAccessLog(v)) && v.trim() === v, v);
});

test('whatever the operator and the CRD accept renders a pod the runtime accepts', () => {
  // mostly within the operator's bounds, sometimes anywhere: whatever it accepts must parse in the runtime
  const int = (min: number, max: number, anyUpTo: number) =>
    fc
      .oneof({ arbitrary: fc.integer({ min, max }), weight: 9 }, { arbitrary: fc.integer({ min: 0, max: anyUpTo }), weight: 1 })
      .map(String);
  const dnsLabel = fc.stringMatching(/^[a-z]([-a-z0-9]{0,20}[a-z0-9])?$/);
  let rendered = 0;
  fc.assert(
    fc.property(
      // operator configuration; a value it rejects renders nothing
      fc.record(
        {
          MODELSHIP_DEFAULT_MAX_BATCH_SIZE: int(1, 1024, 100_000),
          MODELSHIP_DEFAULT_MAX_BATCH_DELAY_US: int(0, 1_000_000, 20_000_000),
          MODELSHIP_DRAIN_DELAY_SECONDS: int(0, 300, 5000),
          MODELSHIP_SHUTDOWN_TIMEOUT_SECONDS: int(1, 600, 5000),
          MODELSHIP_RUNTIME_METRICS_PORT: int(0, 65535, 100_000),
        },
        { requiredKeys: [] },
      ),
      // ModelDeployment fields within the CRD's bounds (crds/modelship.dev_modeldeployments.yaml)
      fc.record(
        {
          maxBatchSize: fc.integer({ min: 1, max: 1024 }),
          maxDelayMicroseconds: fc.integer({ min: 0, max: 1_000_000 }),
        },
        { requiredKeys: [] },
      ),
      fc.option(dnsLabel, { nil: undefined }),
      fc.stringMatching(/^[A-Za-z0-9]([A-Za-z0-9._-]{0,20}[A-Za-z0-9])?$/),
      fc.constantFrom('https://m.example.com/a.onnx', 'http://m/a.onnx', 'file:///srv/a.onnx', 'pvc://claim-1/dir/a.onnx'),
      fc.option(fc.stringMatching(/^[0-9a-fA-F]{64}$/), { nil: undefined }),
      fc.boolean(),
      // spec.runtime.accessLog: anything the CRD's pattern admits
      fc.option(fc.stringMatching(new RegExp(crdAccessLogPattern)), { nil: undefined }),
      (operatorEnv, batching, name, version, uri, sha256, withKey, accessLog) => {
        let defaults: RuntimeDefaults;
        try {
          defaults = operatorDefaults(operatorEnv);
        } catch {
          return; // the operator refuses to start with this configuration
        }
        const md = modelDeployment(
          {
            runtime: {
              batching,
              ...(withKey ? { apiKeySecretRef: { name: 'k', key: 'v' } } : {}),
              ...(accessLog !== undefined ? { accessLog } : {}),
            },
          },
          { version, uri, ...(name ? { name } : {}), ...(sha256 ? { sha256 } : {}) },
        );
        assertPodServes(md, md.spec.model, defaults, renderPodTemplate(md, md.spec.model, defaults));
        rendered++;
      },
    ),
    { numRuns: 300 },
  );
  assert.ok(rendered >= 150, `only ${rendered} of 300 generated configurations were accepted by the operator`);
});
