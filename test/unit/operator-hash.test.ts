import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { canonicalJson, contentHash, sameJson } from '../../operator/src/render/hash.ts';

/** The first implementation, whose output the pod-template hashes of running Deployments carry. */
function referenceCanonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(referenceCanonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${referenceCanonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * JSON-like values whose object entries may be undefined (as a rendered object's optional fields
 * are); with `holes`, array elements too (JSON has none: sameJson is not asked about them).
 */
const jsonishWith = (holes: boolean) =>
  fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.constantFrom(null, true, false, 0, -1, 1.5, '', 'a', 'é', '\u{1F600}', '"quoted"'),
      fc.string(),
      fc.integer(),
      fc.array(holes ? fc.option(tie('value'), { nil: undefined }) : tie('value'), { maxLength: 4 }),
      fc.dictionary(fc.constantFrom('a', 'b', 'B', 'é', '_', 'a.b', '10', '9', ''), fc.option(tie('value'), { nil: undefined }), {
        maxKeys: 5,
      }),
    ),
  })).value;
const jsonish = jsonishWith(false);

/** The same value with every object's keys inserted in reverse order. */
function reversedKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reversedKeys);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .reverse()
        .map(([k, x]) => [k, reversedKeys(x)]),
    );
  return v;
}

describe('canonicalJson and sameJson', () => {
  it('canonicalJson writes exactly what the first implementation wrote (persisted template hashes stay the same)', () => {
    fc.assert(
      fc.property(jsonishWith(true), (v) => canonicalJson(v) === referenceCanonicalJson(v)),
      { numRuns: 2_000 },
    );
  });

  it('a known pod-template hash is unchanged', () => {
    const template = {
      metadata: { labels: { b: '2', a: '1' } },
      spec: { containers: [{ name: 'serve', args: ['--port', '8080'], env: undefined }] },
    };
    assert.equal(
      canonicalJson(template),
      '{"metadata":{"labels":{"a":"1","b":"2"}},"spec":{"containers":[{"args":["--port","8080"],"name":"serve"}]}}',
    );
    assert.equal(contentHash(template), contentHash(reversedKeys(template)));
  });

  it('sameJson answers as comparing the two canonical strings does', () => {
    fc.assert(
      fc.property(jsonish, jsonish, (a, b) => sameJson(a, b) === (canonicalJson(a) === canonicalJson(b))),
      { numRuns: 2_000 },
    );
    fc.assert(
      fc.property(jsonish, (a) => sameJson(a, reversedKeys(a)) && sameJson(reversedKeys(a), a)),
      { numRuns: 1_000 },
    );
  });

  it('sameJson: undefined entries are absent, order of keys does not matter, arrays do', () => {
    assert.ok(sameJson({ a: 1, b: undefined }, { a: 1 }));
    assert.ok(sameJson({ a: 1, c: { x: [1, 2] } }, { c: { x: [1, 2] }, a: 1 }));
    assert.ok(!sameJson({ a: 1 }, { a: 1, b: null }));
    assert.ok(!sameJson({ x: [1, 2] }, { x: [2, 1] }));
    assert.ok(!sameJson({ a: '1' }, { a: 1 }));
    assert.ok(!sameJson([], {}));
    assert.ok(!sameJson({}, null));
  });
});
