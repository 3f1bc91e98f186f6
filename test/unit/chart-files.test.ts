// Static checks of charts/modelship that need neither helm nor a cluster.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { load } from 'js-yaml';
import { repoRoot } from '@modelship/devcluster/binaries';

const chart = join(repoRoot, 'charts/modelship');
const read = (p: string) => readFileSync(join(repoRoot, p));

interface SchemaNode {
  type?: string | string[];
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
  items?: SchemaNode;
  oneOf?: SchemaNode[];
  [key: string]: unknown;
}

function* objectNodes(node: SchemaNode, path: string): Generator<[string, SchemaNode]> {
  const types = Array.isArray(node.type) ? node.type : [node.type];
  if (types.includes('object')) yield [path, node];
  for (const [k, child] of Object.entries(node.properties ?? {})) yield* objectNodes(child, `${path}/${k}`);
  if (node.items) yield* objectNodes(node.items, `${path}[]`);
  for (const [i, branch] of (node.oneOf ?? []).entries()) yield* objectNodes(branch, `${path}|${i}`);
  if (node.additionalProperties && typeof node.additionalProperties === 'object')
    yield* objectNodes(node.additionalProperties, `${path}{}`);
}

describe('chart files', () => {
  test('the chart CRD is byte-identical to crds/modelship.dev_modeldeployments.yaml', () => {
    const source = read('crds/modelship.dev_modeldeployments.yaml');
    const copy = read('charts/modelship/crds/modelship.dev_modeldeployments.yaml');
    assert.ok(
      source.equals(copy),
      'charts/modelship/crds/ has drifted from crds/: run `cp crds/modelship.dev_modeldeployments.yaml charts/modelship/crds/`',
    );
  });

  test('Chart.yaml: version and appVersion 0.1.0, appVersion matches the operator package', () => {
    const meta = load(readFileSync(join(chart, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
    assert.equal(meta.apiVersion, 'v2');
    assert.equal(meta.name, 'modelship');
    assert.equal(meta.version, '0.1.0');
    assert.equal(meta.appVersion, '0.1.0');
    const operatorPkg = JSON.parse(read('operator/package.json').toString()) as { version: string };
    assert.equal(meta.appVersion, operatorPkg.version, 'appVersion (the default image tag) follows the operator version');
  });

  test('values.schema.json: draft-07, every object closed (additionalProperties false, or a typed map)', () => {
    const schema = JSON.parse(readFileSync(join(chart, 'values.schema.json'), 'utf8')) as SchemaNode;
    assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
    const nodes = [...objectNodes(schema, '')];
    assert.ok(nodes.length > 10);
    for (const [path, node] of nodes) {
      if (path === '/global') continue; // set by Helm itself for subcharts
      const ap = node.additionalProperties;
      assert.ok(
        ap === false || (typeof ap === 'object' && ap.type === 'string'),
        `${path || '(root)'}: additionalProperties must be false (or {type: string} for a label/annotation map), is ${JSON.stringify(ap)}`,
      );
      if (ap === false) assert.ok(node.properties && Object.keys(node.properties).length > 0, `${path}: closed object without properties`);
    }
    const replicas = schema.properties?.replicas;
    assert.deepEqual([replicas?.type, replicas?.minimum], ['integer', 1]);
    assert.ok(typeof schema.properties?.image?.properties?.repository?.pattern === 'string', 'image.repository has a pattern');
  });

  test('every key of values.yaml is in the schema', () => {
    const values = load(readFileSync(join(chart, 'values.yaml'), 'utf8')) as Record<string, unknown>;
    const schema = JSON.parse(readFileSync(join(chart, 'values.schema.json'), 'utf8')) as SchemaNode;
    const check = (v: unknown, s: SchemaNode | undefined, path: string) => {
      assert.ok(s, `${path} is not in values.schema.json`);
      if (v && typeof v === 'object' && !Array.isArray(v) && s.properties) {
        for (const [k, child] of Object.entries(v)) check(child, s.properties[k], `${path}.${k}`);
      }
    };
    check(values, schema, 'values');
  });
});
