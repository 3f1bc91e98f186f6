/** The runtime benchmark's pure parts: the tables and ratios (report.ts), answer checks (models.ts), RSS of a process tree (rss.ts). */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { closeTo, concatenatedMatches, v2Matches, type BenchModel } from '../../bench/runtime/models.ts';
import { type Cell, type ModelResult, modelSection, report } from '../../bench/runtime/report.ts';
import { processTree, treeRssMiB } from '../../bench/runtime/rss.ts';

const cell = (rps: number, p99 = 1): Cell => ({ rps, p50: p99 / 2, p99, errors: 0 });

/** mlp (16 MB): runtime best 300 at c=8 (rounds 290/300/310), Python peers best 200 (ort-fastapi, c=32) and 150 */
function mlpResult(): ModelResult {
  return {
    name: 'mlp',
    bytes: 16e6,
    duration: 3,
    peers: [
      { id: 'runtime-batch-on', label: 'runtime', kind: 'runtime', command: 'node runtime' },
      { id: 'raw-node-http', label: 'raw', kind: 'node', command: 'node raw' },
      { id: 'ort-fastapi', label: 'fastapi', kind: 'python', command: 'uvicorn' },
      { id: 'bentoml', label: 'bentoml', kind: 'python', command: 'bentoml' },
    ],
    cells: {
      'runtime-batch-on|1': [cell(100, 4), cell(110, 5), cell(90, 6)],
      'runtime-batch-on|8': [cell(290), cell(300), cell(310)],
      'raw-node-http|1': [cell(120, 3), cell(120, 3), cell(120, 3)],
      'raw-node-http|8': [cell(130), cell(130), cell(130)],
      'ort-fastapi|1': [cell(80, 4.5), cell(80, 4.5), cell(80, 4.5)],
      'ort-fastapi|8': [cell(150), cell(250), cell(200)],
      'bentoml|1': [cell(20, 30), cell(20, 30), cell(20, 30)],
      'bentoml|8': [cell(150), cell(150), cell(150)],
    },
    rss: { 'runtime-batch-on': { idleMiB: 150, peakMiB: 180, processes: 1 } },
    loops: [1, 2, 3].map((r) => [
      { threads: 1, batch: 1, rowsPerSec: 500 + r, runsPerSec: 500, p50Ms: 2, p99Ms: 3 },
      { threads: 2, batch: 8, rowsPerSec: 1000 * r, runsPerSec: 125, p50Ms: 8, p99Ms: 9 },
    ]),
  };
}

test('each runtime variant is set against the best Python peer at that peer’s best concurrency, with min–max beside medians', () => {
  const md = modelSection(mlpResult(), [1, 8], 100).join('\n');
  assert.match(
    md,
    /runtime-batch-on best ÷ best Python peer \(ort-fastapi, c=8\) \| 300 \(c=8\) \/ 200 req\/s \| \*\*1\.50×\*\* \| ≥ 1\.5× \| met/,
  );
  assert.match(md, /\| 300 \(290–310\) \|/);
  assert.match(md, /\| 5\.00 \(4\.00–6\.00\) \|/);
});

test('the ceiling is the best median (threads, batch) cell of the session.run loop; served rows/s are set against it', () => {
  const md = modelSection(mlpResult(), [1, 8], 100).join('\n');
  assert.match(md, /Ceiling: \*\*2,000 rows\/s\*\* \(2 thread\(s\), batch 8\)/);
  assert.match(
    md,
    /runtime-batch-on served rows\/s ÷ session.run ceiling \| 300 \/ 2,000 rows\/s \| \*\*0\.15×\*\* \| ≥ 0\.85× \| NOT met/,
  );
});

test('p99 at c=1 is compared with the lowest Python peer and the raw server; RSS with 2 × model + the runtime’s idle RSS', () => {
  const md = modelSection(mlpResult(), [1, 8], 100).join('\n');
  assert.match(md, /p99 at c=1 vs lowest Python peer's \(ort-fastapi\) \| 5\.00 \/ 4\.50 ms \| 0\.50 ms \| not worse \| NOT met/);
  assert.match(md, /p99 at c=1 − raw node:http's \| 5\.00 − 3\.00 ms \| \+2\.00 ms/);
  // limit: 2 × 16e6 B (30.5 MiB) + 100 MiB = 131 MiB; idle 150 MiB (peak 180 MiB)
  assert.match(md, /RSS idle ≤ 2 × model \+ runtime idle RSS \(iris\) \| 150 MiB \(peak 180\) vs 131 MiB \| 1\.15× \| ≤ 1× \| NOT met/);
  const roomy = modelSection(mlpResult(), [1, 8], 125).join('\n');
  assert.match(roomy, /vs 156 MiB \| 0\.96× \| ≤ 1× \| met/);
});

test('the report states the conditions: rounds, load averages and the total time', () => {
  const md = report({
    cores: 2,
    cpu: 'cpu',
    node: 'v24',
    runs: 3,
    concurrency: [1, 8],
    models: [mlpResult()],
    loadAverages: [3.25, 4],
    totalSeconds: 1234.4,
  });
  assert.match(md, /3 interleaved rounds per model/);
  assert.match(md, /at the end: 3\.3, 4\.0\. Total time: 1234 s/);
  assert.match(md, /- ort-fastapi: `uvicorn`/);
});

const iris = {
  expected: [
    { name: 'probabilities', shape: [1, 3], data: [0.98157287, 0.018427128, 1.4781144e-8] },
    { name: 'label', shape: [1], data: [0] },
  ],
} as unknown as BenchModel;

test('answers are checked against expected.json within 1e-3 of the row’s scale', () => {
  assert.equal(closeTo([1.0005, 2], [1, 2]), true);
  assert.equal(closeTo([1.003, 2], [1, 2]), false);
  assert.equal(closeTo([1], [1, 2]), false);
  const good = {
    outputs: [
      { name: 'label', data: [0] },
      { name: 'probabilities', data: [0.9815, 0.0184, 0] },
    ],
  };
  assert.equal(v2Matches(iris, good), true);
  assert.equal(v2Matches(iris, { outputs: [{ name: 'label', data: [0] }] }), false, 'an output missing');
  assert.equal(v2Matches(iris, { outputs: [{ name: 'label', data: [1] }, good.outputs[1]] }), false, 'a wrong label');
  // BentoML's answer: label then probabilities (outputs by name), one row
  assert.equal(concatenatedMatches(iris, [[0, 0.98157, 0.01843, 0]]), true);
  assert.equal(concatenatedMatches(iris, [[0.98157, 0.01843, 0, 0]]), false);
});

test('RSS is summed over the process and its children', async () => {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
  try {
    await new Promise((r) => child.once('spawn', r));
    const tree = processTree(process.pid);
    assert.ok(tree.includes(process.pid));
    assert.ok(tree.includes(child.pid as number), 'the child is in the tree');
    const alone = treeRssMiB(child.pid as number);
    const all = treeRssMiB(process.pid);
    assert.equal(alone.processes, 1);
    assert.ok(alone.mib > 5, `child RSS ${alone.mib} MiB`);
    assert.ok(all.processes >= 2 && all.mib > alone.mib, `tree ${all.mib} MiB in ${all.processes}`);
  } finally {
    child.kill('SIGKILL');
  }
});
