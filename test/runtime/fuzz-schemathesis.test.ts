/**
 * schemathesis (pinned, test/fuzz/requirements.txt) driven by the runtime's own /openapi.json
 * against the real runtime process, V1 (:predict) and V2 (infer, JSON; the binary extension's
 * header and octet-stream body as the document describes them), for iris and dtypes (every
 * datatype, BYTES included). Pass criteria: no check fails (schema conformance of every answer,
 * test/fuzz/hooks.py: no 5xx except 503 with Retry-After, every 4xx/503 body {"error": "..."}),
 * the process is still running, its RSS stayed under RSS_BOUND_MIB, and the document led
 * schemathesis to requests the model accepted (200 on V1 and V2), not only to 400s.
 *
 * npm test: fixed seed, a few examples per operation (FUZZ_SCHEMATHESIS_EXAMPLES raises it;
 * npm run fuzz does, with a random seed in FUZZ_SEED).
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import {
  answeredByCode,
  fuzzCount,
  provisionSchemathesis,
  recordFindings,
  recordStats,
  RSS_BOUND_MIB,
  runSchemathesis,
  sampleRss,
} from './fuzz.ts';
import { startRuntime } from '@modelship/devcluster/runtime-process';

const EXAMPLES = fuzzCount('FUZZ_SCHEMATHESIS_EXAMPLES', 4);
const PHASES = process.env['FUZZ_SCHEMATHESIS_PHASES'] ?? 'examples,coverage,fuzzing';
const SEED = fuzzCount('FUZZ_SEED', 20261129);

let python = '';
before(
  () => {
    python = provisionSchemathesis();
  },
  { timeout: 900_000 },
);

for (const model of ['iris', 'dtypes']) {
  test(`schemathesis from /openapi.json against the real runtime (${model}): no 5xx, every 4xx {"error"}, no exit, RSS < ${RSS_BOUND_MIB} MiB`, async () => {
    const rt = await startRuntime({ model });
    const pid = rt.proc.pid as number;
    const rss = sampleRss(pid);
    try {
      const result = await runSchemathesis(python, rt.url, { maxExamples: EXAMPLES, phases: PHASES, seed: SEED });
      const rssMax = rss.stop();
      const alive = rt.proc.exitCode === null && rt.proc.signalCode === null;
      const byCode = alive ? await answeredByCode(rt.url) : new Map<string, number>();
      const answered = [...byCode.values()].reduce((a, b) => a + b, 0);
      const findings = result.failures.length + result.errors.length + (alive ? 0 : 1) + (rssMax < RSS_BOUND_MIB ? 0 : 1);
      recordStats({ suite: 'schemathesis', model, requests: result.generated, findings, rssMaxMiB: Math.round(rssMax) });
      process.stderr.write(
        `schemathesis ${model}: ${result.generated} cases (seed ${SEED}, ${EXAMPLES} examples/operation), runtime answered ${answered} ` +
          `V1/V2 requests ${JSON.stringify(Object.fromEntries(byCode))}, RSS max ${rssMax.toFixed(0)} MiB\n`,
      );
      if (result.failures.length + result.errors.length > 0) {
        recordFindings(`### schemathesis ${model} (seed ${SEED})\n\n\`\`\`\n${result.output.slice(-12_000)}\n\`\`\`\n`);
      }
      assert.ok(alive, `the runtime exited (code ${rt.proc.exitCode}, signal ${rt.proc.signalCode}):\n${rt.output().slice(-3000)}`);
      assert.deepEqual(result.failures, [], `schemathesis found failures:\n${result.output.slice(-8000)}`);
      assert.deepEqual(result.errors, [], `schemathesis errors:\n${result.output.slice(-8000)}`);
      assert.equal(result.exitCode, 0, result.output.slice(-8000));
      assert.ok(rssMax < RSS_BOUND_MIB, `RSS reached ${rssMax.toFixed(0)} MiB (bound ${RSS_BOUND_MIB} MiB)`);
      for (const [code, n] of byCode) assert.ok(Number(code) < 500 || code === '503', `the runtime answered ${n} x ${code}`);
      assert.ok(result.generated >= 50, `only ${result.generated} cases generated`);
      // the document describes the model's inputs well enough that some generated requests are valid
      assert.ok((byCode.get('200') ?? 0) > 0, `no generated request was accepted: ${JSON.stringify(Object.fromEntries(byCode))}`);
    } finally {
      rss.stop();
      await rt.stop();
    }
  });
}
