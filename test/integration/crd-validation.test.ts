// The ModelDeployment CRD on a real kube-apiserver: defaults, refusal of bad input with a message
// naming the field, unknown-field handling, kubectl explain / get / scale, and the examples.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { dump, loadAll } from 'js-yaml';
import { repoRoot } from '@modelship/devcluster/binaries';
import { manifest, output, useCrdNamespace } from './crd-namespace.ts';

const URI = 'https://models.example.com/iris/1/model.onnx';
const SHA = 'e8fc777f90a039e4e8ed748ddd9b70e78ca8949321b413ac949b664635ac4553';

/** Bad inputs: each must be refused at apply time with these fragments in the error. */
const BAD_INPUTS: { what: string; name?: string; spec: Record<string, unknown>; expect: (string | RegExp)[] }[] = [
  {
    what: 'missing model.version',
    spec: { model: { uri: URI } },
    expect: ['spec.model.version: Required value'],
  },
  {
    what: 'a uri scheme outside the allow-list (ftp://)',
    spec: { model: { version: '1', uri: 'ftp://models.example.com/iris.onnx' } },
    expect: [
      'spec.model.uri: Invalid value: "ftp://models.example.com/iris.onnx"',
      'uri must start with one of the schemes http://, https://, file://, pvc://, oci:// or s3://',
    ],
  },
  {
    what: 'a malformed sha256',
    spec: { model: { version: '1', uri: URI, sha256: SHA.toUpperCase() } },
    expect: ['spec.model.sha256', 'sha256 must be 64 lowercase hex characters'],
  },
  {
    what: 'a sha256 of the wrong length',
    spec: { model: { version: '1', uri: URI, sha256: 'abc123' } },
    expect: ['spec.model.sha256: Invalid value: "abc123"', 'must be 64 lowercase hex characters'],
  },
  {
    what: 'an access log setting that is not off, on or 1/N',
    spec: { model: { version: '1', uri: URI }, runtime: { accessLog: '1/0' } },
    expect: ['spec.runtime.accessLog: Invalid value: "1/0"', 'should match'],
  },
  {
    what: 'minReplicas > maxReplicas',
    spec: { model: { version: '1', uri: URI }, autoscaling: { minReplicas: 5, maxReplicas: 2 } },
    expect: ['spec.autoscaling.minReplicas', 'minReplicas must be less than or equal to maxReplicas'],
  },
  {
    what: 'negative replicas',
    spec: { model: { version: '1', uri: URI }, replicas: -1 },
    expect: ['spec.replicas: Invalid value: -1', 'should be greater than or equal to 0'],
  },
  {
    what: 'an unknown format',
    spec: { model: { version: '1', uri: URI, format: 'pytorch' } },
    expect: ['spec.model.format: Unsupported value: "pytorch"', 'supported values: "onnx"'],
  },
  {
    what: 'a pvc:// uri without a path',
    spec: { model: { version: '1', uri: 'pvc://models' } },
    expect: ['spec.model.uri: Invalid value: "pvc://models"', 'a pvc:// uri must be pvc://<claim>/<path>'],
  },
  {
    what: 'a pvc:// uri with an invalid claim name',
    spec: { model: { version: '1', uri: 'pvc://Models_1/iris.onnx' } },
    expect: ['spec.model.uri', 'a pvc:// uri must be pvc://<claim>/<path>'],
  },
  {
    what: 'a pvc:// uri whose path climbs out of the claim',
    spec: { model: { version: '1', uri: 'pvc://models/iris/../../etc/passwd' } },
    expect: ['spec.model.uri', 'a pvc:// path must stay inside the claim'],
  },
  {
    what: 'a pvc:// uri with a percent-encoded ".." segment',
    spec: { model: { version: '1', uri: 'pvc://models/%2E%2e/secret.onnx' } },
    expect: ['spec.model.uri', 'a pvc:// path must stay inside the claim'],
  },
  {
    what: 'an http uri without a host',
    spec: { model: { version: '1', uri: 'https:///iris.onnx' } },
    expect: ['spec.model.uri', 'an http:// or https:// uri must be an absolute URL with a host'],
  },
  {
    what: 'a file:// uri with a host',
    spec: { model: { version: '1', uri: 'file://server/models/iris.onnx' } },
    expect: ['spec.model.uri', 'a file:// uri must be file:///<absolute path>'],
  },
  {
    what: 'a version with characters outside the pattern',
    spec: { model: { version: 'v1 beta', uri: URI } },
    expect: ['spec.model.version: Invalid value: "v1 beta"', 'should match'],
  },
  {
    what: 'an unquoted numeric version',
    spec: { model: { version: 3, uri: URI } },
    expect: ['spec.model.version', 'must be of type string'],
  },
  {
    what: 'maxSurge and maxUnavailable both 0',
    spec: { model: { version: '1', uri: URI }, rollout: { maxSurge: 0, maxUnavailable: '0%' } },
    expect: ['spec.rollout: Invalid value', 'maxSurge and maxUnavailable must not both be 0'],
  },
  {
    what: 'targetCPUUtilizationPercentage above 100',
    spec: { model: { version: '1', uri: URI }, autoscaling: { maxReplicas: 3, targetCPUUtilizationPercentage: 150 } },
    expect: ['spec.autoscaling.targetCPUUtilizationPercentage', 'less than or equal to 100'],
  },
  {
    what: 'a resource quantity that is not a quantity',
    spec: { model: { version: '1', uri: URI }, resources: { requests: { cpu: 'lots' } } },
    expect: ['spec.resources.requests.cpu: Invalid value: "lots"'],
  },
  {
    what: 'an apiKeySecretRef without a key',
    spec: { model: { version: '1', uri: URI }, runtime: { apiKeySecretRef: { name: 'iris-key' } } },
    expect: ['spec.runtime.apiKeySecretRef.key: Required value'],
  },
  {
    what: 'service.tls without a secretName',
    spec: { model: { version: '1', uri: URI }, service: { tls: {} } },
    expect: ['spec.service.tls.secretName: Required value'],
  },
  {
    what: 'a tls clientCA naming both a Secret and a ConfigMap',
    spec: { model: { version: '1', uri: URI }, service: { tls: { secretName: 't', clientCA: { secretName: 'a', configMapName: 'b' } } } },
    expect: ['spec.service.tls.clientCA', 'clientCA names exactly one of secretName and configMapName'],
  },
  {
    what: 'a tls clientCA naming neither',
    spec: { model: { version: '1', uri: URI }, service: { tls: { secretName: 't', clientCA: { key: 'ca.pem' } } } },
    expect: ['clientCA names exactly one of secretName and configMapName'],
  },
  {
    what: 'an enabled networkPolicy without ingressFrom',
    spec: { model: { version: '1', uri: URI }, networkPolicy: { enabled: true } },
    expect: ['spec.networkPolicy.ingressFrom: Required value', 'an enabled networkPolicy needs at least one ingressFrom peer'],
  },
  {
    what: 'a networkPolicy peer with both a podSelector and an ipBlock',
    spec: {
      model: { version: '1', uri: URI },
      networkPolicy: { enabled: true, ingressFrom: [{ podSelector: {}, ipBlock: { cidr: '10.0.0.0/8' } }] },
    },
    expect: ['spec.networkPolicy.ingressFrom[0]', 'exactly one kind of peer'],
  },
  {
    what: 'an empty networkPolicy peer',
    spec: { model: { version: '1', uri: URI }, networkPolicy: { enabled: true, ingressFrom: [{}] } },
    expect: ['spec.networkPolicy.ingressFrom[0]', 'exactly one kind of peer'],
  },
  {
    what: 'an ipBlock that is not a CIDR',
    spec: { model: { version: '1', uri: URI }, networkPolicy: { enabled: true, ingressFrom: [{ ipBlock: { cidr: '10.0.0.300/8' } }] } },
    expect: ['spec.networkPolicy.ingressFrom[0].ipBlock.cidr', 'cidr must be an IPv4 or IPv6 range in CIDR notation'],
  },
  {
    what: 'a selector requirement In without values',
    spec: {
      model: { version: '1', uri: URI },
      networkPolicy: {
        enabled: true,
        ingressFrom: [{ namespaceSelector: {} }],
        metricsFrom: [{ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In' }] } }],
      },
    },
    expect: ['spec.networkPolicy.metricsFrom[0].namespaceSelector.matchExpressions[0].values', 'values must be non-empty for In and NotIn'],
  },
  {
    what: 'a selector operator outside the enum',
    spec: {
      model: { version: '1', uri: URI },
      networkPolicy: {
        enabled: true,
        ingressFrom: [{ podSelector: { matchExpressions: [{ key: 'app', operator: 'Like', values: ['x'] }] } }],
      },
    },
    expect: ['spec.networkPolicy.ingressFrom[0].podSelector.matchExpressions[0].operator: Unsupported value: "Like"'],
  },
  {
    what: 'a name that cannot name a Service (DNS-1035)',
    name: '1iris',
    spec: { model: { version: '1', uri: URI } },
    expect: ['metadata.name: Invalid value: "1iris"'],
  },
];

describe('ModelDeployment CRD on a real API server', () => {
  const crd = useCrdNamespace('crd-validation');
  const { kubectl, get } = crd;

  test('a minimal ModelDeployment is accepted and the schema fills in the defaults', async () => {
    const r = await kubectl(['apply', '-n', crd.ns, '-f', '-'], manifest('minimal', { model: { version: '1', uri: URI } }));
    assert.equal(r.code, 0, output(r));
    const md = await get('minimal');
    assert.deepEqual(md.spec, {
      model: { version: '1', uri: URI, format: 'onnx' },
      replicas: 1,
      rollout: {
        strategy: 'RollingUpdate',
        maxSurge: 1,
        maxUnavailable: 0,
        progressDeadlineSeconds: 300,
        autoRollback: true,
        historyLimit: 10,
      },
      service: { type: 'ClusterIP', port: 80 },
    });
    assert.equal(md.spec.model.name, undefined, 'model.name is defaulted by the operator, not the schema');
  });

  test('nested defaults apply inside objects the user wrote partly', async () => {
    const r = await kubectl(
      ['apply', '-n', crd.ns, '-f', '-'],
      manifest('partial', {
        model: { version: '2', uri: 'pvc://models/iris/2/model.onnx', sha256: SHA },
        autoscaling: { maxReplicas: 4 },
        rollout: { autoRollback: false },
        service: { port: 8080 },
      }),
    );
    assert.equal(r.code, 0, output(r));
    const md = await get('partial');
    assert.deepEqual(md.spec.autoscaling, { minReplicas: 1, maxReplicas: 4, metric: 'cpu' });
    assert.deepEqual(md.spec.rollout, {
      strategy: 'RollingUpdate',
      maxSurge: 1,
      maxUnavailable: 0,
      progressDeadlineSeconds: 300,
      autoRollback: false,
      historyLimit: 10,
    });
    assert.deepEqual(md.spec.service, { type: 'ClusterIP', port: 8080 });
  });

  test('spec.runtime.accessLog accepts off, on and 1/N up to 1/1000000', async () => {
    for (const accessLog of ['off', 'on', '1/1', '1/100', '1/1000000']) {
      const r = await kubectl(
        ['apply', '--dry-run=server', '-n', crd.ns, '-f', '-'],
        manifest('access-log', { model: { version: '1', uri: URI }, runtime: { accessLog } }),
      );
      assert.equal(r.code, 0, `${accessLog}: ${output(r)}`);
    }
  });

  for (const bad of BAD_INPUTS) {
    test(`refuses ${bad.what}, naming the field`, async () => {
      const name = bad.name ?? 'bad';
      const r = await kubectl(['apply', '-n', crd.ns, '-f', '-'], manifest(name, bad.spec));
      assert.notEqual(r.code, 0, `expected a refusal\n${output(r)}`);
      for (const fragment of bad.expect) {
        if (typeof fragment === 'string')
          assert.ok(r.stderr.includes(fragment), `expected ${JSON.stringify(fragment)} in the error\n${output(r)}`);
        else assert.match(r.stderr, fragment);
      }
      const exists = await kubectl(['get', 'mdep', name, '-n', crd.ns]);
      assert.notEqual(exists.code, 0, 'nothing was stored');
    });
  }

  test('refuses unknown fields with kubectl (strict server-side field validation), naming each one', async () => {
    const yaml = manifest('unknown', { model: { version: '1', uri: URI, sha265: SHA }, replicaCount: 2 });
    const r = await kubectl(['apply', '-n', crd.ns, '-f', '-'], yaml);
    assert.notEqual(r.code, 0, output(r));
    assert.match(r.stderr, /strict decoding error: .*unknown field "spec\.model\.sha265"/);
    assert.match(r.stderr, /unknown field "spec\.replicaCount"/);
    // The same for a server-side apply and for an update of an existing object.
    // (Server-side apply reports the unknown fields it meets first, in no fixed order: use one.)
    const ssa = await kubectl(
      ['apply', '--server-side', '-n', crd.ns, '-f', '-'],
      manifest('unknown', { model: { version: '1', uri: URI, sha265: SHA } }),
    );
    assert.notEqual(ssa.code, 0, output(ssa));
    assert.match(ssa.stderr, /\.spec\.model\.sha265: field not declared in schema/);
    // An update by kubectl replace (also strict by default) is refused the same way.
    const current = await get('minimal');
    const edited = { ...current, spec: { ...current.spec, rollout: { ...current.spec.rollout, autoRollbak: false } } };
    const replace = await kubectl(['replace', '-n', crd.ns, '-f', '-'], JSON.stringify(edited));
    assert.notEqual(replace.code, 0, output(replace));
    assert.match(replace.stderr, /unknown field "spec\.rollout\.autoRollbak"/);
  });

  test('a request without strict field validation gets unknown fields pruned, with a warning by default', async () => {
    // --validate=false sends fieldValidation=Ignore: silently pruned.
    const r = await kubectl(
      ['apply', '--validate=false', '-n', crd.ns, '-f', '-'],
      manifest('pruned', { model: { version: '1', uri: URI, colour: 'blue' } }),
    );
    assert.equal(r.code, 0, output(r));
    assert.deepEqual((await get('pruned')).spec.model, { version: '1', uri: URI, format: 'onnx' });
    // No fieldValidation at all (kubectl patch has no --validate; many API clients) is the API
    // server's default, Warn: the request succeeds, the field is dropped, a warning names it.
    const patch = await kubectl([
      'patch',
      'mdep',
      'pruned',
      '-n',
      crd.ns,
      '--type=merge',
      '-p',
      '{"spec":{"rollout":{"autoRollbak":false}}}',
    ]);
    assert.equal(patch.code, 0, output(patch));
    assert.match(patch.stderr, /Warning: unknown field "spec\.rollout\.autoRollbak"/);
    assert.equal((await get('pruned')).spec.rollout?.autoRollback, true);
  });

  test('the status subresource accepts the status the operator writes, and the printer columns show it', async () => {
    const status = {
      observedGeneration: 1,
      replicas: 2,
      readyReplicas: 2,
      updatedReplicas: 2,
      availableReplicas: 2,
      selector: 'app.kubernetes.io/name=modelship-runtime,app.kubernetes.io/instance=minimal',
      currentVersion: '1',
      url: `http://minimal.${crd.ns}.svc.cluster.local/v2/models/minimal`,
      conditions: ['Ready', 'Available', 'Progressing', 'Degraded'].map((type) => ({
        type,
        status: type === 'Degraded' || type === 'Progressing' ? 'False' : 'True',
        reason: 'RolloutComplete',
        message: '',
        observedGeneration: 1,
        lastTransitionTime: '2025-01-01T00:00:00Z',
      })),
      history: [
        {
          version: '1',
          uri: URI,
          sha256: SHA,
          templateHash: '5d7f9c8b6',
          startedAt: '2025-01-01T00:00:00Z',
          finishedAt: '2025-01-01T00:01:00Z',
          outcome: 'Succeeded',
          reason: 'RolloutComplete',
          message: 'version 1 is serving',
        },
      ],
    };
    const r = await kubectl([
      'patch',
      'mdep',
      'minimal',
      '-n',
      crd.ns,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status }),
    ]);
    assert.equal(r.code, 0, output(r));
    const md = await get('minimal');
    assert.deepEqual(md.status, status);

    const bad = await kubectl([
      'patch',
      'mdep',
      'minimal',
      '-n',
      crd.ns,
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"status":{"history":[{"version":"1","uri":"x","templateHash":"h","startedAt":"2025-01-01T00:00:00Z","outcome":"Done"}]}}',
    ]);
    assert.notEqual(bad.code, 0, output(bad));
    assert.match(bad.stderr, /status\.history\[0\]\.outcome: Unsupported value: "Done"/);

    const table = await kubectl(['get', 'mdep', 'minimal', '-n', crd.ns]);
    assert.equal(table.code, 0, output(table));
    const [header, row] = table.stdout.trim().split('\n');
    assert.deepEqual(header?.split(/\s+/), [
      'NAME',
      'MODEL',
      'CURRENT',
      'DESIRED',
      'READY',
      'REPLICAS',
      'CANARY',
      'WEIGHT',
      'EXPERIMENT',
      'AGE',
    ]);
    assert.match(row ?? '', /^minimal\s+1\s+1\s+True\s+2\s+\S+$/);
    const wide = await kubectl(['get', 'mdep', 'minimal', '-n', crd.ns, '-o', 'wide']);
    assert.deepEqual(wide.stdout.split('\n')[0]?.trim().split(/\s+/), [
      'NAME',
      'MODEL',
      'CURRENT',
      'DESIRED',
      'READY',
      'REPLICAS',
      'CANARY',
      'WEIGHT',
      'EXPERIMENT',
      'AGE',
      'UPDATING',
      'FAILED',
      'URL',
    ]);
    assert.ok(wide.stdout.includes(status.url), wide.stdout);
  });

  test('kubectl get by short name and by category shows the printer columns', async () => {
    for (const resource of ['mdep', 'modelship']) {
      const r = await kubectl(['get', resource, '-n', crd.ns]);
      assert.equal(r.code, 0, output(r));
      assert.match(
        r.stdout.split('\n')[0] ?? '',
        /^NAME\s+MODEL\s+CURRENT\s+DESIRED\s+READY\s+REPLICAS\s+CANARY\s+WEIGHT\s+EXPERIMENT\s+AGE$/,
      );
      assert.match(r.stdout, /\nminimal\s/);
    }
  });

  test('kubectl explain modeldeployment.spec.model prints the descriptions from the CRD', async () => {
    const r = await kubectl(['explain', 'modeldeployment.spec.model']);
    assert.equal(r.code, 0, output(r));
    const flat = r.stdout.replace(/\s+/g, ' ');
    assert.ok(flat.includes('The model to serve: where to download it from'), r.stdout);
    for (const field of ['name', 'version', 'uri', 'sha256', 'format'])
      assert.match(r.stdout, new RegExp(`^\\s+${field}\\s+<`, 'm'), field);
    assert.ok(flat.includes('uri <string> -required-'), r.stdout);
    assert.ok(flat.includes('pvc://<claim>/<path> (a file on a PersistentVolumeClaim'), r.stdout);
    const rollout = await kubectl(['explain', 'mdep.spec.rollout.autoRollback']);
    assert.equal(rollout.code, 0, output(rollout));
    assert.match(rollout.stdout.replace(/\s+/g, ' '), /go back to the last version that succeeded/);
  });

  test('a networkPolicy that is switched off needs no peers; kubectl explain documents the fields', async () => {
    const r = await kubectl(
      ['apply', '-n', crd.ns, '-f', '-'],
      manifest('np-off', { model: { version: '1', uri: URI }, networkPolicy: { enabled: false } }),
    );
    assert.equal(r.code, 0, output(r));
    const explain = await kubectl(['explain', 'mdep.spec.networkPolicy']);
    assert.equal(explain.code, 0, output(explain));
    const flat = explain.stdout.replace(/\s+/g, ' ');
    assert.ok(flat.includes('admits traffic to its pods only on the inference port from ingressFrom'), explain.stdout);
    for (const field of ['enabled', 'ingressFrom', 'metricsFrom'])
      assert.match(explain.stdout, new RegExp(`^\\s+${field}\\s+<`, 'm'), field);
    const peer = await kubectl(['explain', 'mdep.spec.networkPolicy.ingressFrom.ipBlock.cidr']);
    assert.equal(peer.code, 0, output(peer));
    assert.match(peer.stdout, /CIDR notation/);
  });

  test('kubectl scale works through the scale subresource', async () => {
    const r = await kubectl(['scale', 'mdep/minimal', '-n', crd.ns, '--replicas=3']);
    assert.equal(r.code, 0, output(r));
    assert.equal((await get('minimal')).spec.replicas, 3);
    const scale = await kubectl(['get', '--raw', `/apis/modelship.dev/v1alpha1/namespaces/${crd.ns}/modeldeployments/minimal/scale`]);
    assert.equal(scale.code, 0, output(scale));
    const body = JSON.parse(scale.stdout) as { kind: string; spec: { replicas: number }; status: { replicas: number; selector: string } };
    assert.equal(body.kind, 'Scale');
    assert.equal(body.spec.replicas, 3);
    assert.equal(body.status.selector, 'app.kubernetes.io/name=modelship-runtime,app.kubernetes.io/instance=minimal');
    const negative = await kubectl(['scale', 'mdep/minimal', '-n', crd.ns, '--replicas=-1']);
    assert.notEqual(negative.code, 0, output(negative));
  });

  test('every ModelDeployment under examples/ passes a server-side dry-run', async () => {
    const files = readdirSync(join(repoRoot, 'examples'), { recursive: true, encoding: 'utf8' })
      .filter((f) => /\.ya?ml$/.test(f) && !f.split('/').some((p) => p.startsWith('.') || p === 'node_modules'))
      .map((f) => join(repoRoot, 'examples', f));
    let checked = 0;
    for (const file of files) {
      for (const doc of loadAll(readFileSync(file, 'utf8'))) {
        const obj = doc as { kind?: string; apiVersion?: string; metadata?: { name?: string } } | null;
        if (obj?.kind !== 'ModelDeployment' || !obj.apiVersion?.startsWith('modelship.dev/')) continue;
        const r = await kubectl(['apply', '--dry-run=server', '-n', crd.ns, '-f', '-'], dump(obj));
        assert.equal(r.code, 0, `${relative(repoRoot, file)} (${obj.metadata?.name}):\n${output(r)}`);
        checked++;
      }
    }
    assert.ok(checked >= 3, `expected the example ModelDeployments, found ${checked}`);
  });
});
