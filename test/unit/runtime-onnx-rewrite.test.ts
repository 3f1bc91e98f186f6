/**
 * runtime/src/onnx: the protobuf wire format splits and joins any message byte for byte (every
 * fixture model, and random messages), the ZipMap rewrite removes only what it must, and files
 * that are not ONNX are named by their format.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { bytesField, decodeFields, encodeFields, WIRE, WireError, type Field } from '../../runtime/src/onnx/protobuf-wire.ts';
import { rewriteZipMap } from '../../runtime/src/onnx/zipmap.ts';
import { fileMentions, foreignFormat, prepareModelFile, SCAN_CHUNK } from '../../runtime/src/onnx/model-file.ts';
import { ROOT } from '@modelship/devcluster/runtime-process';

const MODELS = join(ROOT, 'examples', 'models');
const model = (name: string): Buffer => readFileSync(join(MODELS, name, 'model.onnx'));

test('decode then encode gives every fixture model back byte for byte', () => {
  const names = readdirSync(MODELS).filter((m) => m !== 'broken');
  assert.ok(names.length >= 8, names.join());
  for (const name of names) {
    const bytes = model(name);
    assert.ok(Buffer.from(encodeFields(decodeFields(bytes))).equals(bytes), name);
  }
});

test('random messages round-trip (property)', () => {
  const field = fc.oneof(
    fc.record({
      num: fc.integer({ min: 1, max: 536_870_911 }),
      wire: fc.constant<number>(WIRE.varint),
      value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    }),
    fc.record({ num: fc.integer({ min: 1, max: 1000 }), wire: fc.constant<number>(WIRE.bytes), value: fc.uint8Array({ maxLength: 300 }) }),
    fc.record({
      num: fc.integer({ min: 1, max: 1000 }),
      wire: fc.constant<number>(WIRE.fixed32),
      value: fc.uint8Array({ minLength: 4, maxLength: 4 }),
    }),
    fc.record({
      num: fc.integer({ min: 1, max: 1000 }),
      wire: fc.constant<number>(WIRE.fixed64),
      value: fc.uint8Array({ minLength: 8, maxLength: 8 }),
    }),
  );
  fc.assert(
    fc.property(fc.array(field, { maxLength: 20 }), (fields: Field[]) => {
      const encoded = encodeFields(fields);
      const back = decodeFields(encoded);
      assert.deepEqual(
        back.map((f) => [f.num, f.wire, f.value instanceof Uint8Array ? Buffer.from(f.value).toString('hex') : f.value]),
        fields.map((f) => [f.num, f.wire, f.value instanceof Uint8Array ? Buffer.from(f.value).toString('hex') : f.value]),
      );
      assert.ok(Buffer.from(encodeFields(back)).equals(Buffer.from(encoded)));
    }),
    { numRuns: 300 },
  );
});

test('truncated or malformed bytes are a WireError, never a hang or an out-of-range read', () => {
  // every prefix of a model: either a WireError or fields that encode back to exactly that prefix
  const bytes = model('iris-zipmap');
  let refused = 0;
  for (let cut = 0; cut <= bytes.length; cut++) {
    const prefix = bytes.subarray(0, cut);
    try {
      assert.ok(Buffer.from(encodeFields(decodeFields(prefix))).equals(prefix), `cut at ${cut}`);
    } catch (err) {
      assert.ok(err instanceof WireError, `cut at ${cut}: ${String(err)}`);
      refused++;
    }
  }
  assert.ok(refused > bytes.length / 2, `${refused} of ${bytes.length} prefixes refused`);
  assert.throws(() => decodeFields(Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])), /runs past the message/);
  assert.throws(() => decodeFields(Uint8Array.from([0x0b])), /unsupported wire type 3/);
  assert.throws(() => decodeFields(Uint8Array.from([0x08, ...Array(11).fill(0xff)])), /varint/);
  assert.throws(() => decodeFields(Uint8Array.from([0x00, 0x01])), /field number 0/);
});

const NEEDLE = Buffer.from('ZipMap');
const modelFile = (name: string) => join(MODELS, name, 'model.onnx');

test('a model without ZipMap is left alone', async () => {
  for (const name of ['iris', 'two-inputs', 'dtypes', 'iris-slow']) {
    assert.equal(await fileMentions(modelFile(name), NEEDLE), false, name);
    assert.equal(rewriteZipMap(model(name)), undefined, name);
    assert.deepEqual(await prepareModelFile(modelFile(name)), { classLabels: new Map() }, name);
  }
});

test('the chunked scan finds the op name at every offset across a chunk boundary, and in no file without it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-scan-'));
  try {
    const file = join(dir, 'model.onnx');
    // the name ending just before, straddling (each split), and starting just after the boundary
    for (let at = SCAN_CHUNK - NEEDLE.length - 1; at <= SCAN_CHUNK + 1; at++) {
      const bytes = Buffer.alloc(2 * SCAN_CHUNK + 10);
      NEEDLE.copy(bytes, at);
      writeFileSync(file, bytes);
      assert.equal(await fileMentions(file, NEEDLE), true, `at ${at}`);
    }
    // almost the name on both sides of the boundary: no false hit from the carried tail
    const near = Buffer.alloc(2 * SCAN_CHUNK);
    Buffer.from('ZipMa').copy(near, SCAN_CHUNK - 5);
    Buffer.from('ipMap').copy(near, SCAN_CHUNK + 1);
    writeFileSync(file, near);
    assert.equal(await fileMentions(file, NEEDLE), false);
    writeFileSync(file, '');
    assert.equal(await fileMentions(file, NEEDLE), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a file with a zip header is refused as a zip even when the op name occurs later in it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-scan-'));
  try {
    // the op name far past the first chunk: refused from the header, not rewritten
    const file = join(dir, 'model.pt');
    const bytes = Buffer.alloc(3 * SCAN_CHUNK);
    Buffer.from('PK\x03\x04', 'latin1').copy(bytes, 0);
    NEEDLE.copy(bytes, 2 * SCAN_CHUNK);
    writeFileSync(file, bytes);
    await assert.rejects(prepareModelFile(file), /is a zip archive .*not an ONNX model/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the skl2onnx default classifier: ZipMap removed, its output typed FP32 [N, 3], the labels returned, the rest unchanged', async () => {
  const before = model('iris-zipmap');
  assert.equal(await fileMentions(modelFile('iris-zipmap'), NEEDLE), true);
  const r = rewriteZipMap(before);
  assert.ok(r);
  assert.deepEqual([...r.classLabels], [['output_probability', ['setosa', 'versicolor', 'virginica']]]);
  assert.equal(Buffer.from(r.bytes).includes('ZipMap'), false);
  // every field of the model but the graph is the same bytes; the graph lost exactly one node
  const [a, b] = [decodeFields(before), decodeFields(r.bytes)];
  assert.deepEqual(
    a.filter((f) => f.num !== 7).map((f) => f.num),
    b.filter((f) => f.num !== 7).map((f) => f.num),
  );
  const nodes = (m: Field[]) => decodeFields(m.find((f) => f.num === 7)!.value as Uint8Array).filter((f) => f.num === 1).length;
  assert.equal(nodes(b), nodes(a) - 1);
  // idempotent: nothing left to rewrite
  assert.equal(rewriteZipMap(r.bytes), undefined);
});

test('a graph of 20,000 ZipMaps: every output-producing one removed in one pass (under 10 s), one that feeds another node kept', () => {
  const n = 20_000;
  const node = (input: string, output: string) =>
    bytesField(1, encodeFields([bytesField(1, input), bytesField(2, output), bytesField(4, 'ZipMap')]));
  const output = (name: string) => bytesField(12, encodeFields([bytesField(1, name)]));
  const graph: Field[] = [];
  for (let i = 0; i < n; i++) graph.push(node(`p${i}`, `o${i}`), output(`o${i}`));
  // a ZipMap feeding another: the second is removed, the first (not producing a graph output) kept
  graph.push(node('q', 'mid'), node('mid', 'end'), output('end'));
  const started = performance.now();
  const r = rewriteZipMap(encodeFields([bytesField(7, encodeFields(graph))]));
  const ms = performance.now() - started;
  assert.ok(r);
  assert.equal(r.classLabels.size, n + 1);
  assert.ok(ms < 10_000, `${ms.toFixed(0)} ms`);
  const left = decodeFields(decodeFields(r.bytes)[0]!.value as Uint8Array).filter((f) => f.num === 1);
  assert.deepEqual(
    left.map((f) => decodeFields(f.value as Uint8Array).map((x) => Buffer.from(x.value as Uint8Array).toString())),
    [['q', 'end', 'ZipMap']],
    'only the ZipMap that feeds another node is kept, now writing the renamed output',
  );
});

test('files users mistake for models are named by their format', () => {
  const joblib = readFileSync(join(MODELS, 'iris', 'model.joblib'));
  assert.match(foreignFormat(joblib.subarray(0, 8)) ?? '', /Python pickle/);
  assert.match(foreignFormat(Buffer.from('PK\x03\x04rest', 'latin1')) ?? '', /zip archive .*PyTorch/);
  assert.match(foreignFormat(Buffer.from('\x89HDF\r\n\x1a\n', 'latin1')) ?? '', /HDF5/);
  assert.match(foreignFormat(Buffer.from([0x1f, 0x8b, 8, 0])) ?? '', /gzip/);
  for (const name of ['iris', 'iris-zipmap', 'dtypes', 'broken'])
    assert.equal(foreignFormat(readFileSync(join(MODELS, name, 'model.onnx')).subarray(0, 8)), undefined, name);
  assert.equal(foreignFormat(new Uint8Array(0)), undefined);
});
