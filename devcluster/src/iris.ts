// Shared pieces of the e2e tests: the iris example as applied, its expected outputs, a namespace
// that enforces the restricted Pod Security Standard.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { repoRoot } from './binaries.ts';
import type { ModelDeployment } from '../../operator/src/api/types.generated.ts';
import { condition, createMd, waitForMd, type Clients } from './kube-clients.ts';
import { startOperator, type OperatorProcess } from './operator-process.ts';
import type { E2eCluster } from './e2e-cluster.ts';

export const expected = JSON.parse(readFileSync(join(repoRoot, 'examples/models/iris/expected.json'), 'utf8')) as {
  inputs: Array<{ name: string; datatype: string; shape: number[]; data: number[] }>;
  outputs: Array<{ name: string; datatype: string; shape: number[]; data: number[] }>;
};

export function assertIrisOutputs(body: string): void {
  const res = JSON.parse(body) as {
    model_name: string;
    outputs: Array<{ name: string; datatype: string; shape: number[]; data: number[] }>;
  };
  assert.equal(res.model_name, 'iris');
  for (const want of expected.outputs) {
    const got = res.outputs.find((o) => o.name === want.name);
    assert.ok(got, `output ${want.name} in ${body}`);
    assert.equal(got.datatype, want.datatype);
    assert.deepEqual(got.shape, want.shape);
    for (let i = 0; i < want.data.length; i++)
      assert.ok(Math.abs(Number(got.data[i]) - want.data[i]!) < 1e-5, `${want.name}[${i}]: ${got.data[i]} vs ${want.data[i]}`);
  }
}

export async function restrictedNamespace(c: Clients, prefix: string): Promise<string> {
  const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  await c.core.createNamespace({
    body: {
      metadata: {
        name,
        labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' },
      },
    },
  });
  return name;
}

/** examples/iris/modeldeployment.yaml as written, its model URI pointed at the node's model server. */
export function exampleIris(modelServerUrl: string): { metadata: { name: string }; spec: Record<string, unknown> } {
  const md = loadYaml(readFileSync(join(repoRoot, 'examples/iris/modeldeployment.yaml'), 'utf8')) as {
    metadata: { name: string };
    spec: { model: { uri: string; sha256: string } };
  };
  md.spec.model.uri = `${modelServerUrl}/iris/model.onnx`;
  return md as unknown as { metadata: { name: string }; spec: Record<string, unknown> };
}

/** Creates the ModelDeployment `md` in `namespace` and waits until it is Ready (pods really start: minutes). */
export async function createAndWaitReady(
  c: Clients,
  namespace: string,
  md: { metadata: { name: string }; spec: Record<string, unknown> },
): Promise<ModelDeployment> {
  const name = md.metadata.name;
  await createMd(c, namespace, name, md.spec);
  return waitForMd(c, namespace, name, `mdep/${name} Ready`, (m) => condition(m, 'Ready')?.status === 'True', 240_000);
}

/** The operator as a process on the host, watching `namespace`, with the runtime image built here. */
export function startE2eOperator(
  cluster: E2eCluster,
  namespace: string,
  opts: { identity?: string; args?: string[] } = {},
): Promise<OperatorProcess> {
  return startOperator({
    namespace,
    ...(opts.identity ? { identity: opts.identity } : {}),
    args: ['--runtime-image', cluster.runtimeImage, '--runtime-image-pull-policy', 'Never', ...(opts.args ?? [])],
  });
}
