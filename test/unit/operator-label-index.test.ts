// The Pod cache's index by ModelDeployment (operator/src/controller/label-index.ts): after any
// sequence of informer events it answers what a filter over the cache would.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { V1Pod } from '@kubernetes/client-node';
import { LabelIndex } from '../../operator/src/controller/label-index.ts';

const LABEL = 'app.kubernetes.io/instance';

const pod = (namespace: string, name: string, instance: string | undefined): V1Pod => ({
  metadata: { namespace, name, labels: instance === undefined ? { other: 'x' } : { [LABEL]: instance, other: 'x' } },
});

test('add, relabel and delete move a pod between groups', () => {
  const index = new LabelIndex<V1Pod>(LABEL);
  index.onChange(pod('a', 'p1', 'iris'), 'add');
  index.onChange(pod('a', 'p2', 'iris'), 'add');
  index.onChange(pod('b', 'p1', 'iris'), 'add');
  assert.deepEqual(
    index.of('a', 'iris').map((p) => p.metadata?.name),
    ['p1', 'p2'],
  );
  assert.equal(index.of('b', 'iris').length, 1, 'namespaces are separate');
  index.onChange(pod('a', 'p1', 'mnist'), 'update');
  assert.deepEqual(
    index.of('a', 'iris').map((p) => p.metadata?.name),
    ['p2'],
  );
  assert.deepEqual(
    index.of('a', 'mnist').map((p) => p.metadata?.name),
    ['p1'],
  );
  index.onChange(pod('a', 'p2', undefined), 'update');
  assert.deepEqual(index.of('a', 'iris'), [], 'a pod that loses the label leaves its group');
  index.onChange(pod('a', 'p1', 'mnist'), 'delete');
  assert.deepEqual(index.of('a', 'mnist'), []);
  assert.deepEqual(index.of('nowhere', 'iris'), []);
});

test('after any sequence of events, of() equals a filter over the cache', () => {
  const event = fc.record({
    verb: fc.constantFrom('add' as const, 'update' as const, 'delete' as const),
    namespace: fc.constantFrom('a', 'b'),
    name: fc.constantFrom('p1', 'p2', 'p3', 'p4'),
    instance: fc.option(fc.constantFrom('iris', 'mnist', 'iris-canary'), { nil: undefined }),
  });
  fc.assert(
    fc.property(fc.array(event, { maxLength: 60 }), (events) => {
      const index = new LabelIndex<V1Pod>(LABEL);
      const cache = new Map<string, V1Pod>();
      for (const e of events) {
        const obj = pod(e.namespace, e.name, e.instance);
        const id = `${e.namespace}/${e.name}`;
        if (e.verb === 'delete') cache.delete(id);
        else cache.set(id, obj);
        index.onChange(obj, e.verb);
      }
      for (const namespace of ['a', 'b'])
        for (const instance of ['iris', 'mnist', 'iris-canary']) {
          const expected = [...cache.values()]
            .filter((p) => p.metadata?.namespace === namespace && p.metadata.labels?.[LABEL] === instance)
            .map((p) => p.metadata?.name)
            .sort();
          const actual = index
            .of(namespace, instance)
            .map((p) => p.metadata?.name)
            .sort();
          assert.deepEqual(actual, expected);
        }
    }),
  );
});
