/**
 * README "Call a model": its curl, requests and tritonclient snippets, taken from the README
 * itself and run as written (only localhost:8080, the port-forward's address, becomes the test
 * runtime's), must print iris's answers. A snippet that stops working fails here.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { assertClose, expected, ROOT, startRuntime, type Runtime } from '@modelship/devcluster/runtime-process';
import { provisionPython } from './python-clients.ts';

const IRIS = expected('iris');

function snippets(): { lang: string; code: string }[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('### Call a model');
  const end = readme.indexOf('**Observability.**', start);
  assert.ok(start > 0 && end > start, 'README has a "Call a model" section');
  return [...readme.slice(start, end).matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, code: m[2]! }));
}

let rt: Runtime;
let python = '';
const here = () => `127.0.0.1:${rt.port}`;
before(
  async () => {
    python = provisionPython();
    rt = await startRuntime({ model: 'iris' });
  },
  { timeout: 900_000 },
);
after(async () => rt?.stop());

test('the section: a port-forward, a curl, a requests and a tritonclient snippet', () => {
  const list = snippets();
  assert.deepEqual(
    list.map((s) => s.lang),
    ['sh', 'sh', 'python', 'python'],
  );
  assert.match(list[0]!.code, /^kubectl port-forward svc\/iris 8080:80/);
  for (const s of list.slice(1)) assert.ok(s.code.includes('localhost:8080'), s.code);
});

test('curl: the V2 JSON answer has labels 0 and 2', () => {
  const code = snippets()[1]!.code.replaceAll('localhost:8080', here());
  const answer = JSON.parse(execFileSync('bash', ['-c', code], { encoding: 'utf8' })) as { outputs: { name: string; data: number[] }[] };
  assert.deepEqual(answer.outputs.find((o) => o.name === 'label')?.data, [0, 2]);
});

/** `[labels] [p0 p1 p2]` as Python prints a list (commas) or a numpy array (spaces) */
function checkPrinted(out: string): void {
  const m = /^\[0,? 2\] \[([^\]]+)\]\n$/.exec(out);
  assert.ok(m, out);
  const probs = m[1]!.split(/[\s,]+/).map(Number);
  // iris's first row is examples/models/iris/expected.json's first input row
  assertClose(probs, (IRIS.outputs.find((o) => o.name === 'probabilities')!.data as number[]).slice(0, 3), 1e-4, out);
}

test('requests: prints labels [0, 2] and the first row of probabilities', () => {
  checkPrinted(execFileSync(python, ['-c', snippets()[2]!.code.replaceAll('localhost:8080', here())], { encoding: 'utf8' }));
});

test('tritonclient: prints labels [0 2] and the first row of probabilities (binary tensors)', () => {
  checkPrinted(execFileSync(python, ['-c', snippets()[3]!.code.replaceAll('localhost:8080', here())], { encoding: 'utf8' }));
});
