// Shared pieces of the e2e tests: the iris example as applied, its expected outputs, a namespace
// that enforces the restricted Pod Security Standard.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { repoRoot } from '../harness/binaries.ts';
import type { Clients } from '../integration/kube.ts';

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

export function exampleIris(modelServerUrl: string): Record<string, unknown> {
  const md = loadYaml(readFileSync(join(repoRoot, 'examples/iris/modeldeployment.yaml'), 'utf8')) as {
    spec: { model: { uri: string; sha256: string } };
  };
  md.spec.model.uri = `${modelServerUrl}/iris/model.onnx`;
  return md as unknown as Record<string, unknown>;
}
