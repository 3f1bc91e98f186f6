/**
 * The second generator of the fuzz suite (schemathesis cannot build the binary tensor extension):
 * fast-check builds V2 requests with Inference-Header-Content-Length from the served model's
 * metadata — every input binary or JSON, random batch sizes, input order, binary outputs — then
 * applies at most one random mutation (header length, binary_data_size, shape, datatype, name,
 * truncation, trailing bytes, BYTES length prefixes, invalid UTF-8, a random header JSON ...) and
 * sends it over HTTP to the real runtime process. It also sends random request paths with
 * percent-escapes, and TF-Serving bodies with random nesting, to every route.
 *
 * Every answer: no 5xx (except 503 with Retry-After), every 4xx/503 body {"error": "..."}.
 * Unmutated requests: 200, and on dtypes (identity per datatype) the outputs equal the inputs.
 * After the run: the process is still serving and its RSS stayed under RSS_BOUND_MIB.
 * Problems are collected (not stopped at the first) and fail the test with the list.
 *
 * FUZZ_BINARY_RUNS sets the case count per property (npm test: a bounded default); FUZZ_SEED the seed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeBinaryResponse, tensorBytes } from './binary.ts';
import {
  describeFinding,
  fuzzCount,
  recordFindings,
  recordStats,
  RSS_BOUND_MIB,
  sampleRss,
  sendRaw,
  verdict,
  type RawReply,
  type RawRequest,
} from './fuzz.ts';
import { startRuntime, type Runtime } from '@modelship/devcluster/runtime-process';

const RUNS = fuzzCount('FUZZ_BINARY_RUNS', 150);
const SEED = fuzzCount('FUZZ_SEED', 20261129);
const DATATYPES = ['BOOL', 'UINT8', 'INT8', 'UINT16', 'INT16', 'UINT32', 'INT32', 'UINT64', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'];

interface Spec {
  name: string;
  datatype: string;
  shape: number[];
}
interface Metadata {
  name: string;
  inputs: Spec[];
  outputs: Spec[];
}

/** Valid values of one datatype (what the identity model must give back unchanged). */
function valuesArb(datatype: string, n: number): fc.Arbitrary<unknown[]> {
  const el: Record<string, fc.Arbitrary<unknown>> = {
    BOOL: fc.boolean(),
    UINT8: fc.integer({ min: 0, max: 255 }),
    INT8: fc.integer({ min: -128, max: 127 }),
    UINT16: fc.integer({ min: 0, max: 65535 }),
    INT16: fc.integer({ min: -32768, max: 32767 }),
    UINT32: fc.integer({ min: 0, max: 4294967295 }),
    INT32: fc.integer({ min: -2147483648, max: 2147483647 }),
    UINT64: fc.maxSafeNat(),
    INT64: fc.maxSafeInteger(),
    FP16: fc.float({ min: -65504, max: 65504, noNaN: true }).map((v) => Math.f16round(v)),
    FP32: fc.float({ noNaN: true, noDefaultInfinity: true }),
    FP64: fc.double({ noNaN: true, noDefaultInfinity: true }),
    BYTES: fc.string({ unit: 'grapheme', maxLength: 12 }),
  };
  return fc.array(el[datatype] ?? fc.constant(0), { minLength: n, maxLength: n });
}

interface TensorCase {
  spec: Spec;
  shape: number[];
  values: unknown[];
  binary: boolean;
}
interface BinaryCase {
  tensors: TensorCase[];
  binaryOutputs: boolean;
  mutation: Mutation;
}
type Mutation =
  | { kind: 'none' }
  | { kind: 'headerLength'; delta: number }
  | { kind: 'headerLengthText'; text: string }
  | { kind: 'noHeaderLength' }
  | { kind: 'binarySize'; input: number; value: unknown }
  | { kind: 'shape'; input: number; shape: unknown }
  | { kind: 'datatype'; input: number; datatype: unknown }
  | { kind: 'name'; input: number; name: unknown }
  | { kind: 'truncate'; at: number }
  | { kind: 'append'; bytes: Uint8Array }
  | { kind: 'bytesPrefix'; value: number }
  | { kind: 'invalidUtf8' }
  | { kind: 'randomHeader'; json: string }
  | { kind: 'dropInput'; input: number }
  | { kind: 'jsonData'; input: number; data: unknown };

function caseArb(meta: Metadata): fc.Arbitrary<BinaryCase> {
  const n = meta.inputs.length;
  const idx = fc.nat({ max: n - 1 });
  const weird: fc.Arbitrary<unknown> = fc.oneof(
    fc.integer({ min: -5, max: 1 << 20 }),
    fc.constantFrom(-1, 2 ** 31, 2 ** 32 + 8, 2 ** 53, 1e300, 0.5, '8', null, true, [], {}),
  );
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    { weight: 6, arbitrary: fc.constant({ kind: 'none' as const }) },
    fc.record({ kind: fc.constant('headerLength' as const), delta: fc.integer({ min: -64, max: 64 }).filter((d) => d !== 0) }),
    fc.record({
      kind: fc.constant('headerLengthText' as const),
      text: fc.constantFrom('-1', '1e3', ' 12', '0x10', '', '99999999999999999999', 'abc'),
    }),
    fc.constant({ kind: 'noHeaderLength' as const }),
    fc.record({ kind: fc.constant('binarySize' as const), input: idx, value: weird }),
    fc.record({ kind: fc.constant('shape' as const), input: idx, shape: fc.oneof(fc.array(weird, { maxLength: 4 }), weird) }),
    fc.record({
      kind: fc.constant('datatype' as const),
      input: idx,
      datatype: fc.oneof(fc.constantFrom(...DATATYPES), fc.string(), weird),
    }),
    fc.record({
      kind: fc.constant('name' as const),
      input: idx,
      name: fc.oneof(fc.constantFrom(...meta.inputs.map((i) => i.name)), fc.string(), weird),
    }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
    fc.record({
      kind: fc.constant('bytesPrefix' as const),
      value: fc.oneof(fc.nat({ max: 64 }), fc.constantFrom(0xffffffff, 0x7fffffff, 1 << 24)),
    }),
    fc.constant({ kind: 'invalidUtf8' as const }),
    fc.record({ kind: fc.constant('randomHeader' as const), json: fc.json({ maxDepth: 4 }) }),
    fc.record({ kind: fc.constant('dropInput' as const), input: idx }),
    fc.record({ kind: fc.constant('jsonData' as const), input: idx, data: fc.oneof(fc.jsonValue({ maxDepth: 4 }), weird) }),
  );
  return fc.integer({ min: 1, max: 3 }).chain((rows) =>
    fc.record({
      tensors: fc.shuffledSubarray(meta.inputs, { minLength: n, maxLength: n }).chain((specs) =>
        fc.tuple(
          ...specs.map((spec) => {
            const shape = spec.shape.map((d) => (d < 0 ? rows : d));
            const count = shape.reduce((a, b) => a * b, 1);
            return fc.record({
              spec: fc.constant(spec),
              shape: fc.constant(shape),
              values: valuesArb(spec.datatype, count),
              binary: fc.boolean(),
            });
          }),
        ),
      ),
      binaryOutputs: fc.boolean(),
      mutation,
    }),
  );
}

/** The request bytes for a case (the mutation applied). */
function build(meta: Metadata, c: BinaryCase): RawRequest {
  const m = c.mutation;
  const tensors = m.kind === 'dropInput' && c.tensors.length > 1 ? c.tensors.filter((_, i) => i !== m.input) : c.tensors;
  const blobs: Buffer[] = [];
  const inputs = tensors.map((t, i) => {
    const input: Record<string, unknown> = { name: t.spec.name, shape: t.shape, datatype: t.spec.datatype };
    if (t.binary) {
      let blob = tensorBytes(t.spec.datatype, t.values);
      if (t.spec.datatype === 'BYTES' && blob.length >= 4) {
        if (m.kind === 'bytesPrefix') blob.writeUInt32LE(m.value >>> 0, 0);
        if (m.kind === 'invalidUtf8') blob = Buffer.concat([blob, Buffer.from([1, 0, 0, 0, 0xc3])]);
      }
      blobs.push(blob);
      input['parameters'] = { binary_data_size: blob.length };
    } else {
      input['data'] = t.values;
    }
    if (i === (m as { input?: number }).input) {
      if (m.kind === 'binarySize') input['parameters'] = { binary_data_size: m.value };
      if (m.kind === 'shape') input['shape'] = m.shape;
      if (m.kind === 'datatype') input['datatype'] = m.datatype;
      if (m.kind === 'name') input['name'] = m.name;
      if (m.kind === 'jsonData') {
        delete input['parameters'];
        input['data'] = m.data;
      }
    }
    return input;
  });
  const doc = { inputs, parameters: { binary_data_output: c.binaryOutputs } };
  const header = Buffer.from(m.kind === 'randomHeader' ? m.json : JSON.stringify(doc), 'utf8');
  let body = Buffer.concat([header, ...blobs]);
  let headerLength: string | undefined = String(header.length);
  if (m.kind === 'headerLength') headerLength = String(Math.max(0, header.length + m.delta));
  if (m.kind === 'headerLengthText') headerLength = m.text;
  if (m.kind === 'noHeaderLength') headerLength = undefined;
  if (m.kind === 'truncate') body = body.subarray(0, m.at % (body.length + 1));
  if (m.kind === 'append') body = Buffer.concat([body, m.bytes]);
  return {
    method: 'POST',
    path: `/v2/models/${meta.name}/infer`,
    headers: {
      'content-type': 'application/octet-stream',
      ...(headerLength === undefined ? {} : { 'inference-header-content-length': headerLength }),
    },
    body,
  };
}

/** For an unmutated request: what is wrong with the 200 answer, if anything. */
function checkOutputs(meta: Metadata, c: BinaryCase, reply: RawReply): string | undefined {
  if (reply.status !== 200) return `a valid request was answered ${reply.status}`;
  const hl = reply.headers['inference-header-content-length'];
  const { outputs } = decodeBinaryResponse(reply.body, typeof hl === 'string' ? hl : null);
  if (outputs.length !== meta.outputs.length) return `${outputs.length} outputs, the model has ${meta.outputs.length}`;
  const rows = c.tensors[0]?.shape[0];
  for (const o of outputs) {
    if (o.binary !== c.binaryOutputs) return `output ${o.name} binary=${o.binary}, asked binary_data_output=${c.binaryOutputs}`;
    if (o.shape[0] !== rows) return `output ${o.name} has shape [${o.shape.join(',')}], the request had ${rows} rows`;
    if (meta.name !== 'dtypes') continue;
    // dtypes is the identity per datatype: out_<name> == <name>
    const input = c.tensors.find((t) => `out_${t.spec.name}` === o.name);
    if (!input) return `unexpected output ${o.name}`;
    for (let i = 0; i < input.values.length; i++) {
      const want = input.values[i];
      const got = o.data[i];
      const same = typeof want === 'number' && typeof got === 'number' ? want === got || (want === 0 && got === 0) : want === got;
      if (!same) return `output ${o.name}[${i}] is ${JSON.stringify(got)}, input ${input.spec.name}[${i}] was ${JSON.stringify(want)}`;
    }
  }
  return undefined;
}

/** Random request paths on every route, with random (often malformed) percent-escapes. */
function pathArb(meta: Metadata): fc.Arbitrary<RawRequest> {
  const escape = fc.oneof(
    fc.constantFrom('%', '%A', '%zz', '%E0%A4%A', '%C3', '%FF', '%00', '%2F', '%25', '%C0%AF', '..', '%2e%2e'),
    fc.integer({ min: 0, max: 255 }).map((b) => `%${b.toString(16).padStart(2, '0')}`),
  );
  const segment = fc.oneof(
    fc.constant(meta.name),
    fc.constant('1'),
    fc
      .array(fc.oneof(escape, fc.stringMatching(/^[A-Za-z0-9._~:@!$&'()*+,;=-]{1,6}$/)), { minLength: 1, maxLength: 5 })
      .map((p) => p.join('')),
  );
  return fc
    .record({
      template: fc.constantFrom(
        ['GET', '/v2/models/{m}'],
        ['GET', '/v2/models/{m}/ready'],
        ['GET', '/v2/models/{m}/versions/{v}'],
        ['GET', '/v2/models/{m}/versions/{v}/ready'],
        ['POST', '/v2/models/{m}/infer'],
        ['POST', '/v2/models/{m}/versions/{v}/infer'],
        ['GET', '/v1/models/{m}'],
        ['GET', '/v1/models/{m}/metadata'],
        ['GET', '/v1/models/{m}/versions/{v}'],
        ['POST', '/v1/models/{m}:predict'],
        ['POST', '/v1/models/{m}/versions/{v}:predict'],
        ['GET', '/{m}'],
      ),
      m: segment,
      v: segment,
      query: fc.option(
        fc.array(fc.oneof(escape, fc.constantFrom('a=1', '&', '=')), { maxLength: 4 }).map((q) => `?${q.join('')}`),
        { nil: '' },
      ),
    })
    .map(({ template: [method, t], m, v, query }) => ({
      method: method as string,
      path: (t as string).replace('{m}', m).replace('{v}', v) + query,
      headers: { 'content-type': 'application/json' },
      ...(method === 'POST' ? { body: Buffer.from('{"inputs": []}') } : {}),
    }));
}

/** TF-Serving bodies with random nesting (ragged, wide-first, deep) of random leaves. */
function predictArb(meta: Metadata): fc.Arbitrary<RawRequest> {
  const leaf = fc.oneof(fc.integer({ min: -3, max: 300 }), fc.double(), fc.boolean(), fc.string({ maxLength: 4 }), fc.constant(null));
  const { nested } = fc.letrec<{ nested: unknown }>((tie) => ({
    nested: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.array(tie('nested'), { maxLength: 6 })),
  }));
  /** ten wide at the first element of every level, then short: the shape read from the first elements is huge */
  const wideFirst = fc
    .record({ width: fc.integer({ min: 8, max: 12 }), depth: fc.integer({ min: 7, max: 10 }) })
    .map(({ width, depth }) => {
      let v: unknown = 'x';
      for (let d = 0; d < depth; d++) v = [v, ...Array.from({ length: width - 1 }, () => 0)];
      return v;
    });
  const value = fc.oneof(nested, wideFirst);
  const names = meta.inputs.map((i) => i.name);
  // BYTES inputs are decoded into JS arrays of strings: the costliest to size wrongly
  const bytesNames = meta.inputs.filter((i) => i.datatype === 'BYTES').map((i) => i.name);
  return fc
    .record({
      format: fc.constantFrom('instances', 'inputs'),
      keyed: fc.boolean(),
      value,
      name: bytesNames.length > 0 ? fc.oneof(fc.constantFrom(...bytesNames), fc.constantFrom(...names)) : fc.constantFrom(...names),
    })
    .map(({ format, keyed, value: v, name }) => {
      const payload = keyed ? (format === 'instances' ? [{ [name]: v }] : { [name]: v }) : format === 'instances' ? [v] : v;
      return {
        method: 'POST',
        path: `/v1/models/${meta.name}:predict`,
        headers: { 'content-type': 'application/json' },
        body: Buffer.from(JSON.stringify({ [format]: payload })),
      };
    });
}

interface RunTally {
  requests: number;
  findings: string[];
  /** answers by status code ("none": no answer) */
  statuses: Map<string, number>;
}

/** Send each generated request; record every answer that breaks the criteria (deduplicated by problem). */
async function fuzz<T>(
  rt: Runtime,
  suite: string,
  arb: fc.Arbitrary<T>,
  toRequest: (c: T) => RawRequest,
  extraCheck: (c: T, reply: RawReply) => string | undefined,
  tally: RunTally,
  runs: number,
): Promise<void> {
  const seen = new Set<string>();
  await fc.assert(
    fc.asyncProperty(arb, async (c) => {
      if (rt.proc.exitCode !== null || rt.proc.signalCode !== null) return; // reported after the run
      const r = toRequest(c);
      tally.requests++;
      let reply: RawReply | undefined;
      let problem: string | undefined;
      try {
        reply = await sendRaw(rt.port, r);
        tally.statuses.set(String(reply.status), (tally.statuses.get(String(reply.status)) ?? 0) + 1);
        problem = verdict(reply) ?? extraCheck(c, reply);
      } catch (err) {
        problem = `no answer: ${(err as Error).message}`;
        tally.statuses.set('none', (tally.statuses.get('none') ?? 0) + 1);
      }
      if (problem !== undefined) {
        const key = problem.replace(/\d+/g, 'N');
        if (!seen.has(key) && seen.size < 20) {
          seen.add(key);
          tally.findings.push(describeFinding(suite, r, reply, problem));
        }
      }
    }),
    { numRuns: runs, seed: SEED, endOnFailure: true },
  );
}

for (const model of ['dtypes', 'iris']) {
  test(`binary extension, request paths and V1 nesting fuzzed against the real runtime (${model}): no 5xx, every 4xx {"error"}, valid requests exact, no exit, RSS < ${RSS_BOUND_MIB} MiB`, async () => {
    const rt = await startRuntime({ model });
    const rss = sampleRss(rt.proc.pid as number);
    const tally: RunTally = { requests: 0, findings: [], statuses: new Map() };
    try {
      const meta = (await (await fetch(`${rt.url}/v2/models/${model}`)).json()) as Metadata;
      await fuzz(
        rt,
        `binary ${model}`,
        caseArb(meta),
        (c) => build(meta, c),
        (c, reply) => (c.mutation.kind === 'none' ? checkOutputs(meta, c, reply) : undefined),
        tally,
        RUNS,
      );
      await fuzz(
        rt,
        `paths ${model}`,
        pathArb(meta),
        (r) => r,
        () => undefined,
        tally,
        Math.ceil(RUNS / 3),
      );
      await fuzz(
        rt,
        `v1 nesting ${model}`,
        predictArb(meta),
        (r) => r,
        () => undefined,
        tally,
        Math.ceil(RUNS / 3),
      );
      const rssMax = rss.stop();
      const alive = rt.proc.exitCode === null && rt.proc.signalCode === null;
      if (!alive)
        tally.findings.push(
          `### ${model}: the runtime exited (code ${rt.proc.exitCode}, signal ${rt.proc.signalCode})\n${rt.output().slice(-2000)}\n`,
        );
      if (rssMax >= RSS_BOUND_MIB) tally.findings.push(`### ${model}: RSS reached ${rssMax.toFixed(0)} MiB (bound ${RSS_BOUND_MIB} MiB)\n`);
      process.stderr.write(
        `binary/paths/v1 fuzz ${model}: ${tally.requests} requests (seed ${SEED}) ${JSON.stringify(Object.fromEntries(tally.statuses))}, ${tally.findings.length} findings, RSS max ${rssMax.toFixed(0)} MiB\n`,
      );
      recordStats({
        suite: 'binary+paths+v1',
        model,
        requests: tally.requests,
        findings: tally.findings.length,
        rssMaxMiB: Math.round(rssMax),
      });
      recordFindings(tally.findings.join('\n'));
      assert.ok(tally.requests >= RUNS, `only ${tally.requests} requests sent`);
      // unmutated cases (weight 6 of 20) must have reached inference and come back exact
      assert.ok((tally.statuses.get('200') ?? 0) > 0, `no request was answered 200: ${JSON.stringify(Object.fromEntries(tally.statuses))}`);
      assert.deepEqual(tally.findings, [], `findings:\n${tally.findings.join('\n')}`);
    } finally {
      rss.stop();
      await rt.stop();
    }
  });
}
